"""GNN's known mistakes: the sentence a learner sees when their output looks like one; what each
mistake outputs is computed in `key.py`, the answer key (so that a wrong output is named after the
mistakes it matches).

The tests name a mistake with `MISTAKE[id].sentence()`, which carries its tag, e.g. `[no-self-loops]`.
The mutants that commit each mistake (patches of the reference, used by `make check`) are in
`mutants.py`, which is not shipped to a class.
"""

from grader.mistakes import Mistake, by_id

MISTAKES = [
    Mistake(
        "no-self-loops",
        "no self-loops are added; GCN and GAT give every node one self-loop (i, i) so that its own "
        "features take part in its new value: the non-loop edges, then (0, 0), (1, 1), ..., (N-1, N-1).",
    ),
    Mistake(
        "double-self-loop",
        "a second self-loop is added where one already exists; existing self-loops are removed first "
        "and exactly one per node is appended (for GCN weighted by the node's existing loop, the last "
        "one if several, else 1).",
    ),
    Mistake(
        "self-loop-weight-ignored",
        "the added self-loop of a node that already had one gets weight 1; it takes the weight of the "
        "existing self-loop (the last one if several), as PyG's add_remaining_self_loops does.",
    ),
    Mistake(
        "degree-over-sources",
        "degrees are summed over the edges' SOURCES (edge_index[0]); a node's degree is the sum of the "
        "weights of the edges INTO it, scatter_sum(weight, edge_index[1], N) (it differs on directed "
        "graphs).",
    ),
    Mistake(
        "row-normalisation",
        "the weights are normalised by the target's degree only (D^-1 A, a mean); GCN's normalisation "
        "is symmetric: w_st / sqrt(deg_s * deg_t).",
    ),
    Mistake(
        "isolated-nan",
        "a node with nothing to average (no incoming entry, or degree 0) gives 0 / 0 or 1 / sqrt(0), "
        "NaN or inf; scatter_mean is 0 there (divide by the count clamped to at least 1), and gcn_norm "
        "uses deg^-1/2 = 0 where the degree is 0.",
    ),
    Mistake(
        "mean-over-all-nodes",
        "the mean divides by the number of nodes (or of entries); each node's mean divides its sum by "
        "the number of entries that node received: torch.bincount(index, minlength=N).",
    ),
    Mistake(
        "duplicates-dropped",
        "repeated indices keep only one entry (out[index] += src, or a dense adjacency set with "
        "A[s, t] = w); every entry counts, a duplicate edge brings its message twice: index_add, "
        "scatter_add, or index_put with accumulate=True.",
    ),
    Mistake(
        "softmax-not-shifted",
        "the softmax exponentiates the raw scores, and exp overflows to inf (then inf / inf = NaN) for "
        "scores of magnitude 1e4; subtract each group's largest score first.",
    ),
    Mistake(
        "softmax-global-shift",
        "the softmax subtracts ONE maximum over all entries; a group whose scores are far below it "
        "underflows to 0 / 0. Subtract each group's own maximum (scatter_reduce with reduce='amax').",
    ),
    Mistake(
        "softmax-over-all-edges",
        "the softmax runs over all edges (or entries) at once; GAT's attention weights are normalised "
        "over the edges INTO each target node: a softmax per group of edges sharing edge_index[1].",
    ),
    Mistake(
        "leaky-relu-after-softmax",
        "LeakyReLU is applied after the softmax; it acts on the raw score, before it: "
        "alpha = softmax(LeakyReLU(att_src . h_s + att_dst . h_t)).",
    ),
    Mistake(
        "leaky-relu-wrong-slope",
        "LeakyReLU ignores negative_slope (F.leaky_relu's default slope is 0.01; GAT's is 0.2, and the "
        "argument says which): F.leaky_relu(scores, negative_slope).",
    ),
    Mistake(
        "heads-averaged",
        "the heads are averaged although concat=True; concat=True puts them side by side, "
        "(N, heads * out), and only concat=False averages them to (N, out).",
    ),
    Mistake(
        "att-swapped",
        "att_src and att_dst are swapped; the edge (s, t) scores att_src . h_s (the SOURCE, the "
        "neighbour sending the message) plus att_dst . h_t (the TARGET receiving it).",
    ),
    Mistake(
        "messages-reversed",
        "messages flow from target to source; an edge (s, t) = (edge_index[0], edge_index[1]) carries "
        "the source's features x[edge_index[0]] to the target, aggregated by edge_index[1].",
    ),
    Mistake(
        "bias-before-aggregation",
        "the bias is added to the messages before they are summed; it is added once per node, after "
        "the aggregation (it would otherwise be scaled by the node's normalised weights).",
    ),
    Mistake(
        "sage-weights-swapped",
        "lin_l and lin_r are swapped; lin_l (with the bias) maps the neighbours' mean, lin_r (no bias) "
        "the node's own features.",
    ),
]

MISTAKE = by_id(MISTAKES)
