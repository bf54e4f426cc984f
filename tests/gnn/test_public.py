"""GNN, public tests: the scatter operations against plain PyTorch (a one-hot matrix product,
torch.softmax and mean group by group), hand-worked graphs (a path of three nodes, stars, self-loops),
and gcn_norm, GCNConv, SAGEConv and GATConv of PyTorch Geometric (PyG) through golden data: their
outputs and input gradients on the graphs below, stored in data/gnn/golden.json by
`.venv/bin/python data/gnn/make_golden.py` (torch_geometric takes seconds to import; the hidden suite
calls it live). The file's SHA-256 is checked below, and each case's inputs against the digest stored
with it, so that the golden outputs always belong to the inputs this file builds.

Run with `make test topic=gnn`. Learner code is reached only through the `impl` fixture. A graph is
`edge_index` (2, E) long, rows (source, target); messages flow from source to target.
"""

import hashlib
import json
import math
from functools import cache

import pytest
import torch
import torch.nn.functional as F

from grader import paths
from grader.checks import fail
from grader.gradients import call_with_grads
from grader.kit import (
    EXACT,
    F32,
    F64,
    Tol,
    backward,
    call_checking_inputs,
    cases,
    check_output,
    check_outputs,
    dtype_name,
    generator,
    rand,
    randn,
    scale_of,
    shape_name,
)
from tests.gnn.key import (
    gat_conv_mistakes,
    gcn_conv_mistakes,
    gcn_norm_mistakes,
    sage_conv_mistakes,
    scatter_mistakes,
)

# ---------------------------------------------------------------------------------------------------
# Tolerances, with their reasons. `python -m grader margins gnn` measures how much of them the
# reference and the alternatives of mutants.py use.
TOL64 = Tol(
    1e-10,
    1e-12,
    "float64: each value is a sum over one node's edges (at most a few hundred terms) of products of a "
    "few factors; another summation order or a dense matrix product moves it by about 1e-15 relative",
)
TOL32 = Tol(
    2e-5,
    2e-6,
    "float32: the same sums rounded in float32, in whatever order PyG and a correct implementation take "
    "(scatter, dense product, float64 inside) differ by up to about 1e-6 relative; the absolute part is "
    "relative to the output's largest |value|, for sums that cancel; every mistake moves some value by "
    "more than 1e-2",
)


def tol(dtype: torch.dtype):
    """The tolerance of a result in `dtype`, its absolute part scaled by the largest expected |value|."""
    base = TOL64 if dtype == F64 else TOL32
    return lambda expected: base.scaled(scale_of(expected)) if expected.is_floating_point() else EXACT


# ---------------------------------------------------------------------------------------------------
# Graphs

PATH = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # 0 - 1 - 2, both directions
STAR = torch.tensor([[0, 0, 0, 0, 1, 2, 3, 4], [1, 2, 3, 4, 0, 0, 0, 0]])  # centre 0, leaves 1..4, both ways
DIRECTED_STAR = torch.tensor([[1, 2, 3], [0, 0, 0]])  # leaves 1..3 send to the centre 0 only


def random_graph(
    nodes: int,
    edges: int,
    seed,
    *,
    loops: int = 0,
    duplicates: int = 0,
    isolated: int = 0,
    undirected: bool = False,
) -> torch.Tensor:
    """(2, E) long: `edges` random directed edges (no self-loops) between the first `nodes - isolated`
    nodes (each listed twice, once per direction, if `undirected`), then `loops` self-loops on random
    nodes (some nodes may get two), then `duplicates` copies of random edges, all shuffled. The last
    `isolated` nodes have no edge at all."""
    gen = generator(seed)
    connected = nodes - isolated
    columns = torch.empty(2, 0, dtype=torch.long)
    if connected > 1 and edges:
        source = torch.randint(connected, (edges,), generator=gen)
        step = 1 + torch.randint(connected - 1, (edges,), generator=gen)
        columns = torch.stack([source, (source + step) % connected])  # never source == target
        if undirected:
            columns = torch.cat([columns, columns.flip(0)], dim=1)
    if loops and connected:
        at = torch.randint(connected, (loops,), generator=gen)
        columns = torch.cat([columns, torch.stack([at, at])], dim=1)
    if duplicates and columns.shape[1]:
        columns = torch.cat([columns, columns[:, torch.randint(columns.shape[1], (duplicates,), generator=gen)]], dim=1)
    return columns[:, torch.randperm(columns.shape[1], generator=gen)]


def describe_graph(edge_index: torch.Tensor, num_nodes: int) -> str:
    """ "12 nodes, 31 edges (3 self-loops, 2 duplicate edges, 2 isolated nodes)": a graph in words."""
    sources, targets = edge_index
    loops = int((sources == targets).sum())
    pairs = {tuple(p) for p in edge_index.T.tolist()}
    duplicates = edge_index.shape[1] - len(pairs)
    touched = set(edge_index.flatten().tolist())
    isolated = sum(1 for n in range(num_nodes) if n not in touched)
    notes = [f"{loops} self-loops"] * bool(loops) + [f"{duplicates} duplicate edges"] * bool(duplicates)
    notes += [f"{isolated} isolated nodes"] * bool(isolated)
    return f"{num_nodes} nodes, {edge_index.shape[1]} edges" + (f" ({', '.join(notes)})" if notes else "")


# ---------------------------------------------------------------------------------------------------
# The golden cases: each builds the keyword arguments of one call; PyG's outputs and gradients for
# them are in data/gnn/golden.json.

GOLDEN_FILE = paths.ROOT / "data" / "gnn" / "golden.json"
GOLDEN_SHA256 = "d6fe14b2f0a4592a8c23c5d5b40a5af4006f4153b5fff91d951a345e9c175380"

GRAPHS = {
    "mixed": dict(nodes=12, edges=24, loops=3, duplicates=3, isolated=2),
    "undirected": dict(nodes=10, edges=14, undirected=True, loops=2),
    "directed": dict(nodes=9, edges=20),
    "no edges": dict(nodes=4, edges=0),
    "one node": dict(nodes=1, edges=0, loops=1),
}

GOLDEN_CASES = {
    # gcn_norm: graph, dtype of the weights, weights given?, dtype= argument
    "gcn_norm, mixed graph, float64 weights": dict(fn="gcn_norm", graph="mixed", dtype=F64, weights=True),
    "gcn_norm, undirected, no weights (float32)": dict(fn="gcn_norm", graph="undirected", dtype=None),
    "gcn_norm, directed, no weights, dtype=float64": dict(fn="gcn_norm", graph="directed", dtype=F64),
    "gcn_norm, no edges, float32 weights": dict(fn="gcn_norm", graph="no edges", dtype=F32, weights=True),
    "gcn_norm, one node with a self-loop": dict(fn="gcn_norm", graph="one node", dtype=F64, weights=True),
    # the layers: graph, dtype, in and out features, and GAT's heads, concat, slope
    "gcn_conv, mixed graph, float64, edge weights": dict(fn="gcn_conv", graph="mixed", dtype=F64, weights=True),
    "gcn_conv, directed, float32": dict(fn="gcn_conv", graph="directed", dtype=F32),
    "gcn_conv, no edges, float64": dict(fn="gcn_conv", graph="no edges", dtype=F64),
    "sage_conv, mixed graph, float64": dict(fn="sage_conv", graph="mixed", dtype=F64),
    "sage_conv, directed, float32": dict(fn="sage_conv", graph="directed", dtype=F32),
    "gat_conv, mixed graph, float64, 1 head": dict(fn="gat_conv", graph="mixed", dtype=F64, heads=1),
    "gat_conv, undirected, float32, 3 heads, concat": dict(fn="gat_conv", graph="undirected", dtype=F32, heads=3),
    "gat_conv, directed, float64, 2 heads, mean, slope 0.1": dict(
        fn="gat_conv", graph="directed", dtype=F64, heads=2, concat=False, slope=0.1
    ),
    "gat_conv, mixed graph, float32, 4 heads, mean": dict(
        fn="gat_conv", graph="mixed", dtype=F32, heads=4, concat=False
    ),
}

# What each function's gradients are taken with respect to (gcn_norm's and gcn_conv's edge_weight only
# where weights are given).
WRT = {
    "gcn_norm": ("edge_weight",),
    "gcn_conv": ("x", "weight", "bias", "edge_weight"),
    "sage_conv": ("x", "lin_l_weight", "lin_l_bias", "lin_r_weight"),
    "gat_conv": ("x", "weight", "att_src", "att_dst", "bias"),
}


def make_call(spec: dict, seed) -> tuple[dict, tuple[str, ...]]:
    """The keyword arguments of the call a spec describes, and the names of the inputs its gradients
    are taken with respect to. Weights have entries of size 1 / sqrt(fan_in), biases 0.3, attention
    vectors 0.5, edge weights uniform in [0.5, 2)."""
    fn, dtype = spec["fn"], spec["dtype"]
    graph = GRAPHS[spec["graph"]] if isinstance(spec["graph"], str) else spec["graph"]
    num_nodes = graph["nodes"]
    edge_index = random_graph(**graph, seed=f"{seed}/graph")
    weights = spec.get("weights", False)
    weight_dtype = dtype or F32
    edge_weight = rand((edge_index.shape[1],), f"{seed}/w", weight_dtype, 0.5, 2.0) if weights else None
    if fn == "gcn_norm":
        args = dict(edge_index=edge_index, num_nodes=num_nodes, edge_weight=edge_weight)
        args["dtype"] = None if weights else dtype
        return args, WRT[fn] if weights else ()
    features, out = spec.get("features", (5, 3))
    x = randn((num_nodes, features), f"{seed}/x", dtype)
    scale = 1 / math.sqrt(features)
    if fn == "gcn_conv":
        weight, bias = randn((out, features), f"{seed}/W", dtype, scale), randn((out,), f"{seed}/b", dtype, 0.3)
        args = dict(x=x, edge_index=edge_index, weight=weight, bias=bias, edge_weight=edge_weight)
        return args, WRT[fn] if weights else WRT[fn][:-1]
    if fn == "sage_conv":
        args = dict(
            x=x,
            edge_index=edge_index,
            lin_l_weight=randn((out, features), f"{seed}/Wl", dtype, scale),
            lin_l_bias=randn((out,), f"{seed}/bl", dtype, 0.3),
            lin_r_weight=randn((out, features), f"{seed}/Wr", dtype, scale),
        )
        return args, WRT[fn]
    heads, concat = spec.get("heads", 1), spec.get("concat", True)
    args = dict(
        x=x,
        edge_index=edge_index,
        weight=randn((heads * out, features), f"{seed}/W", dtype, scale),
        att_src=randn((1, heads, out), f"{seed}/as", dtype, 0.5),
        att_dst=randn((1, heads, out), f"{seed}/ad", dtype, 0.5),
        bias=randn((heads * out if concat else out,), f"{seed}/b", dtype, 0.3),
        heads=heads,
        concat=concat,
        negative_slope=spec.get("slope", 0.2),
    )
    return args, WRT[fn]


def grad_outs(outputs, seed) -> tuple:
    """dL/d(output) for each floating-point output (None for gcn_norm's edge_index)."""
    return tuple(
        randn(o.shape, f"{seed}/grad{k}", o.dtype) if o.is_floating_point() else None for k, o in enumerate(outputs)
    )


def digest(args: dict) -> str:
    """SHA-256 of a call's inputs (the golden file stores it with each case)."""
    sha = hashlib.sha256()
    for name, value in args.items():
        sha.update(name.encode())
        sha.update(repr(value.tolist() if isinstance(value, torch.Tensor) else value).encode())
    return sha.hexdigest()


# ---------------------------------------------------------------------------------------------------
# The oracle behind the golden data and the hidden tests: PyG itself (imported only when called: the
# public tests read its stored results instead).


def pyg(fn: str, args: dict):
    """PyG's result for `fn(**args)`: gcn_norm (with add_self_loops=True, improved=False) or the layer
    holding the same parameters (through torch.func.functional_call, so gradients reach them)."""
    from torch.func import functional_call
    from torch_geometric.nn import GATConv, GCNConv, SAGEConv
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    if fn == "gcn_norm":
        return gcn_norm(
            args["edge_index"],
            args.get("edge_weight"),
            args["num_nodes"],
            improved=False,
            add_self_loops=True,
            dtype=args.get("dtype"),
        )
    x, edge_index = args["x"], args["edge_index"]
    if fn == "gcn_conv":
        out, features = args["weight"].shape
        layer, params = GCNConv(features, out), {"lin.weight": args["weight"], "bias": args["bias"]}
        return functional_call(layer, params, (x, edge_index, args.get("edge_weight")))
    if fn == "sage_conv":
        out, features = args["lin_l_weight"].shape
        layer = SAGEConv(features, out, aggr="mean", root_weight=True)
        params = {k.replace("_weight", ".weight").replace("_bias", ".bias"): args[k] for k in WRT[fn][1:]}
        return functional_call(layer, params, (x, edge_index))
    heads, out = args["att_src"].shape[1:]
    layer = GATConv(
        x.shape[1],
        out,
        heads=heads,
        concat=args["concat"],
        negative_slope=args["negative_slope"],
        add_self_loops=True,
        dropout=0.0,
    )
    params = {
        "lin.weight": args["weight"],
        "att_src": args["att_src"],
        "att_dst": args["att_dst"],
        "bias": args["bias"],
    }
    return functional_call(layer, params, (x, edge_index))


def pyg_with_grads(fn: str, args: dict, wrt, seed):
    """(PyG's outputs as a tuple, the gradients of sum(output * grad_out) w.r.t. `wrt`, grad_outs)."""
    with torch.no_grad():
        outputs = pyg(fn, args)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    g = grad_outs(outputs, seed)
    if not wrt:
        return outputs, (), g
    names = list(wrt)

    def run(*tensors):
        result = pyg(fn, {**args, **dict(zip(names, tensors))})
        return result[1] if fn == "gcn_norm" else result

    grad_out = g[1] if fn == "gcn_norm" else g[0]
    _, grads = backward(run, [args[n] for n in names], grad_out)
    return outputs, grads, g


# ---------------------------------------------------------------------------------------------------
# The golden data


@cache
def golden() -> dict:
    """{case name: {"inputs_sha256", "outputs", "grads"}} from data/gnn/golden.json, its hash checked."""
    data = GOLDEN_FILE.read_bytes()
    if hashlib.sha256(data).hexdigest() != GOLDEN_SHA256:
        fail(
            f"{GOLDEN_FILE.relative_to(paths.ROOT)} is not the file these tests were written for (its SHA-256 "
            "differs): restore it, or rerun `.venv/bin/python data/gnn/make_golden.py` and update GOLDEN_SHA256."
        )
    return json.loads(data)["cases"]


def stored(entry) -> torch.Tensor | None:
    if entry is None:
        return None
    dtype = getattr(torch, entry["dtype"])
    return torch.tensor(entry["values"], dtype=dtype).reshape(entry["shape"])


def golden_case(name: str):
    """(args, wrt, expected outputs, expected gradients, grad_outs) of a golden case."""
    args, wrt = make_call(GOLDEN_CASES[name], name)
    case = golden()[name]
    if case["inputs_sha256"] != digest(args):
        fail(
            f"golden case {name!r}: the inputs this file builds are not those data/gnn/golden.json was made "
            "from; rerun `.venv/bin/python data/gnn/make_golden.py`."
        )
    outputs = tuple(stored(e) for e in case["outputs"])
    grads = tuple(stored(e) for e in case["grads"])
    return args, wrt, outputs, grads, grad_outs(outputs, name)


# ---------------------------------------------------------------------------------------------------
# Checks

CALLS = {"gcn_norm": "gcn_norm", "gcn_conv": "gcn_conv", "sage_conv": "sage_conv", "gat_conv": "gat_conv"}
PREDICTIONS = {
    "gcn_norm": gcn_norm_mistakes,
    "gcn_conv": gcn_conv_mistakes,
    "sage_conv": sage_conv_mistakes,
    "gat_conv": gat_conv_mistakes,
}


def describe_call(fn: str, args: dict) -> str:
    """A call's inputs in words: the graph, dtypes, shapes and settings."""
    num_nodes = args["num_nodes"] if fn == "gcn_norm" else args["x"].shape[0]
    words = [describe_graph(args["edge_index"], num_nodes)]
    if fn == "gcn_norm":
        w = args.get("edge_weight")
        words.append("no edge_weight" if w is None else f"edge_weight {dtype_name(w.dtype)}")
        if args.get("dtype") is not None:
            words.append(f"dtype={dtype_name(args['dtype'])}")
        return ", ".join(words)
    words.append(f"x {dtype_name(args['x'].dtype)} {shape_name(args['x'].shape)}")
    if fn == "gcn_conv" and args.get("edge_weight") is not None:
        words.append("with edge weights")
    if fn == "gat_conv":
        words.append(f"heads={args['heads']}, concat={args['concat']}, negative_slope={args['negative_slope']:g}")
    return ", ".join(words)


def _predictions(fn: str, args: dict):
    keys = {
        "gcn_norm": ("edge_index", "num_nodes", "edge_weight"),
        "gcn_conv": ("x", "edge_index", "weight", "bias", "edge_weight"),
        "sage_conv": ("x", "edge_index", "lin_l_weight", "lin_l_bias", "lin_r_weight"),
        "gat_conv": ("x", "edge_index", "weight", "att_src", "att_dst", "bias", "heads", "concat", "negative_slope"),
    }[fn]
    return PREDICTIONS[fn](*(args.get(k) for k in keys))


def check_call(impl, fn: str, args: dict, expected: tuple, case: str) -> None:
    """fn(**args) against `expected` (gcn_norm: (edge_index, edge_weight); a layer: (output,))."""
    near = _predictions(fn, args)
    actual = call_checking_inputs(getattr(impl, fn), args, call=CALLS[fn])
    dtype = expected[-1].dtype
    if fn == "gcn_norm":
        check_outputs(
            actual, expected, names=("edge_index", "edge_weight"), of=fn, case=case, tol=tol(dtype), near=near
        )
    else:
        check_output(actual, expected[0], name="output", of=fn, case=case, tol=tol(dtype)(expected[0]), near=near)


def not_compared(fn: str, args: dict, name: str, expected: torch.Tensor) -> torch.Tensor:
    """Where a gradient is not compared: PyG's NaN (edge weights into a node of degree 0: 0 * inf), and
    the weight of a self-loop that a later self-loop of the same node replaces (it has no effect, so its
    gradient is 0, but PyG copies the loop weights with index_put, whose backward hands every duplicate
    the gradient)."""
    skip = expected.isnan()
    if name == "edge_weight":
        seen = set()  # nodes with a self-loop later in the list, walking from the end
        for e, (s, t) in reversed(list(enumerate(args["edge_index"].T.tolist()))):
            if s == t:
                skip[e] |= s in seen
                seen.add(s)
    return skip


def check_call_with_grads(impl, fn: str, args: dict, wrt, expected: tuple, grads: tuple, g: tuple, case: str):
    """The outputs and the gradients of sum(output * grad_out) w.r.t. `wrt` (autograd through your
    function) against PyG's."""
    near = _predictions(fn, args)
    grad_out = g if fn == "gcn_norm" else g[0]
    actual, got = call_with_grads(impl, fn, dict(args), wrt=tuple(wrt), grad_out=grad_out)
    actual = actual if fn == "gcn_norm" else (actual,)
    if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
        check_outputs(actual, expected, names=("edge_index", "edge_weight"), of=fn, case=case, tol=EXACT)
    got_grads, want_grads = [], []
    for name, want in zip(wrt, grads):
        have = got.get(name)
        if isinstance(have, torch.Tensor) and have.shape == want.shape:
            skip = not_compared(fn, args, name, want)
            have, want = have.masked_fill(skip, 0.0), want.masked_fill(skip, 0.0)
        got_grads.append(have)
        want_grads.append(want)
    names = ("edge_index", "edge_weight") if fn == "gcn_norm" else ("output",)
    blank = (None,) * len(wrt)
    check_outputs(
        (*actual, *got_grads),
        (*expected, *want_grads),
        names=(*names, *(f"gradient w.r.t. {n}" for n in wrt)),
        of=fn,
        case=case,
        tol=tol(expected[-1].dtype),
        near=lambda: [(m, (*(p if isinstance(p, tuple) else (p,)), *blank)) for m, p in near()],
    )


# ---------------------------------------------------------------------------------------------------
# scatter_sum, scatter_mean, scatter_softmax

INDEX = torch.tensor([0, 2, 0, 2, 2])  # node 1 and node 3 receive nothing; node 2 three entries


def check_scatter(impl, kind: str, src, index, num_nodes, expected, case: str, tolerance=None):
    fn = f"scatter_{kind}"
    near = scatter_mistakes(kind, src, index, num_nodes)
    args = dict(src=src, index=index, num_nodes=num_nodes)
    actual = call_checking_inputs(getattr(impl, fn), args, call=fn)
    tolerance = tolerance or tol(src.dtype)(expected)
    check_output(actual, expected, name="output", of=fn, case=case, tol=tolerance, near=near)


def test_scatter_sum_by_hand(impl):
    """src [1, 2, 3, 4, 5] into index [0, 2, 0, 2, 2], 4 nodes: [1 + 3, 0, 2 + 4 + 5, 0]."""
    src = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=F64)
    expected = torch.tensor([4.0, 0.0, 11.0, 0.0], dtype=F64)
    check_scatter(impl, "sum", src, INDEX, 4, expected, "by hand: repeated indices, nodes with nothing", EXACT)


def test_scatter_mean_by_hand(impl):
    """The same entries, averaged per node: [4 / 2, 0, 11 / 3, 0] (0, not NaN, where nothing arrives)."""
    src = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 1.0]], dtype=F64)
    expected = torch.tensor([[2.0, 0.0], [0.0, 0.0], [11 / 3, 1.0], [0.0, 0.0]], dtype=F64)
    check_scatter(impl, "mean", src, INDEX, 4, expected, "by hand, (E, 2) rows", TOL64)


def test_scatter_softmax_by_hand(impl):
    """Scores [0, ln 3] at node 0 and [0, 0, ln 2] at node 2: softmaxes [1/4, 3/4] and [1/4, 1/4, 1/2]."""
    src = torch.tensor([0.0, 0.0, math.log(3), 0.0, math.log(2)], dtype=F64)
    expected = torch.tensor([1 / 4, 1 / 4, 3 / 4, 1 / 4, 1 / 2], dtype=F64)
    check_scatter(impl, "softmax", src, INDEX, 4, expected, "by hand", TOL64)


def one_hot_sum(src, index, num_nodes):
    """The oracle for scatter_sum: a (N, E) one-hot matrix times the entries."""
    one_hot = F.one_hot(index, num_nodes).T.to(src.dtype)
    return (one_hot @ src.reshape(src.shape[0], -1)).reshape(num_nodes, *src.shape[1:])


def mean_per_node(src, index, num_nodes):
    """The oracle for scatter_mean: torch.mean of each node's rows (zeros for a node with none)."""
    rows = [src[index == n].mean(0) if (index == n).any() else torch.zeros_like(src[0]) for n in range(num_nodes)]
    return torch.stack(rows)


def softmax_per_node(src, index, num_nodes):
    """The oracle for scatter_softmax: torch.softmax over each node's rows, put back in place."""
    out = torch.zeros_like(src)
    for n in range(num_nodes):
        out = out.index_put((torch.nonzero(index == n)[:, 0],), torch.softmax(src[index == n], dim=0))
    return out


ORACLES = {"sum": one_hot_sum, "mean": mean_per_node, "softmax": softmax_per_node}

SCATTER_CASES = {
    "sum, float32 (40, 3, 2), 9 nodes": ("sum", F32, (40, 3, 2), 9, 1.0),
    "sum, float64 (25,), 30 nodes (most empty)": ("sum", F64, (25,), 30, 1.0),
    "mean, float32 (40, 4), 12 nodes": ("mean", F32, (40, 4), 12, 1.0),
    "mean, float64 (7, 3), 10 nodes": ("mean", F64, (7, 3), 10, 1.0),
    "softmax, float64 (50, 4 heads), 8 nodes": ("softmax", F64, (50, 4), 8, 3.0),
    "softmax, float32 (30,), 6 nodes": ("softmax", F32, (30,), 6, 3.0),
    "softmax, float32 (40, 2), scores of magnitude 1e4": ("softmax", F32, (40, 2), 7, 1e4),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("kind, dtype, shape, num_nodes, scale", cases(SCATTER_CASES))
def test_scatter_against_torch(impl, kind, dtype, shape, num_nodes, scale):
    """scatter_sum, scatter_mean and scatter_softmax against a one-hot product, torch.mean and
    torch.softmax node by node."""
    seed = f"scatter/{kind}/{shape}"
    src = randn(shape, seed, dtype, scale)
    index = torch.randint(num_nodes, (shape[0],), generator=generator(seed + "/index"))
    if scale > 100:  # groups of very different magnitudes: node n's scores around (n - 3) * 1e4
        src = src + ((index - 3) * scale).to(dtype).view(-1, *([1] * (len(shape) - 1)))
    expected = ORACLES[kind](src.double(), index, num_nodes).to(dtype)
    case = f"{dtype_name(dtype)}, src {shape_name(shape)}, {num_nodes} nodes, scores of size {scale:g}"
    check_scatter(
        impl, kind, src, index, num_nodes, expected, case + f" ({ORACLES[kind].__doc__.split(':')[1].strip()})"
    )


@pytest.mark.parametrize("kind", ["mean", "softmax"])
def test_scatter_gradients(impl, kind):
    """Autograd through scatter_mean and scatter_softmax gives the gradients through the torch oracle."""
    src = randn((20, 3), f"scatter-grad/{kind}", F64, 2.0)
    index = torch.randint(6, (20,), generator=generator(f"scatter-grad/{kind}/index"))
    grad_out = randn((6, 3) if kind == "mean" else (20, 3), f"scatter-grad/{kind}/g")
    out, (grad,) = backward(lambda s: ORACLES[kind](s, index, 6), [src], grad_out)
    args = dict(src=src, index=index, num_nodes=6)
    actual, got = call_with_grads(impl, f"scatter_{kind}", args, wrt=("src",), grad_out=grad_out)
    near = scatter_mistakes(kind, src, index, 6)
    check_outputs(
        (actual, got.get("src")),
        (out, grad),
        names=("output", "gradient w.r.t. src"),
        of=f"scatter_{kind}",
        case="float64, src (20, 3), 6 nodes (autograd through the torch oracle)",
        tol=TOL64.scaled(4.0),
        near=lambda: [(m, (p, None)) for m, p in near()],
    )


# ---------------------------------------------------------------------------------------------------
# gcn_norm by hand

S6, S10 = 1 / math.sqrt(6), 1 / math.sqrt(10)

GCN_NORM_BY_HAND = {
    # 0 - 1 - 2 with self-loops: degrees [2, 3, 2]; an edge between degrees 2 and 3 weighs 1 / sqrt(6)
    "path of three nodes": (PATH, 3, None, PATH.tolist(), [S6, S6, S6, S6, 1 / 2, 1 / 3, 1 / 2]),
    # centre of degree 5 (4 leaves + its loop), leaves of degree 2: 1 / sqrt(10) between them
    "star, 4 leaves, both directions": (STAR, 5, None, STAR.tolist(), [S10] * 8 + [1 / 5] + [1 / 2] * 4),
    # leaves 1..3 send to the centre only: degrees over TARGETS are 4 (centre) and 1 (leaves)
    "directed star, leaves to the centre": (
        DIRECTED_STAR,
        4,
        None,
        DIRECTED_STAR.tolist(),
        [1 / 2] * 3 + [1 / 4, 1, 1, 1],
    ),
    # edges (0,1) w 2, (1,1) w 3, (1,1) w 5, (2,0) w 1: node 1 keeps its LAST loop weight 5; degrees
    # [1 + 1, 2 + 5, 1]: weights 2 / sqrt(2 * 7), 1 / sqrt(1 * 2), loops 1/2, 5/7, 1
    "existing self-loops with weights": (
        torch.tensor([[0, 1, 1, 2], [1, 1, 1, 0]]),
        3,
        [2.0, 3.0, 5.0, 1.0],
        [[0, 2], [1, 0]],
        [2 / math.sqrt(14), 1 / math.sqrt(2), 1 / 2, 5 / 7, 1.0],
    ),
    # node 1 receives only its own self-loop, of weight 0: degree 0, so deg^-1/2 is 0 (not inf) and
    # its edges weigh 0 (not inf or NaN); node 0 has degree 1 + 1
    "a node of degree 0": (torch.tensor([[1, 1], [0, 1]]), 2, [1.0, 0.0], [[1], [0]], [0.0, 1 / 2, 0.0]),
}


@pytest.mark.points(2)
@pytest.mark.parametrize("edge_index, num_nodes, weights, kept, expected_weights", cases(GCN_NORM_BY_HAND))
def test_gcn_norm_by_hand(impl, edge_index, num_nodes, weights, kept, expected_weights):
    """gcn_norm on small graphs worked by hand: the non-loop edges in order, then one loop per node."""
    loops = [list(range(num_nodes))] * 2
    expected_index = torch.tensor([kept[0] + loops[0], kept[1] + loops[1]])
    edge_weight = None if weights is None else torch.tensor(weights, dtype=F64)
    expected = (expected_index, torch.tensor(expected_weights, dtype=F64 if weights else F32))
    args = dict(edge_index=edge_index, num_nodes=num_nodes, edge_weight=edge_weight, dtype=None)
    case = describe_graph(edge_index, num_nodes) + (f", edge_weight {weights}" if weights else ", no weights")
    check_call(impl, "gcn_norm", args, expected, case + ", by hand")


# ---------------------------------------------------------------------------------------------------
# The layers by hand


def test_gcn_conv_path_by_hand(impl):
    """GCN on the path 0 - 1 - 2 with x = [1, 2, 3], weight [[2]], bias [0.5]."""
    # With the weights above: out_0 = 2 * (1/2 * 1 + 2 / sqrt(6)) + 0.5, out_1 = 2 * (1 / sqrt(6) + 2/3
    # + 3 / sqrt(6)) + 0.5, out_2 = 2 * (2 / sqrt(6) + 3/2) + 0.5.
    x = torch.tensor([[1.0], [2.0], [3.0]], dtype=F64)
    weight, bias = torch.tensor([[2.0]], dtype=F64), torch.tensor([0.5], dtype=F64)
    expected = torch.tensor(
        [[2 * (0.5 + 2 * S6) + 0.5], [2 * (4 * S6 + 2 / 3) + 0.5], [2 * (2 * S6 + 1.5) + 0.5]], dtype=F64
    )
    args = dict(x=x, edge_index=PATH, weight=weight, bias=bias, edge_weight=None)
    check_call(impl, "gcn_conv", args, (expected,), "path of three nodes, by hand")


def test_sage_conv_star_by_hand(impl):
    """SAGE on the directed star (leaves 1..3 -> centre 0), lin_l = identity, lin_l_bias = [1, 0],
    lin_r = 2 * identity: the centre gets the mean of the leaves + 2 x_0; a leaf, which receives
    nothing, gets [1, 0] + 2 x_leaf."""
    x = torch.tensor([[1.0, 0.0], [2.0, 4.0], [4.0, 2.0], [0.0, 6.0]], dtype=F64)
    eye = torch.eye(2, dtype=F64)
    mean_of_leaves = torch.tensor([2.0, 4.0], dtype=F64)
    expected = 2 * x + torch.tensor([1.0, 0.0], dtype=F64)
    expected[0] = expected[0] + mean_of_leaves
    args = dict(x=x, edge_index=DIRECTED_STAR, lin_l_weight=eye, lin_l_bias=torch.tensor([1.0, 0.0], dtype=F64))
    args["lin_r_weight"] = 2 * eye
    check_call(impl, "sage_conv", args, (expected,), "directed star, by hand")


def test_gat_conv_path_by_hand(impl):
    """GAT on the path 0 - 1 - 2, one head, h = x = [ln 1, ln 2, ln 3], att_src [1], att_dst [0]: an
    edge's score is the source's h (positive: LeakyReLU keeps it), so alpha is proportional to exp(h_s)
    = [1, 2, 3] over the node's sources (its neighbours and itself)."""
    # node 0 hears from 1 and itself: (2 ln 2 + 1 * 0) / 3; node 1 from 0, 2 and itself:
    # (1 * 0 + 3 ln 3 + 2 ln 2) / 6; node 2 from 1 and itself: (2 ln 2 + 3 ln 3) / 5.
    ln2, ln3 = math.log(2), math.log(3)
    x = torch.tensor([[0.0], [ln2], [ln3]], dtype=F64)
    expected = torch.tensor([[2 * ln2 / 3], [(3 * ln3 + 2 * ln2) / 6], [(2 * ln2 + 3 * ln3) / 5]], dtype=F64)
    args = dict(
        x=x,
        edge_index=PATH,
        weight=torch.tensor([[1.0]], dtype=F64),
        att_src=torch.tensor([[[1.0]]], dtype=F64),
        att_dst=torch.tensor([[[0.0]]], dtype=F64),
        bias=torch.tensor([0.0], dtype=F64),
        heads=1,
        concat=True,
        negative_slope=0.2,
    )
    check_call(impl, "gat_conv", args, (expected,), "path of three nodes, by hand")


# ---------------------------------------------------------------------------------------------------
# Against PyG (golden data)


@pytest.mark.points(2)
@pytest.mark.parametrize("name", [n for n, s in GOLDEN_CASES.items() if s["fn"] == "gcn_norm"])
def test_gcn_norm_against_pyg(impl, name):
    """gcn_norm equals PyG's gcn_norm (edges, weights, and the gradient w.r.t. the edge weights)."""
    args, wrt, expected, grads, g = golden_case(name)
    case = f"{name}: {describe_call('gcn_norm', args)} (PyG's gcn_norm, data/gnn/golden.json)"
    if wrt:
        check_call_with_grads(impl, "gcn_norm", args, wrt, expected, grads, g, case)
    else:
        check_call(impl, "gcn_norm", args, expected, case)


@pytest.mark.points(2)
@pytest.mark.parametrize("name", [n for n, s in GOLDEN_CASES.items() if s["fn"] != "gcn_norm"])
def test_layer_against_pyg(impl, name):
    """gcn_conv, sage_conv and gat_conv equal GCNConv, SAGEConv and GATConv holding the same parameters:
    outputs and gradients w.r.t. x and every parameter (and the edge weights)."""
    fn = GOLDEN_CASES[name]["fn"]
    args, wrt, expected, grads, g = golden_case(name)
    module = {"gcn_conv": "GCNConv", "sage_conv": "SAGEConv", "gat_conv": "GATConv"}[fn]
    case = f"{name}: {describe_call(fn, args)} (PyG's {module}, data/gnn/golden.json)"
    check_call_with_grads(impl, fn, args, wrt, expected, grads, g, case)
