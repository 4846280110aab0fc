"""Graph pooling in Keras 3 (``keras.ops`` only): global readouts and hierarchical
pooling (DiffPool, gPool/TopK, SAGPool, gUnpool, Graph U-Net's two-hop augmentation).

Global pools read out one vector per graph, either in disjoint mode (``x``
[N, F] with ``graph_index`` [N]) or dense mode (``x`` [B, N, F] with an
optional ``mask`` [B, N]). Graphs with no nodes read out zeros. In disjoint
mode the number of graphs is ``max(graph_index) + 1`` unless ``num_graphs`` is
passed, which is needed when the *last* graphs of a batch are empty.

TopKPool and SAGPool change the number of nodes, so their outputs have
data-dependent shapes: fine on TensorFlow (eager, ``tf.function``, SavedModel)
and PyTorch, not under ``jax.jit``.
"""

from __future__ import annotations

import fractions

import keras
from keras import ops

from kerasml.graph import ops as gops
from kerasml.graph.checks import check_feature_shape, check_features
from kerasml.graph.conv import GCNConv


def _readout_inputs(layer, x, graph_index, num_graphs):
    """Validate, and give a single graph (no graph_index) the id 0 for every node."""
    gops.check_disjoint(layer.name, x, graph_index=graph_index)
    if graph_index is None:
        return ops.zeros_like(x[:, 0], dtype="int32"), 1
    return graph_index, gops.num_segments_of(graph_index, num_graphs)


def _dense_mask(x, mask):
    if mask is None:
        return ops.ones_like(x[..., :1])
    return ops.expand_dims(ops.cast(mask, x.dtype), -1)


class _GlobalPool(keras.layers.Layer):
    """Call with ``(x, graph_index)`` in disjoint mode or ``(x, mask=mask)`` dense."""

    def call(self, x, graph_index=None, num_graphs=None, mask=None):
        if len(x.shape) == 3:
            return self._dense(x, _dense_mask(x, mask))
        graph_index, num_graphs = _readout_inputs(self, x, graph_index, num_graphs)
        return self._disjoint(x, graph_index, num_graphs)

    def compute_mask(self, x, graph_index=None, num_graphs=None, mask=None):
        return None


_GLOBAL_POOL_DOC = """{title}

    Call arguments:
        x: node features, [N, F] (disjoint mode) or [B, N, F] (dense mode).
        graph_index: [N] int graph id of each node (disjoint mode); None pools all
            nodes as one graph.
        num_graphs: number of graphs B (int or scalar tensor); default
            ``max(graph_index) + 1``.
        mask: [B, N] bool, True = real node (dense mode).

    Returns:
        [B, F]; a graph without nodes gives zeros.

    Example:
        >>> x = np.arange(8, dtype="float32").reshape(4, 2)
        >>> {name}()(x, np.array([0, 0, 1, 1], "int32")).shape
        TensorShape([2, 2])
"""


@keras.saving.register_keras_serializable(package="kerasml")
class GlobalSumPool(_GlobalPool):
    __doc__ = _GLOBAL_POOL_DOC.format(
        title="Sum of each graph's node features (the injective readout of GIN, Xu et al. 2019).",
        name="GlobalSumPool",
    )

    def _disjoint(self, x, graph_index, num_graphs):
        return ops.segment_sum(x, graph_index, num_segments=num_graphs)

    def _dense(self, x, mask):
        return ops.sum(x * mask, axis=1)


@keras.saving.register_keras_serializable(package="kerasml")
class GlobalMeanPool(_GlobalPool):
    __doc__ = _GLOBAL_POOL_DOC.format(
        title="Mean of each graph's node features.", name="GlobalMeanPool"
    )

    def _disjoint(self, x, graph_index, num_graphs):
        return gops.segment_mean(x, graph_index, num_graphs)

    def _dense(self, x, mask):
        return ops.sum(x * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="kerasml")
class GlobalMaxPool(_GlobalPool):
    __doc__ = _GLOBAL_POOL_DOC.format(
        title="Feature-wise max over each graph's nodes.", name="GlobalMaxPool"
    )

    def _disjoint(self, x, graph_index, num_graphs):
        return gops.segment_max(x, graph_index, num_graphs)

    def _dense(self, x, mask):
        lowest = ops.full_like(x, -float("inf"))
        peak = ops.max(ops.where(mask > 0, x, lowest), axis=1)
        return ops.where(ops.sum(mask, axis=1) > 0, peak, ops.zeros_like(peak))


@keras.saving.register_keras_serializable(package="kerasml")
class GlobalAttentionPool(_GlobalPool):
    """Gated attention readout, Li et al. 2016, "Gated Graph Sequence Neural
    Networks" (ICLR), eq. 7 without the outer activation:
    ``out = sum_i sigmoid(x_i W_g + b_g) * (x_i W_f + b_f)``.

    Each node decides, per output feature, how much it contributes.

    Args:
        units: output features.
        kernel_initializer, kernel_regularizer: for both ``W_g`` and ``W_f``.

    Call arguments:
        x: node features, [N, F] (disjoint mode) or [B, N, F] (dense mode).
        graph_index: [N] int graph id of each node (disjoint mode).
        num_graphs: number of graphs; default ``max(graph_index) + 1``.
        mask: [B, N] bool, True = real node (dense mode).

    Returns:
        [B, units]; a graph without nodes gives zeros.

    Example:
        >>> x = np.random.rand(4, 3).astype("float32")
        >>> GlobalAttentionPool(8)(x, np.array([0, 0, 1, 1], "int32")).shape
        TensorShape([2, 8])
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        features = input_shape[-1]
        for name in ("gate", "feature"):
            setattr(self, f"{name}_kernel", self.add_weight(
                name=f"{name}_kernel", shape=(features, self.units),
                initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            ))
            setattr(self, f"{name}_bias", self.add_weight(
                name=f"{name}_bias", shape=(self.units,), initializer="zeros"
            ))

    def _gated(self, x):
        gate = ops.sigmoid(ops.matmul(x, self.gate_kernel) + self.gate_bias)
        return gate * (ops.matmul(x, self.feature_kernel) + self.feature_bias)

    def _disjoint(self, x, graph_index, num_graphs):
        return ops.segment_sum(self._gated(x), graph_index, num_segments=num_graphs)

    def _dense(self, x, mask):
        return ops.sum(self._gated(x) * mask, axis=1)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


@keras.saving.register_keras_serializable(package="kerasml")
class DiffPool(keras.layers.Layer):
    """Differentiable pooling, Ying et al. 2018, "Hierarchical Graph Representation
    Learning with Differentiable Pooling" (NeurIPS). Dense mode.

    A GCN step (``Â = D^-1/2 (A + I) D^-1/2``) gives a soft assignment of the N
    nodes to ``clusters`` clusters and, if ``units`` is set, new embeddings:

    ``S = softmax(Â x W_s + b_s)`` [B, N, K],  ``Z = act(Â x W_e + b_e)`` (or ``x``)
    ``x' = S^T Z`` [B, K, F'],  ``adj' = S^T A S`` [B, K, K].

    Padded nodes (mask False) get an all-zero row of S, so they join no
    cluster. Two auxiliary losses are added with ``add_loss``:

    - link prediction: ``mean_b ||A_b - S_b S_b^T||_F`` (nearby nodes should
      share clusters), times ``link_loss_weight``;
    - entropy: mean over real nodes of ``-sum_k S_ik log S_ik`` (assignments
      should be close to one-hot), times ``entropy_loss_weight``.

    Args:
        clusters: number of clusters K (nodes after pooling).
        units: embedding features F'; None keeps ``Z = x`` (embed with your own
            convolutions before the pool).
        activation: activation of the embedding GCN.
        link_loss_weight, entropy_loss_weight: weights of the auxiliary losses.
        return_assignment: also return S.
        kernel_initializer, kernel_regularizer: for ``W_s`` and ``W_e``.

    Call arguments:
        x: [B, N, F] node features.
        adj: [B, N, N] adjacency, ``adj[b, target, source]``.
        mask: optional [B, N] bool, True = real node.

    Returns:
        ``(x', adj')`` with shapes [B, K, F'] and [B, K, K], or ``(x', adj', S)``
        with ``return_assignment=True``. All K clusters are real: no mask.

    Example:
        >>> x, adj = np.random.rand(2, 6, 3).astype("float32"), np.ones((2, 6, 6), "float32")
        >>> x2, adj2 = DiffPool(clusters=2, units=4)(x, adj)
        >>> x2.shape, adj2.shape
        (TensorShape([2, 2, 4]), TensorShape([2, 2, 2]))
    """

    def __init__(
        self,
        clusters,
        units=None,
        activation=None,
        link_loss_weight=1.0,
        entropy_loss_weight=1.0,
        return_assignment=False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.clusters = int(clusters)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.link_loss_weight = link_loss_weight
        self.entropy_loss_weight = entropy_loss_weight
        self.return_assignment = return_assignment
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def _dense_weights(self, name, features, units):
        kernel = self.add_weight(
            name=f"{name}_kernel", shape=(features, units),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
        )
        bias = self.add_weight(name=f"{name}_bias", shape=(units,), initializer="zeros")
        return kernel, bias

    def build(self, input_shape):
        check_feature_shape(input_shape, f"{self.name}: x", rank=3)
        features = input_shape[-1]
        self.assign_kernel, self.assign_bias = self._dense_weights("assign", features, self.clusters)
        if self.units:
            self.embed_kernel, self.embed_bias = self._dense_weights("embed", features, self.units)

    def call(self, x, adj, mask=None):
        check_features(x, f"{self.name}: x", rank=3)
        if len(adj.shape) != 3:
            raise ValueError(f"{self.name}: adj must be [B, N, N]; got shape {tuple(adj.shape)}.")
        adj = ops.cast(adj, x.dtype)
        node_mask = _dense_mask(x, mask)  # [B, N, 1]
        propagated = ops.matmul(gops.dense_gcn_adjacency(adj, mask, dtype=x.dtype), x)
        logits = ops.matmul(propagated, self.assign_kernel) + self.assign_bias
        # One cluster (the readout level of the paper): every node belongs to it.
        s = ops.ones_like(logits) if self.clusters == 1 else ops.softmax(logits, axis=-1)
        s = s * node_mask
        z = x
        if self.units:
            z = self.activation(ops.matmul(propagated, self.embed_kernel) + self.embed_bias)
        z = z * node_mask
        s_t = ops.transpose(s, (0, 2, 1))
        x_pooled = ops.matmul(s_t, z)
        adj_pooled = ops.matmul(ops.matmul(s_t, adj), s)

        # Losses in float32 whatever the compute dtype (sums of squares overflow float16).
        s32, adj32, mask32 = (ops.cast(t, "float32") for t in (s, adj, node_mask))
        residual = adj32 - ops.matmul(s32, ops.transpose(s32, (0, 2, 1)))
        link_loss = ops.mean(ops.sqrt(ops.sum(ops.square(residual), axis=(1, 2))))
        entropy = -ops.sum(s32 * ops.log(s32 + 1e-12), axis=-1)  # [B, N]
        entropy_loss = ops.sum(entropy) / ops.maximum(ops.sum(mask32), 1.0)
        self.add_loss(self.link_loss_weight * link_loss)
        self.add_loss(self.entropy_loss_weight * entropy_loss)
        if self.return_assignment:
            return x_pooled, adj_pooled, s
        return x_pooled, adj_pooled

    def compute_mask(self, x, adj=None, mask=None):
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "clusters": self.clusters,
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "link_loss_weight": self.link_loss_weight,
            "entropy_loss_weight": self.entropy_loss_weight,
            "return_assignment": self.return_assignment,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


class _TopKSelect(keras.layers.Layer):
    """Shared by TopKPool and SAGPool: keep the best-scoring nodes of each graph."""

    def __init__(self, ratio=0.5, k=None, gate="sigmoid", **kwargs):
        super().__init__(**kwargs)
        if k is not None:
            if int(k) < 1:
                raise ValueError(f"k must be a positive number of nodes; got {k}.")
            ratio = None  # a fixed k replaces the ratio
        elif ratio is None or not 0 < ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1]; got {ratio}.")
        if gate not in ("sigmoid", "tanh"):
            raise ValueError(f"gate must be 'sigmoid' or 'tanh'; got {gate!r}.")
        self.ratio = ratio
        self.k = None if k is None else int(k)
        self.gate = gate

    def _nodes_kept(self, counts):
        """Per graph: min(k, n), or ceil(ratio * n) in exact integer arithmetic
        (in floats, 0.3 * 10 rounds up to 4)."""
        if self.k is not None:
            return ops.minimum(counts, self.k)
        ratio = fractions.Fraction(self.ratio).limit_denominator(10_000)
        return (counts * ratio.numerator + ratio.denominator - 1) // ratio.denominator

    def _select(self, score, x, edge_index, graph_index, edge_weight, num_graphs):
        n = ops.shape(x)[0]
        graph_index, num_graphs = _readout_inputs(self, x, graph_index, num_graphs)
        graph_index = ops.cast(graph_index, "int32")
        counts = ops.segment_sum(ops.ones_like(graph_index), graph_index, num_segments=num_graphs)
        kept = self._nodes_kept(counts)

        # Sort nodes by (graph, descending score) with one argsort on a unique
        # integer key; Keras has no per-segment top-k.
        rank = ops.argsort(ops.argsort(-score))  # 0 = best score overall
        key = ops.cast(graph_index, "int64") * ops.cast(n, "int64") + ops.cast(rank, "int64")
        order = ops.argsort(key)
        sorted_graph = gops.gather(graph_index, order)
        starts = ops.cumsum(counts) - counts
        position = ops.arange(n, dtype="int32") - gops.gather(starts, sorted_graph)
        index = gops.gather(order, ops.nonzero(position < gops.gather(kept, sorted_graph))[0])
        index = ops.cast(index, "int32")

        gate = ops.sigmoid if self.gate == "sigmoid" else ops.tanh
        x_out = gops.gather(x, index) * ops.expand_dims(gate(gops.gather(score, index)), -1)

        # Keep the edges between kept nodes, renumbered: new_id[old] (-1 = dropped).
        kept_count = ops.shape(index)[0]
        new_id = ops.segment_sum(ops.arange(1, kept_count + 1, dtype="int32"), index, n) - 1
        source = gops.gather(new_id, edge_index[0])
        target = gops.gather(new_id, edge_index[1])
        edges = ops.nonzero((source >= 0) & (target >= 0))[0]
        edge_index_out = ops.cast(
            ops.stack([gops.gather(source, edges), gops.gather(target, edges)]), edge_index.dtype
        )
        graph_index_out = gops.gather(graph_index, index)
        if edge_weight is None:
            return x_out, edge_index_out, graph_index_out, index
        return x_out, edge_index_out, gops.gather(edge_weight, edges), graph_index_out, index

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio, "k": self.k, "gate": self.gate}


_TOPK_CALL_DOC = """
    Call arguments:
        x: node features [N, F].
        edge_index: [2, E] int, row 0 = source, row 1 = target.
        graph_index: [N] int graph id per node; None = one graph.
        edge_weight: optional [E] weights, filtered like the edges.
        num_graphs: number of graphs; default ``max(graph_index) + 1``.

    Returns:
        ``(x', edge_index', graph_index', index)``, or
        ``(x', edge_index', edge_weight', graph_index', index)`` when
        ``edge_weight`` is given. ``index`` [N'] holds the kept nodes' ids in the
        input (graph by graph, best score first); pass it to ``GraphUnpool``.
        Edges survive when both ends are kept and are renumbered.
"""


@keras.saving.register_keras_serializable(package="kerasml")
class TopKPool(_TopKSelect):
    __doc__ = """gPool, Gao & Ji 2019, "Graph U-Nets" (ICML).

    Scores ``y = x p / ||p||`` with a learned projection ``p``, keeps the top
    ``ceil(ratio * n)`` (or ``min(k, n)``) nodes of every graph with n nodes
    (at least one node of a non-empty graph; a graph smaller than ``k`` keeps
    all nodes) and gates them, ``x' = x[idx] * sigmoid(y[idx])``, which is
    what lets ``p`` learn.

    Args:
        ratio: fraction of each graph's nodes to keep, in (0, 1].
        k: fixed number of nodes to keep per graph; when set, ``ratio`` is ignored.
        gate: ``"sigmoid"`` (the paper) or ``"tanh"``.
        kernel_initializer: for ``p``.
    """ + _TOPK_CALL_DOC + """
    Example:
        >>> x = np.random.rand(5, 3).astype("float32")
        >>> edge_index = np.array([[0, 1, 2, 3], [1, 2, 3, 4]], "int32")
        >>> graph_index = np.array([0, 0, 0, 1, 1], "int32")
        >>> x2, e2, g2, index = TopKPool(ratio=0.5)(x, edge_index, graph_index)
        >>> x2.shape  # ceil(0.5 * 3) + ceil(0.5 * 2) nodes
        TensorShape([3, 3])
    """

    def __init__(self, ratio=0.5, k=None, gate="sigmoid", kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(ratio=ratio, k=k, gate=gate, **kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        check_feature_shape(input_shape, f"{self.name}: x")
        self.projection = self.add_weight(
            name="projection", shape=(input_shape[-1], 1), initializer=self.kernel_initializer
        )

    def call(self, x, edge_index, graph_index=None, edge_weight=None, num_graphs=None):
        gops.check_disjoint(self.name, x, edge_index, graph_index)
        norm = ops.sqrt(ops.sum(ops.square(self.projection)))
        score = ops.matmul(x, self.projection)[:, 0] / norm
        return self._select(score, x, edge_index, graph_index, edge_weight, num_graphs)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package="kerasml")
class SAGPool(_TopKSelect):
    __doc__ = """Self-attention graph pooling, Lee, Lee & Kang 2019, "Self-Attention
    Graph Pooling" (ICML).

    Like ``TopKPool`` but the score of each node comes from a one-unit graph
    convolution, ``Z = GCNConv(1)(x, edge_index)``, so it depends on the
    neighbourhood as well as on the node's own features; kept nodes are gated
    with ``tanh(Z)`` as in the paper.

    Args:
        ratio: fraction of each graph's nodes to keep, in (0, 1].
        k: fixed number of nodes to keep per graph; when set, ``ratio`` is ignored.
        gate: ``"tanh"`` (the paper) or ``"sigmoid"``.
    """ + _TOPK_CALL_DOC + """
    Example:
        >>> x = np.random.rand(5, 3).astype("float32")
        >>> edge_index = np.array([[0, 1, 2, 3], [1, 2, 3, 4]], "int32")
        >>> x2, e2, g2, index = SAGPool(ratio=0.5)(x, edge_index, np.array([0, 0, 0, 1, 1]))
        >>> int(index.shape[0])
        3
    """

    def __init__(self, ratio=0.5, k=None, gate="tanh", **kwargs):
        super().__init__(ratio=ratio, k=k, gate=gate, **kwargs)
        self.score_conv = GCNConv(1, name="score_conv")

    def build(self, input_shape):
        check_feature_shape(input_shape, f"{self.name}: x")
        self.score_conv.build(input_shape)

    def call(self, x, edge_index, graph_index=None, edge_weight=None, num_graphs=None):
        gops.check_disjoint(self.name, x, edge_index, graph_index)
        score = self.score_conv(x, edge_index, edge_weight)[:, 0]
        return self._select(score, x, edge_index, graph_index, edge_weight, num_graphs)


@keras.saving.register_keras_serializable(package="kerasml")
class TwoHopAugment(keras.layers.Layer):
    """Graph connectivity augmentation, Gao & Ji 2019, "Graph U-Nets" (ICML),
    sec. 3.4: replace the edges by those of ``(A + I)^2`` (self-loops removed)
    before a gPool, so nodes two hops apart stay connected when the node
    between them is dropped. Weights multiply along the two hops and add up
    over the paths.

    Call arguments:
        x: node features [N, F] (only N is used).
        edge_index: [2, E] int, row 0 = source, row 1 = target.
        edge_weight: optional [E] weights (default 1).

    Returns:
        ``(edge_index, edge_weight)`` of the augmented graph.

    Example:
        >>> edge_index = np.array([[0, 1], [1, 2]], "int32")  # 0 -> 1 -> 2
        >>> e2, w2 = TwoHopAugment()(np.zeros((3, 1), "float32"), edge_index)
        >>> e2.numpy().tolist(), w2.numpy().tolist()
        ([[0, 0, 1], [1, 2, 2]], [2.0, 1.0, 2.0])
    """

    def call(self, x, edge_index, edge_weight=None):
        gops.check_disjoint(self.name, x, edge_index)
        return gops.two_hop_edges(edge_index, ops.shape(x)[0], edge_weight)


@keras.saving.register_keras_serializable(package="kerasml")
class GraphUnpool(keras.layers.Layer):
    """gUnpool, Gao & Ji 2019, "Graph U-Nets" (ICML): put pooled node features back
    at their original positions, zeros elsewhere (the inverse of gPool's
    selection, used on the decoder side of a Graph U-Net).

    Call arguments:
        x: pooled node features [N', F].
        index: [N'] positions of the pooled nodes (``TopKPool``'s ``index``).
        like: any tensor whose first dimension is the node count N before
            pooling, typically the skip connection's features.

    Returns:
        [N, F] with ``out[index] = x`` and zero rows for dropped nodes.

    Example:
        >>> GraphUnpool()(np.ones((2, 3), "float32"), np.array([4, 1]), np.zeros((5, 8))).shape
        TensorShape([5, 3])
    """

    def call(self, x, index, like):
        check_features(x, f"{self.name}: x")
        # index holds distinct ids, so a segment sum is a scatter into zeros.
        return ops.segment_sum(x, ops.cast(index, "int32"), num_segments=ops.shape(like)[0])
