"""GNN's answer key (grader/answers.py): the scatter operations, gcn_norm and the three layers as the
textbook computes them (float64, over an edge list), with a switch that commits each known mistake,
so that a wrong output is named after the mistakes it matches. The oracles themselves are PyTorch
(public scatter tests), hand-worked values and PyG (its golden outputs in the public suite, live in
the hidden one); a class release ships this file's results for the public tests, not this file.

The `*_mistakes` functions return a thunk (lazy): (Mistake, predicted outputs) pairs, computed only
once a check has failed, for kit.check_output(s)(near=...). A prediction equal to the right output
is left out: it cannot tell that mistake from a correct answer on this input.
"""

import torch
import torch.nn.functional as F

from grader.answers import recorded
from tests.gnn.mistakes import MISTAKE

F64 = torch.float64

NORM_MISTAKES = [
    "no-self-loops",
    "double-self-loop",
    "self-loop-weight-ignored",
    "degree-over-sources",
    "row-normalisation",
    "isolated-nan",
]
GAT_MISTAKES = [
    "no-self-loops",
    "double-self-loop",
    "softmax-over-all-edges",
    "leaky-relu-after-softmax",
    "leaky-relu-wrong-slope",
    "heads-averaged",
    "att-swapped",
    "messages-reversed",
]


def _d(t):
    return None if t is None else t.detach().to(F64)


def _rows(values, like):
    return values.view(-1, *([1] * (like.dim() - 1)))


def _sum(src, index, n, mistake=None):
    out = src.new_zeros((n, *src.shape[1:]))
    if mistake == "duplicates-dropped":  # out[index] += src: the last entry of each index wins
        out[index] = src
        return out
    return out.index_add(0, index, src)


def _mean(src, index, n, mistake=None):
    total = _sum(src, index, n)
    if mistake == "mean-over-all-nodes":
        return total / n
    count = torch.bincount(index, minlength=n).to(F64)
    return total / _rows(count if mistake == "isolated-nan" else count.clamp(min=1), total)


def _softmax(src, index, n, mistake=None):
    if mistake == "softmax-over-all-edges":
        return torch.softmax(src, dim=0) if src.shape[0] else src.clone()
    if mistake == "softmax-not-shifted":
        shift = torch.zeros_like(src)
    elif mistake == "softmax-global-shift":
        shift = src.max(dim=0, keepdim=True).values.expand_as(src) if src.shape[0] else src
    else:
        low = src.new_full((n, *src.shape[1:]), float("-inf"))
        shift = low.scatter_reduce(0, _rows(index, src).expand_as(src), src, reduce="amax")[index]
    exp = torch.exp(src - shift)
    return exp / _sum(exp, index, n)[index]


def _norm(edge_index, n, edge_weight=None, mistake=None):
    """gcn_norm in float64 with `mistake` (one of NORM_MISTAKES) committed: (edge_index, weights)."""
    source, target = edge_index
    w = torch.ones(source.shape[0], dtype=F64) if edge_weight is None else _d(edge_weight)
    loop = source == target
    nodes = torch.arange(n)
    if mistake == "no-self-loops":
        index, weight = edge_index.clone(), w
    elif mistake == "double-self-loop":
        index, weight = (
            torch.cat([edge_index, torch.stack([nodes, nodes])], 1),
            torch.cat([w, torch.ones(n, dtype=F64)]),
        )
    else:
        loop_weight = torch.ones(n, dtype=F64)
        if mistake != "self-loop-weight-ignored":
            for e in range(source.shape[0]):  # in order: the last loop of a node wins
                if loop[e]:
                    loop_weight[source[e]] = w[e]
        index = torch.cat([edge_index[:, ~loop], torch.stack([nodes, nodes])], 1)
        weight = torch.cat([w[~loop], loop_weight])
    deg = _sum(weight, index[0] if mistake == "degree-over-sources" else index[1], n)
    if mistake == "row-normalisation":
        return index, torch.where(deg[index[1]] > 0, weight / deg[index[1]], 0.0)
    inv = deg.pow(-0.5)
    if mistake != "isolated-nan":
        inv = inv.masked_fill(deg == 0, 0.0)
    return index, inv[index[0]] * weight * inv[index[1]]


def _gcn(x, edge_index, weight, bias, edge_weight=None, mistake=None):
    x, n = _d(x), x.shape[0]
    index, norm = _norm(edge_index, n, edge_weight, mistake if mistake in NORM_MISTAKES else None)
    h = x @ _d(weight).T
    if mistake == "bias-before-aggregation":
        h = h + _d(bias)
    source, target = (index[1], index[0]) if mistake == "messages-reversed" else (index[0], index[1])
    out = _sum(norm[:, None] * h[source], target, n)
    return out if mistake == "bias-before-aggregation" else out + _d(bias)


def _sage(x, edge_index, lin_l_weight, lin_l_bias, lin_r_weight, mistake=None):
    x, n = _d(x), x.shape[0]
    source, target = edge_index
    if mistake == "messages-reversed":
        source, target = target, source
    l_weight, r_weight = _d(lin_l_weight), _d(lin_r_weight)
    if mistake == "sage-weights-swapped":
        l_weight, r_weight = r_weight, l_weight
    mean = _mean(x[source], target, n, mistake)
    return mean @ l_weight.T + _d(lin_l_bias) + x @ r_weight.T


def _gat(x, edge_index, weight, att_src, att_dst, bias, heads, concat=True, negative_slope=0.2, mistake=None):
    x, n, out_channels = _d(x), x.shape[0], att_src.shape[-1]
    h = (x @ _d(weight).T).view(n, heads, out_channels)
    a_src, a_dst = _d(att_src), _d(att_dst)
    if mistake == "att-swapped":
        a_src, a_dst = a_dst, a_src
    score_src, score_dst = (h * a_src).sum(-1), (h * a_dst).sum(-1)
    source, target = edge_index
    nodes = torch.arange(n)
    if mistake == "double-self-loop":
        source, target = torch.cat([source, nodes]), torch.cat([target, nodes])
    elif mistake != "no-self-loops":
        keep = source != target
        source, target = torch.cat([source[keep], nodes]), torch.cat([target[keep], nodes])
    if mistake == "messages-reversed":
        source, target = target, source
    slope = 0.01 if mistake == "leaky-relu-wrong-slope" else negative_slope
    scores = score_src[source] + score_dst[target]
    if mistake != "leaky-relu-after-softmax":
        scores = F.leaky_relu(scores, slope)
    alpha = _softmax(scores, target, n, mistake if mistake == "softmax-over-all-edges" else None)
    if mistake == "leaky-relu-after-softmax":
        alpha = F.leaky_relu(alpha, slope)
    out = _sum(alpha[..., None] * h[source], target, n)
    if concat and mistake != "heads-averaged":
        out = out.reshape(n, heads * out_channels)
    else:
        out = out.mean(1)
    if out.shape[-1] == bias.shape[0]:
        return out + _d(bias)
    return out


def _differing(right, predictions):
    """(Mistake, prediction) for the predictions (tensors or tuples of tensors) that differ from the
    right output."""

    def same(a, b):
        return a.shape == b.shape and torch.equal(a.double().nan_to_num(7.5), b.double().nan_to_num(7.5))

    found = []
    for m, p in predictions:
        ps, rs = (p, right) if isinstance(p, tuple) else ((p,), (right,))
        if not all(same(a, b) for a, b in zip(ps, rs)):
            found.append((MISTAKE[m], p))
    return found


# ---------------------------------------------------------------------------------------------------
# Mistakes' predictions


@recorded(lazy=True)
def scatter_mistakes(kind, src, index, num_nodes):
    """scatter_sum / scatter_mean / scatter_softmax (kind "sum", "mean", "softmax") under their
    mistakes."""
    raw, src = src, _d(src)
    fn = {"sum": _sum, "mean": _mean, "softmax": _softmax}[kind]
    mistakes = {
        "sum": ["duplicates-dropped"],
        "mean": ["isolated-nan", "mean-over-all-nodes", "duplicates-dropped"],
        "softmax": ["softmax-not-shifted", "softmax-global-shift", "softmax-over-all-edges"],
    }[kind]
    right = fn(src, index, num_nodes)
    predictions = []
    for m in mistakes:
        if m in ("softmax-not-shifted", "softmax-global-shift"):  # in src's own dtype: where exp overflows
            predictions.append((m, _softmax(raw.detach(), index, num_nodes, m)))
        elif kind == "mean" and m == "duplicates-dropped":
            predictions.append(
                (
                    m,
                    _sum(src, index, num_nodes, m)
                    / _rows(torch.bincount(index, minlength=num_nodes).clamp(min=1).to(F64), right),
                )
            )
        else:
            predictions.append((m, fn(src, index, num_nodes, m)))
    return _differing(right, predictions)


@recorded(lazy=True)
def gcn_norm_mistakes(edge_index, num_nodes, edge_weight=None):
    """(edge_index, weights) of gcn_norm under NORM_MISTAKES."""
    right = _norm(edge_index, num_nodes, edge_weight)
    return _differing(right, [(m, _norm(edge_index, num_nodes, edge_weight, m)) for m in NORM_MISTAKES])


@recorded(lazy=True)
def gcn_conv_mistakes(x, edge_index, weight, bias, edge_weight=None):
    """gcn_conv's output under the norm's mistakes, messages-reversed and bias-before-aggregation."""
    right = _gcn(x, edge_index, weight, bias, edge_weight)
    extra = ["messages-reversed", "bias-before-aggregation"]
    return _differing(right, [(m, _gcn(x, edge_index, weight, bias, edge_weight, m)) for m in NORM_MISTAKES + extra])


@recorded(lazy=True)
def sage_conv_mistakes(x, edge_index, lin_l_weight, lin_l_bias, lin_r_weight):
    """sage_conv's output under its mistakes."""
    args = (x, edge_index, lin_l_weight, lin_l_bias, lin_r_weight)
    mistakes = ["isolated-nan", "mean-over-all-nodes", "messages-reversed", "sage-weights-swapped"]
    return _differing(_sage(*args), [(m, _sage(*args, mistake=m)) for m in mistakes])


@recorded(lazy=True)
def gat_conv_mistakes(x, edge_index, weight, att_src, att_dst, bias, heads, concat=True, negative_slope=0.2):
    """gat_conv's output under GAT_MISTAKES."""
    args = (x, edge_index, weight, att_src, att_dst, bias, heads, concat, negative_slope)
    return _differing(_gat(*args), [(m, _gat(*args, mistake=m)) for m in GAT_MISTAKES])
