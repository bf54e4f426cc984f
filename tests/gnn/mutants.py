"""Mutants of solutions/gnn.py, one or more per known mistake, and correct alternatives.

`make check` applies each patch to the reference: the suite must fail on every mutant with a
message carrying the mistake's tag, and pass on every alternative. This file quotes the reference,
so like `test_hidden.py` it stays with the project and is not part of a class release.
"""

from grader.mistakes import Alternative, Mutant, Trivial

NORM_EDGES = (
    "    new_index = torch.cat([edge_index[:, ~is_loop], torch.stack([nodes, nodes])], dim=1)\n"
    "    weight = torch.cat([edge_weight[~is_loop], loop_weight])\n"
)
LOOP_WEIGHT = "    loop_weight = torch.cat([edge_weight, edge_weight.new_ones(1)])[last]\n"
DEG = "    deg = scatter_sum(weight, new_index[1], num_nodes)\n"
INV_SQRT = "torch.where(positive, torch.where(positive, deg, 1.0).rsqrt(), 0.0)"
NORM_RETURN = "    return new_index, deg_inv_sqrt[new_index[0]] * weight * deg_inv_sqrt[new_index[1]]\n"
COUNT = "    count = torch.bincount(index, minlength=num_nodes).clamp(min=1).to(src.dtype)\n"
SUM_RETURN = "    return out.index_add(0, index, src)\n"
SOFTMAX_BODY = (
    "    expanded = _per_row(index, src).expand_as(src)\n"
    '    lowest = src.new_full((num_nodes, *src.shape[1:]), float("-inf"))\n'
    '    group_max = lowest.scatter_reduce(0, expanded, src.detach(), reduce="amax")\n'
    "    exp = torch.exp(src - group_max[index])\n"
    "    return exp / scatter_sum(exp, index, num_nodes)[index]\n"
)
EXP = "    exp = torch.exp(src - group_max[index])\n"
GCN_BODY = (
    "    h = x @ weight.T\n"
    "    messages = norm[:, None] * h[new_index[0]]\n"
    "    return scatter_sum(messages, new_index[1], num_nodes) + bias\n"
)
SAGE_BODY = (
    "    source, target = edge_index\n"
    "    mean = scatter_mean(x[source], target, x.shape[0])\n"
    "    return mean @ lin_l_weight.T + lin_l_bias + x @ lin_r_weight.T\n"
)
GAT_LOOPS = "    source, target = torch.cat([source[keep], nodes]), torch.cat([target[keep], nodes])\n"
GAT_SCORES = "    scores = F.leaky_relu(score_src[source] + score_dst[target], negative_slope)  # (E', heads)\n"
GAT_ALPHA = "    alpha = scatter_softmax(scores, target, num_nodes)\n"
GAT_HEADS = "    out = out.reshape(num_nodes, heads * out_channels) if concat else out.mean(dim=1)\n"
GAT_SRC_DST = (
    "    score_src = (h * att_src).sum(dim=-1)  # (N, heads): each node's half-score as a source\n"
    "    score_dst = (h * att_dst).sum(dim=-1)  # ... and as a target\n"
)

MUTANTS = [
    Mutant("no-self-loops", {NORM_EDGES: "    new_index, weight = edge_index, edge_weight\n"}),
    Mutant("no-self-loops", {GAT_LOOPS: ""}, id="no-self-loops-gat"),
    Mutant(
        "double-self-loop",
        {
            NORM_EDGES: NORM_EDGES.replace("edge_index[:, ~is_loop]", "edge_index").replace(
                "edge_weight[~is_loop], loop_weight", "edge_weight, torch.ones_like(loop_weight)"
            )
        },
    ),
    Mutant(
        "double-self-loop", {"    keep = source != target\n": "    keep = source >= 0\n"}, id="double-self-loop-gat"
    ),
    Mutant("self-loop-weight-ignored", {LOOP_WEIGHT: "    loop_weight = edge_weight.new_ones(num_nodes)\n"}),
    Mutant("degree-over-sources", {DEG: DEG.replace("new_index[1]", "new_index[0]")}),
    Mutant(
        "row-normalisation",
        {NORM_RETURN: "    return new_index, weight * deg_inv_sqrt[new_index[1]] ** 2\n"},
    ),
    Mutant("isolated-nan", {COUNT: COUNT.replace(".clamp(min=1)", "")}, id="isolated-nan-mean"),
    Mutant("isolated-nan", {INV_SQRT: "deg.rsqrt()"}, id="isolated-nan-gcn-norm"),
    Mutant("mean-over-all-nodes", {COUNT: "    count = torch.full((num_nodes,), float(num_nodes), dtype=src.dtype)\n"}),
    Mutant("duplicates-dropped", {SUM_RETURN: "    out[index] += src\n    return out\n"}),
    Mutant("softmax-not-shifted", {EXP: "    exp = torch.exp(src)\n"}),
    Mutant("softmax-global-shift", {EXP: "    exp = torch.exp(src - src.detach().max(dim=0).values)\n"}),
    Mutant("softmax-over-all-edges", {GAT_ALPHA: "    alpha = torch.softmax(scores, dim=0)\n"}),
    Mutant(
        "leaky-relu-after-softmax",
        {
            GAT_SCORES: "    scores = score_src[source] + score_dst[target]\n",
            GAT_ALPHA: "    alpha = F.leaky_relu(scatter_softmax(scores, target, num_nodes), negative_slope)\n",
        },
    ),
    Mutant("leaky-relu-wrong-slope", {GAT_SCORES: GAT_SCORES.replace(", negative_slope)", ")")}),
    Mutant(
        "heads-averaged",
        {
            GAT_HEADS: "    out = out.mean(dim=1)\n",
            "    return out + bias\n": "    return out + (bias if bias.shape[0] == out_channels else 0)\n",
        },
    ),
    Mutant(
        "att-swapped",
        {GAT_SRC_DST: GAT_SRC_DST.replace("att_src", "ATT").replace("att_dst", "att_src").replace("ATT", "att_dst")},
    ),
    Mutant(
        "messages-reversed",
        {
            GCN_BODY: GCN_BODY.replace("h[new_index[0]]", "h[new_index[1]]").replace(
                "messages, new_index[1]", "messages, new_index[0]"
            )
        },
    ),
    Mutant(
        "messages-reversed",
        {SAGE_BODY: SAGE_BODY.replace("source, target = edge_index", "target, source = edge_index")},
        id="messages-reversed-sage",
    ),
    Mutant(
        "messages-reversed",
        {GAT_SCORES: "    source, target = target, source\n" + GAT_SCORES},
        id="messages-reversed-gat",
    ),
    Mutant(
        "bias-before-aggregation",
        {
            GCN_BODY: GCN_BODY.replace("h = x @ weight.T", "h = x @ weight.T + bias").replace(
                "num_nodes) + bias", "num_nodes)"
            )
        },
    ),
    Mutant(
        "sage-weights-swapped",
        {
            SAGE_BODY: SAGE_BODY.replace(
                "mean @ lin_l_weight.T + lin_l_bias + x @ lin_r_weight.T",
                "mean @ lin_r_weight.T + lin_l_bias + x @ lin_l_weight.T",
            )
        },
    ),
]

ALTERNATIVES = [
    Alternative(
        "dense-adjacency",
        "gcn_conv and sage_conv through dense (N, N) matrices built with index_put(accumulate=True): the "
        "normalised adjacency times x @ W.T, and the count matrix times x divided by the in-degrees",
        {
            GCN_BODY: (
                "    adjacency = x.new_zeros((num_nodes, num_nodes))\n"
                "    adjacency = adjacency.index_put((new_index[1], new_index[0]), norm, accumulate=True)\n"
                "    return adjacency @ (x @ weight.T) + bias\n"
            ),
            SAGE_BODY: (
                "    source, target = edge_index\n"
                "    n = x.shape[0]\n"
                "    ones = x.new_ones(source.shape)\n"
                "    counts = x.new_zeros((n, n)).index_put((target, source), ones, accumulate=True)\n"
                "    mean = counts @ x / counts.sum(dim=1, keepdim=True).clamp(min=1)\n"
                "    return mean @ lin_l_weight.T + lin_l_bias + x @ lin_r_weight.T\n"
            ),
        },
    ),
    Alternative(
        "float64-scatter-add-logsumexp",
        "scatter_sum with scatter_add over an expanded index, computed in float64 and rounded once; "
        "scatter_softmax as exp(src - max - log(sum exp(src - max))); scatter_mean dividing by counts "
        "from index_add of ones",
        {
            "    out = src.new_zeros((num_nodes, *src.shape[1:]))\n" + SUM_RETURN: (
                "    expanded = _per_row(index, src).expand_as(src)\n"
                "    out = torch.zeros((num_nodes, *src.shape[1:]), dtype=torch.float64, device=src.device)\n"
                "    return out.scatter_add(0, expanded, src.double()).to(src.dtype)\n"
            ),
            COUNT: (
                "    ones = torch.ones(index.shape[0], dtype=src.dtype, device=src.device)\n"
                "    count = torch.zeros(num_nodes, dtype=src.dtype).index_add(0, index, ones).clamp(min=1)\n"
            ),
            EXP + "    return exp / scatter_sum(exp, index, num_nodes)[index]\n": (
                "    shifted = src - group_max[index]\n"
                "    log_sum = torch.log(scatter_sum(torch.exp(shifted), index, num_nodes))\n"
                "    return torch.exp(shifted - log_sum[index])\n"
            ),
        },
    ),
    Alternative(
        "pyg-style-norm-and-per-head-gat",
        "gcn_norm as PyG writes it (loop weights copied with index_put, deg.pow(-0.5) with the infinities "
        "masked to 0), and gat_conv head by head in a Python loop",
        {
            LOOP_WEIGHT: (
                "    loop_weight = edge_weight.new_ones(num_nodes)\n"
                "    loop_weight[source[is_loop]] = edge_weight[is_loop]\n"
            ),
            "    deg_inv_sqrt = " + INV_SQRT + "\n": (
                "    deg_inv_sqrt = deg.pow(-0.5)\n"
                '    deg_inv_sqrt = deg_inv_sqrt.masked_fill(deg_inv_sqrt == float("inf"), 0.0)\n'
            ),
            GAT_SCORES
            + GAT_ALPHA
            + "    out = scatter_sum(alpha[..., None] * h[source], target, num_nodes)  # (N, heads, out)\n": (
                "    per_head = []\n"
                "    for k in range(heads):\n"
                "        scores = F.leaky_relu(score_src[source, k] + score_dst[target, k], negative_slope)\n"
                "        alpha = scatter_softmax(scores, target, num_nodes)\n"
                "        per_head.append(scatter_sum(alpha[:, None] * h[source, k], target, num_nodes))\n"
                "    out = torch.stack(per_head, dim=1)\n"
            ),
        },
    ),
]

TRIVIAL = [
    Trivial(
        "zeros",
        "every function returns zeros of the right shape (gcn_norm: the edges unchanged, weights 0)",
        (
            "return src.new_zeros((num_nodes, *src.shape[1:]))",
            "return src.new_zeros((num_nodes, *src.shape[1:]))",
            "return torch.zeros_like(src)",
            "return edge_index.clone(), torch.zeros(edge_index.shape[1], dtype=dtype or torch.float32)",
            "return x.new_zeros((x.shape[0], weight.shape[0]))",
            "return x.new_zeros((x.shape[0], lin_l_weight.shape[0]))",
            "return x.new_zeros((x.shape[0], bias.shape[0]))",
        ),
    ),
]

COINCIDENCES = {}
