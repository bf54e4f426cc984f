"""Graph neural networks by hand: scatter operations, message passing, and the GCN, GraphSAGE and GAT
layers of PyTorch Geometric (PyG), with PyG's own parameter names.

Graphs are stored as PyG stores them:

    x           (N, F)  node features, one row per node
    edge_index  (2, E)  long; column e is the edge (source, target) = (edge_index[0, e], edge_index[1, e])

Messages flow from SOURCE to TARGET: a node aggregates what its incoming edges bring. An undirected
graph lists every edge twice, once in each direction. Duplicate edges count as separate edges (a
pair listed twice brings its message twice); a self-loop is an edge (i, i).

Message passing is three steps, all vectorised over the edges:

    gather     per edge, the source's features:        x[edge_index[0]]              (E, F)
    message    per edge, something of them:             e.g. weight_e * x[source_e]
    aggregate  per target, a sum, mean or softmax-weighted sum of its incoming messages:
               scatter_sum(messages, edge_index[1], N)                                  (N, F)

The layers (linear maps as nn.Linear: x @ weight.T + bias):

    GCN:   out_t = sum over edges (s, t) of  w_st / sqrt(deg_s * deg_t) * (x_s @ W.T)   + bias,
           with one self-loop per node added, deg_t = sum of the weights of t's incoming edges.
    SAGE:  out_t = mean over edges (s, t) of x_s, through lin_l,  + lin_r of x_t.
    GAT:   per head, alpha_st = softmax over t's incoming edges of
           LeakyReLU(att_src . h_s + att_dst . h_t),  out_t = sum alpha_st * h_s,  h = x @ W.T.

Conventions: results keep the dtype of x (or of src); nothing passed in is modified; everything is
differentiable by autograd (the tests compare gradients with PyG's). `torch_geometric`,
`torch_scatter` and `torch_sparse` may not be used; `index_add`, `scatter_add`, `scatter_reduce`,
`bincount` and `torch.nn.functional` (`F.leaky_relu`) may.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _per_row(values: Tensor, like: Tensor) -> Tensor:
    """(N,) values viewed as (N, 1, ..., 1), to broadcast against `like` of shape (N, ...)."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def scatter_sum(src: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    """out[n] = sum of src[e] over the entries e with index[e] == n.

    Args:
        src: (E, ...), one row per entry (an edge's message).
        index: (E,) long, the node each entry goes to, in [0, num_nodes).
        num_nodes: N, the number of rows of the result (nodes that receive nothing get 0).

    Returns:
        (N, ...) in src's dtype; differentiable w.r.t. src.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def scatter_mean(src: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    """out[n] = the mean of src[e] over the entries e with index[e] == n, and 0 for a node with no
    entries (not 0 / 0 = NaN).

    Args and returns as scatter_sum: src (E, ...), index (E,), result (N, ...) in src's dtype.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def scatter_softmax(src: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    """A softmax over the entries that share an index: out[e] = exp(src[e]) / sum of exp(src[e'])
    over the entries e' with index[e'] == index[e], separately for every trailing position (every
    head of GAT's (E, heads) scores).

    Stable for scores of magnitude 1e4 (exp(1e4) overflows, exp(-1e4) underflows): subtract from
    each entry the largest score OF ITS OWN GROUP first (one maximum over all entries is not enough
    when the groups' scores are far apart). A constant shift per group does not change the result.

    Args:
        src: (E, ...) scores; index: (E,) long, the group (target node) of each entry.
        num_nodes: N, the number of groups.

    Returns:
        (E, ...) in src's dtype: for every group and trailing position, the entries sum to 1.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def gcn_norm(
    edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None, dtype: torch.dtype | None = None
) -> tuple[Tensor, Tensor]:
    """GCN's symmetric normalisation D^-1/2 (A + I) D^-1/2 as edge weights, as PyG's
    `gcn_norm(edge_index, edge_weight, num_nodes, improved=False, add_self_loops=True)`.

    1. Self-loops: the edges that are not self-loops keep their order; after them come exactly one
       self-loop per node, (0, 0), (1, 1), ..., (N-1, N-1), weighted by that node's existing
       self-loop (the LAST one if it has several) or 1 if it has none.
    2. Degrees over TARGETS: deg[t] = sum of the weights of the edges (s, t) into t (its self-loop
       included).
    3. Weights: w_st / sqrt(deg[s] * deg[t]), i.e. deg[s]^-1/2 * w_st * deg[t]^-1/2; a node of degree
       0 (its weights summing to 0) has deg^-1/2 = 0, not infinity, so no weight is inf or NaN.

    Args:
        edge_index: (2, E) long.
        num_nodes: N (nodes without any edge still get their self-loop).
        edge_weight: (E,) non-negative weights, or None for all ones.
        dtype: the weights' dtype when edge_weight is None (None: float32).

    Returns:
        `(edge_index, edge_weight)`: (2, E' ) long and (E',) with E' = (number of non-loop edges) + N,
        the weights in edge_weight's dtype (else `dtype`, else float32); differentiable w.r.t.
        edge_weight.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def gcn_conv(x: Tensor, edge_index: Tensor, weight: Tensor, bias: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    """A graph convolution, as PyG's `GCNConv(in, out)` holding `lin.weight` = weight and `bias`:

        out_t = sum over the edges (s, t) of gcn_norm's weights of  norm_st * (x_s @ weight.T)   + bias

    (the edges and weights of gcn_norm(edge_index, N, edge_weight, dtype=x.dtype): self-loops added,
    symmetric normalisation). The bias is added once per node, after the aggregation.

    Args:
        x: (N, in).  edge_index: (2, E) long.  weight: (out, in).  bias: (out,).
        edge_weight: (E,) or None (all ones).

    Returns:
        (N, out) in x's dtype.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def sage_conv(x: Tensor, edge_index: Tensor, lin_l_weight: Tensor, lin_l_bias: Tensor, lin_r_weight: Tensor) -> Tensor:
    """GraphSAGE with the mean aggregator, as PyG's `SAGEConv(in, out, aggr="mean", root_weight=True)`
    holding `lin_l.weight`, `lin_l.bias` and `lin_r.weight` (lin_r has no bias):

        out_t = lin_l(mean over the edges (s, t) of x_s)  +  lin_r(x_t)

    No self-loops are added (the node's own features come in through lin_r); a node without incoming
    edges has a mean of 0, so its output is lin_l_bias + lin_r(x_t).

    Args:
        x: (N, in).  edge_index: (2, E) long.
        lin_l_weight: (out, in), lin_l_bias: (out,)  (for the neighbours' mean).
        lin_r_weight: (out, in)  (for the node itself).

    Returns:
        (N, out) in x's dtype.
    """
    # YOUR CODE HERE
    raise NotImplementedError


def gat_conv(
    x: Tensor,
    edge_index: Tensor,
    weight: Tensor,
    att_src: Tensor,
    att_dst: Tensor,
    bias: Tensor,
    heads: int,
    concat: bool = True,
    negative_slope: float = 0.2,
) -> Tensor:
    """Graph attention, as PyG's `GATConv(in, out, heads, concat, negative_slope, add_self_loops=True,
    dropout=0.0)` holding `lin.weight` = weight, `att_src`, `att_dst` and `bias`.

    1. h = x @ weight.T, viewed as (N, heads, out): one projection per head.
    2. Self-loops: the edges that are not self-loops, then one self-loop per node (existing
       self-loops are replaced by exactly one per node, as PyG does).
    3. Per edge (s, t) and head k: score = LeakyReLU(att_src[0, k] . h[s, k] + att_dst[0, k] . h[t, k],
       negative_slope), the source's half from att_src, the target's from att_dst.
    4. alpha = the softmax of the scores over the edges INTO each target t (scatter_softmax by
       target), per head; then out[t, k] = sum over those edges of alpha * h[s, k].
    5. concat=True: the heads side by side, (N, heads * out); concat=False: their mean, (N, out).
       Then + bias.

    Args:
        x: (N, in).  edge_index: (2, E) long.
        weight: (heads * out, in).  att_src, att_dst: (1, heads, out).
        bias: (heads * out,) when concat, else (out,).
        heads: the number of heads.  concat: as above.  negative_slope: LeakyReLU's slope for
        negative scores.

    Returns:
        (N, heads * out) if concat else (N, out), in x's dtype.
    """
    # YOUR CODE HERE
    raise NotImplementedError
