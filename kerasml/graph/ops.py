"""Message-passing primitives in ``keras.ops`` (TensorFlow, JAX and PyTorch backends).

Keras has segment reductions but no segment mean, no empty-safe segment max,
no segment softmax and no graph normalisation; these fill the gap. Every
function takes the number of segments explicitly: Keras' own default for
``segment_sum`` counts the *distinct* ids, which is wrong as soon as a node
has no incoming edge.
"""

from __future__ import annotations

from keras import ops

from kerasml.graph.checks import (
    check_edge_index_shape,
    check_features,
    check_graph_index,
    check_node_ids,
    concrete,
)


def gather(x, index):
    """Rows ``x[index]``."""
    return ops.take(x, index, axis=0)


def _per_row(values, like):
    """Reshape [n] to broadcast against ``like`` [n, ...]."""
    return ops.reshape(values, (-1,) + (1,) * (len(like.shape) - 1))


def segment_count(segment_ids, num_segments, dtype="float32"):
    """How many entries each segment has, [num_segments]."""
    return ops.segment_sum(ops.ones_like(segment_ids, dtype=dtype), segment_ids, num_segments)


def segment_mean(data, segment_ids, num_segments):
    """Mean per segment; empty segments give 0 (not NaN)."""
    total = ops.segment_sum(data, segment_ids, num_segments=num_segments)
    count = segment_count(segment_ids, num_segments, total.dtype)
    return total / _per_row(ops.maximum(count, 1.0), total)


def segment_max(data, segment_ids, num_segments):
    """Max per segment; empty segments give 0 (backends return -inf or the lowest float)."""
    result = ops.segment_max(data, segment_ids, num_segments=num_segments)
    count = segment_count(segment_ids, num_segments, result.dtype)
    return ops.where(_per_row(count, result) > 0, result, ops.zeros_like(result))


def segment_softmax(logits, segment_ids, num_segments):
    """Softmax of ``logits`` [E, ...] over the entries sharing a segment id.

    Used for attention over each node's incoming edges. Subtracting the segment
    max keeps ``exp`` finite; a segment with no entries simply owns no output.
    """
    peak = gather(ops.segment_max(logits, segment_ids, num_segments=num_segments), segment_ids)
    e = ops.exp(logits - ops.stop_gradient(peak))
    total = gather(ops.segment_sum(e, segment_ids, num_segments=num_segments), segment_ids)
    return e / total


def add_self_loops(edge_index, num_nodes, edge_weight=None, fill_value=1.0):
    """Append the edge i -> i for every node (after the existing edges)."""
    loops = ops.arange(num_nodes, dtype=edge_index.dtype)
    edge_index = ops.concatenate([edge_index, ops.stack([loops, loops])], axis=1)
    if edge_weight is not None:
        fill = ops.full((num_nodes,), fill_value, dtype=edge_weight.dtype)
        edge_weight = ops.concatenate([edge_weight, fill], axis=0)
    return edge_index, edge_weight


def gcn_edge_norm(edge_index, num_nodes, edge_weight=None, self_loops=True, dtype="float32"):
    """Per-edge coefficients of D^-1/2 (A + I) D^-1/2 (Kipf & Welling 2017).

    ``A[target, source]`` is the edge weight; D is the in-degree (sum of incoming
    weights) including the self-loop. Nodes without any incoming edge and no
    self-loop get coefficient 0 instead of a division by zero.

    Returns:
        ``(source, target, norm)`` with the self-loops appended.
    """
    if edge_weight is None:
        edge_weight = ops.ones_like(edge_index[0], dtype=dtype)
    edge_weight = ops.cast(edge_weight, dtype)
    if self_loops:
        edge_index, edge_weight = add_self_loops(edge_index, num_nodes, edge_weight)
    source, target = edge_index[0], edge_index[1]
    degree = ops.segment_sum(edge_weight, target, num_segments=num_nodes)
    inv_sqrt = ops.where(degree > 0, ops.rsqrt(ops.maximum(degree, 1e-12)), 0.0)
    norm = gather(inv_sqrt, source) * edge_weight * gather(inv_sqrt, target)
    return source, target, norm


def dense_gcn_adjacency(adj, mask=None, self_loops=True, dtype="float32"):
    """D^-1/2 (A + I) D^-1/2 for a padded batch ``adj`` [B, N, N] (rows = targets).

    Padded nodes (mask False) get no self-loop, so they stay disconnected and
    their rows are all zero.
    """
    adj = ops.cast(adj, dtype)
    if self_loops:
        eye = ops.eye(ops.shape(adj)[-1], dtype=adj.dtype)
        if mask is not None:
            eye = eye * ops.expand_dims(ops.cast(mask, adj.dtype), -1)
        adj = adj + eye
    degree = ops.sum(adj, axis=-1)
    inv_sqrt = ops.where(degree > 0, ops.rsqrt(ops.maximum(degree, 1e-12)), 0.0)
    return adj * ops.expand_dims(inv_sqrt, -1) * ops.expand_dims(inv_sqrt, -2)


def check_disjoint(layer, x, edge_index=None, graph_index=None) -> None:
    """Rank checks always, id-range checks on eager calls (see ``checks.concrete``)."""
    check_features(x, f"{layer}: x")
    if edge_index is not None:
        check_edge_index_shape(edge_index, f"{layer}: edge_index")
        value = concrete(edge_index)
        if value is not None and x.shape[0] is not None:
            check_node_ids(value, x.shape[0], f"{layer}: edge_index")
    if graph_index is not None:
        if len(graph_index.shape) != 1:
            raise ValueError(
                f"{layer}: graph_index must have shape [num_nodes]; got {tuple(graph_index.shape)}."
            )
        value = concrete(graph_index)
        if value is not None and x.shape[0] is not None:
            check_graph_index(value, x.shape[0], f"{layer}: graph_index")


def num_segments_of(graph_index, num_graphs=None):
    """``num_graphs`` when given, else max(graph_index) + 1 (0 for no nodes)."""
    if num_graphs is not None:
        return num_graphs
    return ops.cast(ops.max(graph_index, initial=-1), "int32") + 1


def two_hop_edges(edge_index, num_nodes, edge_weight=None):
    """Edges of ``(A + I)^2`` without its diagonal: the graph-power augmentation of
    Graph U-Nets (Gao & Ji 2019, sec. 3.4), so that nodes two hops apart stay
    connected after pooling drops the node between them.

    Keras has no sparse-sparse product, so the square is a join on the middle
    node: every edge a -> j is paired with every edge j -> c (self-loops
    included), and repeated (a, c) pairs are summed. Work and memory grow with
    sum_j (in_degree_j + 1) * (out_degree_j + 1).

    Returns:
        ``(edge_index, edge_weight)`` sorted by (source, target).
    """
    dtype = "float32" if edge_weight is None else edge_weight.dtype
    edge_index, edge_weight = add_self_loops(
        edge_index, num_nodes, ops.ones_like(edge_index[0], dtype=dtype)
        if edge_weight is None else edge_weight,
    )
    source, target = edge_index[0], edge_index[1]
    num_edges = ops.shape(source)[0]
    # Outgoing edges grouped by source node: out_order[out_start[j] + r] is j's r-th.
    out_order = ops.argsort(source)
    out_degree = ops.segment_sum(ops.ones_like(source), source, num_segments=num_nodes)
    out_start = ops.cumsum(out_degree) - out_degree
    # Pair edge e = (a -> j) with each of j's outgoing edges.
    repeats = gather(out_degree, target)
    first = ops.repeat(ops.arange(num_edges, dtype=source.dtype), repeats)
    offset = ops.arange(ops.shape(first)[0], dtype=source.dtype) - ops.repeat(
        ops.cumsum(repeats) - repeats, repeats
    )
    second = gather(out_order, gather(out_start, gather(target, first)) + offset)
    new_source = ops.cast(gather(source, first), "int64")
    new_target = ops.cast(gather(target, second), "int64")
    weight = gather(edge_weight, first) * gather(edge_weight, second)
    # Sum duplicates: sort by a unique (source, target) key, one segment per key.
    key = new_source * ops.cast(num_nodes, "int64") + new_target
    order = ops.argsort(key)
    key, weight = gather(key, order), gather(weight, order)
    is_new = ops.concatenate([ops.ones((1,), "bool"), key[1:] != key[:-1]], axis=0)
    segment = ops.cumsum(ops.cast(is_new, "int32")) - 1
    weight = ops.segment_sum(weight, segment, num_segments=ops.sum(ops.cast(is_new, "int32")))
    key = gather(key, ops.nonzero(is_new)[0])
    new_source, new_target = key // ops.cast(num_nodes, "int64"), key % ops.cast(num_nodes, "int64")
    off_diagonal = ops.nonzero(new_source != new_target)[0]
    edge_index = ops.cast(ops.stack([gather(new_source, off_diagonal), gather(new_target, off_diagonal)]),
                          edge_index.dtype)
    return edge_index, gather(weight, off_diagonal)
