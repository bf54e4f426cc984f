"""GNN, hidden tests: PyTorch Geometric called live (gcn_norm, GCNConv, SAGEConv, GATConv holding the
same parameters): outputs and input gradients in float32 and float64, on graphs with isolated nodes,
existing (and doubled) self-loops, duplicate edges, directed and undirected edges, no edges at all,
one node, and random graphs up to 2,000 nodes; GAT with 1 to 4 heads, concat and mean. Also the
scatter operations on larger and empty inputs.

Not shipped to learners; `make grade` and the instructor's grader run them.
"""

import pytest
import torch

from grader.kit import F32, F64, cases, generator, randn
from tests.gnn.test_public import (
    ORACLES,
    check_call,
    check_call_with_grads,
    check_scatter,
    describe_call,
    make_call,
    pyg_with_grads,
    tol,
)

MODULES = {"gcn_norm": "gcn_norm", "gcn_conv": "GCNConv", "sage_conv": "SAGEConv", "gat_conv": "GATConv"}

GRAPHS = {
    "isolated nodes": dict(nodes=15, edges=20, isolated=5),
    "existing self-loops, some doubled": dict(nodes=8, edges=12, loops=8),
    "duplicate edges": dict(nodes=10, edges=15, duplicates=10),
    "directed": dict(nodes=12, edges=30),
    "undirected": dict(nodes=12, edges=15, undirected=True),
    "no edges": dict(nodes=5, edges=0),
    "one node": dict(nodes=1, edges=0),
    "one node with a self-loop": dict(nodes=1, edges=0, loops=1),
    "random, 300 nodes, undirected": dict(nodes=300, edges=1200, undirected=True, loops=10, isolated=5),
    "random, 2000 nodes": dict(nodes=2000, edges=10000, loops=20, duplicates=50, isolated=30),
}

# One call per (graph, function kind), dtypes and GAT settings rotating over the graphs; the largest
# graph in both dtypes.
KINDS = {
    "gcn_norm, weights": dict(fn="gcn_norm", weights=True),
    "gcn_norm, no weights": dict(fn="gcn_norm"),
    "gcn_conv, weights": dict(fn="gcn_conv", weights=True),
    "gcn_conv": dict(fn="gcn_conv"),
    "sage_conv": dict(fn="sage_conv"),
    "gat_conv": dict(fn="gat_conv"),
}


def _specs():
    specs = {}
    for g, (graph_name, graph) in enumerate(GRAPHS.items()):
        for k, (kind_name, kind) in enumerate(KINDS.items()):
            dtypes = (F32, F64) if graph["nodes"] == 2000 else ((F32, F64)[(g + k) % 2],)
            for dtype in dtypes:
                spec = dict(kind, graph=graph, dtype=dtype)
                words = f"{kind_name}, {graph_name}, {str(dtype)[6:]}"
                if kind["fn"] == "gcn_norm" and not kind.get("weights"):
                    spec["dtype"] = (None, F64)[g % 2]  # float32 by default, or dtype=float64
                    words = f"{kind_name}, {graph_name}, dtype={'float64' if g % 2 else 'None'}"
                if kind["fn"] == "gat_conv":
                    heads, concat = 1 + (g + (dtype == F64)) % 4, g % 3 != 1
                    spec.update(heads=heads, concat=concat, slope=(0.2, 0.1, 0.3)[g % 3])
                    words += f", {heads} heads, {'concat' if concat else 'mean'}"
                specs[words] = spec
    return specs


SPECS = _specs()


@pytest.mark.parametrize("name", list(SPECS))
def test_against_pyg_live(impl, name):
    """Every function against PyG on every kind of graph: outputs and gradients."""
    spec = SPECS[name]
    fn = spec["fn"]
    args, wrt = make_call(spec, f"hidden/{name}")
    expected, grads, g = pyg_with_grads(fn, args, wrt, f"hidden/{name}")
    case = f"{name}: {describe_call(fn, args)} (PyG's {MODULES[fn]}, live)"
    if wrt:
        check_call_with_grads(impl, fn, args, wrt, expected, grads, g, case)
    else:
        check_call(impl, fn, args, expected, case)


GAT_SETTINGS = {
    f"{heads} heads, {'concat' if concat else 'mean'}, {str(dtype)[6:]}": (heads, concat, dtype)
    for heads in (1, 2, 3, 4)
    for concat in (True, False)
    for dtype in (F32, F64)
}


@pytest.mark.parametrize("heads, concat, dtype", cases(GAT_SETTINGS))
def test_gat_heads_against_pyg(impl, heads, concat, dtype):
    """GATConv with 1 to 4 heads, concatenated or averaged, both dtypes, on a graph with self-loops,
    duplicates and isolated nodes."""
    name = f"gat/{heads}/{concat}/{dtype}"
    graph = dict(nodes=25, edges=60, loops=5, duplicates=5, isolated=3)
    spec = dict(fn="gat_conv", graph=graph, dtype=dtype, heads=heads, concat=concat, features=(6, 4), slope=0.15)
    args, wrt = make_call(spec, name)
    expected, grads, g = pyg_with_grads("gat_conv", args, wrt, name)
    case = f"{describe_call('gat_conv', args)} (PyG's GATConv, live)"
    check_call_with_grads(impl, "gat_conv", args, wrt, expected, grads, g, case)


def test_gcn_norm_zero_weights_against_pyg(impl):
    """Edge weights with zeros (nodes of degree 0): weights 0 there, not NaN; PyG's NaN gradients at
    those nodes are not compared."""
    name = "gcn_norm, zero weights"
    args, wrt = make_call(dict(fn="gcn_norm", graph=dict(nodes=10, edges=14, loops=6), dtype=F64, weights=True), name)
    weight = args["edge_weight"].clone()
    weight[::2] = 0.0
    args["edge_weight"] = weight
    expected, grads, g = pyg_with_grads("gcn_norm", args, wrt, name)
    check_call_with_grads(
        impl, "gcn_norm", args, wrt, expected, grads, g, f"{describe_call('gcn_norm', args)}, half the weights 0"
    )


def test_gcn_norm_weight_dtype_wins(impl):
    """float32 edge weights with dtype=float64: the weights keep edge_weight's dtype, as PyG's."""
    args, _ = make_call(dict(fn="gcn_norm", graph=dict(nodes=6, edges=9), dtype=F32, weights=True), "dtype-wins")
    args["dtype"] = F64
    expected, _, _ = pyg_with_grads("gcn_norm", args, (), "dtype-wins")
    check_call(impl, "gcn_norm", args, expected, describe_call("gcn_norm", args))


SCATTER_CASES = {
    "sum, float64 (3000, 4, 2), 500 nodes": ("sum", F64, (3000, 4, 2), 500, 1.0),
    "mean, float32 (3000, 8), 2000 nodes": ("mean", F32, (3000, 8), 2000, 1.0),
    "softmax, float32 (3000, 4), 400 nodes": ("softmax", F32, (3000, 4), 400, 5.0),
    "softmax, float64 (60, 2), groups of magnitude 1e4 far apart": ("softmax", F64, (60, 2), 7, 1e4),
    "softmax, float32 (60,), scores of magnitude 1e4": ("softmax", F32, (60,), 5, 1e4),
}


@pytest.mark.parametrize("kind, dtype, shape, num_nodes, scale", cases(SCATTER_CASES))
def test_scatter_larger(impl, kind, dtype, shape, num_nodes, scale):
    """The scatter operations on larger inputs against the torch oracles."""
    seed = f"hidden-scatter/{kind}/{shape}"
    src = randn(shape, seed, dtype, scale)
    index = torch.randint(num_nodes, (shape[0],), generator=generator(seed + "/index"))
    if scale > 100:
        src = src + ((index - 3) * scale).to(dtype).view(-1, *([1] * (len(shape) - 1)))
    expected = ORACLES[kind](src.double(), index, num_nodes).to(dtype)
    check_scatter(
        impl, kind, src, index, num_nodes, expected, f"{kind}, {str(dtype)[6:]}, src {shape}, {num_nodes} nodes"
    )


@pytest.mark.parametrize("kind", ["sum", "mean"])
def test_scatter_empty(impl, kind):
    """No entries at all: zeros for every node; then a single entry, which lands on its node alone."""
    src, index = torch.zeros(0, 3, dtype=F64), torch.zeros(0, dtype=torch.long)
    check_scatter(impl, kind, src, index, 4, torch.zeros(4, 3, dtype=F64), "no entries, 4 nodes", tol(F64)(src))
    src, index = torch.tensor([[1.0, -2.0, 3.0]], dtype=F64), torch.tensor([2])
    expected = torch.zeros(4, 3, dtype=F64)
    expected[2] = src[0]
    check_scatter(impl, kind, src, index, 4, expected, "one entry, to node 2 of 4", tol(F64)(src))
