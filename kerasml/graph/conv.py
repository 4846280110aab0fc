"""Graph convolutions in Keras 3 (``keras.ops`` only).

Disjoint mode (DESIGN.md): ``x`` [N, F], ``edge_index`` [2, E] with row 0 =
source and row 1 = target; a message flows source -> target, so list both
directions for an undirected graph. A batch of graphs is one big disjoint graph.
In a functional model use ``keras.Input((F,))`` for ``x`` and
``keras.Input((None,), batch_size=2, dtype="int32")`` for ``edge_index``, and
feed whole graphs (``model(inputs)`` or a ``tf.data`` dataset with one graph or
one disjoint batch per element), never ``fit(x=arrays)``, which would slice
nodes and edges into unrelated batches.

``DenseGCNConv`` works on padded batches ``x`` [B, N, F], ``adj`` [B, N, N],
``mask`` [B, N] for the dense poolers (DiffPool).

Id-range checks on ``edge_index`` run on eager calls; inside a compiled
``fit`` only the rank checks run.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasml.graph import ops as gops
from kerasml.graph.checks import check_feature_shape, check_features, check_node_ids, concrete


class _GraphLayer(keras.layers.Layer):
    """Shared arguments: units, activation, bias, initialisers and regularisers."""

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"units must be a positive integer; got {units}.")
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _kernel(self, name, shape):
        return self.add_weight(
            name=name, shape=shape, initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )

    def _bias(self, size):
        if not self.use_bias:
            return None
        return self.add_weight(
            name="bias", shape=(size,), initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
        )

    def _finish(self, out):
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=keras.activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
        )
        return config


@keras.saving.register_keras_serializable(package="kerasml")
class GCNConv(_GraphLayer):
    """Graph convolution, Kipf & Welling 2017, "Semi-Supervised Classification with
    Graph Convolutional Networks" (ICLR).

    ``out = activation(D^-1/2 (A + I) D^-1/2 x W + b)`` where ``A[target, source]``
    is the edge weight (1 by default) and D the in-degree including the
    self-loop. Isolated nodes keep their own transformed features (their only
    neighbour is the self-loop). Self-loops already in ``edge_index`` are kept,
    so such a node counts itself twice, as ``A + I`` says.

    Args:
        units: output features per node.
        add_self_loops: add ``I`` to ``A`` (default True). Without it, nodes with
            no incoming edge output only the bias.
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer: as in ``keras.layers.Dense``.

    Call arguments:
        x: node features [N, F].
        edge_index: [2, E] int, row 0 = source, row 1 = target.
        edge_weight: optional [E] edge weights.

    Returns:
        [N, units] node features.

    Example:
        >>> x = np.random.rand(4, 3).astype("float32")
        >>> edge_index = np.array([[0, 1, 1, 2], [1, 0, 2, 1]], "int32")
        >>> GCNConv(8)(x, edge_index).shape
        TensorShape([4, 8])
    """

    def __init__(self, units, add_self_loops=True, **kwargs):
        super().__init__(units, **kwargs)
        self.add_self_loops = add_self_loops

    def build(self, input_shape):
        check_feature_shape(input_shape, f"{self.name}: x")
        self.kernel = self._kernel("kernel", (input_shape[-1], self.units))
        self.bias = self._bias(self.units)

    def call(self, x, edge_index, edge_weight=None):
        gops.check_disjoint(self.name, x, edge_index)
        n = ops.shape(x)[0]
        h = ops.matmul(x, self.kernel)  # transform first: fewer features to move along edges
        # Degrees in float32: float16 counts stop being exact above 2048.
        source, target, norm = gops.gcn_edge_norm(edge_index, n, edge_weight, self.add_self_loops)
        norm = ops.cast(norm, h.dtype)
        out = ops.segment_sum(gops.gather(h, source) * norm[:, None], target, num_segments=n)
        return self._finish(out)

    def get_config(self):
        return {**super().get_config(), "add_self_loops": self.add_self_loops}


@keras.saving.register_keras_serializable(package="kerasml")
class DenseGCNConv(_GraphLayer):
    """GCN (Kipf & Welling 2017) on a padded batch, for dense pooling (DiffPool).

    ``out = activation(D^-1/2 (A + I) D^-1/2 x W + b)`` per graph, with padded
    nodes given no self-loop and a zero output row.

    Args:
        units: output features per node.
        activation, use_bias, ...: as in ``keras.layers.Dense``.

    Call arguments:
        x: [B, N, F] node features.
        adj: [B, N, N] adjacency, ``adj[b, target, source]`` = edge weight.
        mask: optional [B, N] bool, True for real nodes.

    Returns:
        [B, N, units]; the mask propagates.

    Example:
        >>> x, adj = np.ones((2, 5, 3), "float32"), np.zeros((2, 5, 5), "float32")
        >>> DenseGCNConv(4)(x, adj).shape
        TensorShape([2, 5, 4])
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        check_feature_shape(input_shape, f"{self.name}: x", rank=3)
        self.kernel = self._kernel("kernel", (input_shape[-1], self.units))
        self.bias = self._bias(self.units)

    def call(self, x, adj, mask=None):
        check_features(x, f"{self.name}: x", rank=3)
        if len(adj.shape) != 3:
            raise ValueError(f"{self.name}: adj must be [B, N, N]; got shape {tuple(adj.shape)}.")
        norm_adj = gops.dense_gcn_adjacency(adj, mask, dtype=x.dtype)
        out = self._finish(ops.matmul(norm_adj, ops.matmul(x, self.kernel)))
        if mask is not None:
            out = out * ops.expand_dims(ops.cast(mask, out.dtype), -1)
        return out

    def compute_mask(self, x, adj=None, mask=None):
        return mask


@keras.saving.register_keras_serializable(package="kerasml")
class GraphSAGEConv(_GraphLayer):
    """GraphSAGE convolution, Hamilton, Ying & Leskovec 2017, "Inductive
    Representation Learning on Large Graphs" (NeurIPS).

    ``out = activation(x_i W_self + agg_{j -> i}(x_j) W_neigh + b)``, optionally
    L2-normalised per node. This is the paper's ``W [x_i || agg]`` with ``W``
    split in two. Aggregators:

    - ``"mean"``: mean of the in-neighbours' features.
    - ``"max"``: the pooling aggregator, ``max_j relu(x_j W_pool + b_pool)``.

    A node without in-neighbours aggregates zeros (never -inf or NaN).

    Args:
        units: output features per node.
        aggregator: ``"mean"`` or ``"max"``.
        normalize: L2-normalise each output row (after the activation, as in
            the paper's Algorithm 1).
        pool_units: width of the max-pool aggregator's hidden layer (default:
            input features).
        activation, use_bias, ...: as in ``keras.layers.Dense``.

    Call arguments:
        x: node features [N, F].
        edge_index: [2, E] int, row 0 = source, row 1 = target.

    Returns:
        [N, units] node features.

    Example:
        >>> x = np.random.rand(4, 3).astype("float32")
        >>> edge_index = np.array([[0, 1, 1, 2], [1, 0, 2, 1]], "int32")
        >>> GraphSAGEConv(8, aggregator="max", normalize=True)(x, edge_index).shape
        TensorShape([4, 8])
    """

    def __init__(self, units, aggregator="mean", normalize=False, pool_units=None, **kwargs):
        super().__init__(units, **kwargs)
        if aggregator not in ("mean", "max"):
            raise ValueError(f"aggregator must be 'mean' or 'max'; got {aggregator!r}.")
        self.aggregator = aggregator
        self.normalize = normalize
        self.pool_units = pool_units

    def build(self, input_shape):
        check_feature_shape(input_shape, f"{self.name}: x")
        features = input_shape[-1]
        neighbour_features = features
        if self.aggregator == "max":
            neighbour_features = self.pool_units or features
            self.pool_kernel = self._kernel("pool_kernel", (features, neighbour_features))
            self.pool_bias = self.add_weight(
                name="pool_bias", shape=(neighbour_features,), initializer="zeros"
            )
        self.self_kernel = self._kernel("self_kernel", (features, self.units))
        self.neighbour_kernel = self._kernel("neighbour_kernel", (neighbour_features, self.units))
        self.bias = self._bias(self.units)

    def call(self, x, edge_index):
        gops.check_disjoint(self.name, x, edge_index)
        n = ops.shape(x)[0]
        source, target = edge_index[0], edge_index[1]
        if self.aggregator == "mean":
            neighbours = gops.segment_mean(gops.gather(x, source), target, n)
        else:
            hidden = ops.relu(ops.matmul(x, self.pool_kernel) + self.pool_bias)
            neighbours = gops.segment_max(gops.gather(hidden, source), target, n)
        out = ops.matmul(x, self.self_kernel) + ops.matmul(neighbours, self.neighbour_kernel)
        out = self._finish(out)
        if self.normalize:
            norm = ops.sqrt(ops.sum(ops.square(out), axis=-1, keepdims=True))
            out = out / ops.maximum(norm, 1e-12)
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "aggregator": self.aggregator,
            "normalize": self.normalize,
            "pool_units": self.pool_units,
        }


@keras.saving.register_keras_serializable(package="kerasml")
class GATConv(_GraphLayer):
    """Graph attention, Velickovic et al. 2018, "Graph Attention Networks" (ICLR).

    Per head ``k``: ``h = x W_k``; for an edge j -> i,
    ``e_ij = LeakyReLU(a_k^T [h_i || h_j])`` and ``alpha_ij = softmax_j(e_ij)``
    over the *incoming* edges of i (its self-loop included by default);
    ``out_i = sum_j alpha_ij h_j``. Heads are concatenated (hidden layers) or
    averaged (the output layer in the paper).

    Args:
        units: output features per head.
        heads: number of attention heads.
        concat_heads: concatenate heads to ``heads * units`` features (True) or
            average them to ``units`` (False).
        negative_slope: slope of the LeakyReLU on the attention logits.
        attention_dropout: dropout rate on the attention coefficients (training).
        add_self_loops: let each node attend to itself.
        activation, use_bias, ...: as in ``keras.layers.Dense``.

    Call arguments:
        x: node features [N, F].
        edge_index: [2, E] int, row 0 = source, row 1 = target.
        training: enables attention dropout.
        return_attention_scores: also return the coefficients.

    Returns:
        [N, heads * units] (concat) or [N, units]; with
        ``return_attention_scores=True`` a tuple ``(out, alpha)`` where ``alpha``
        [E (+ N), heads] follows ``edge_index``'s order, then the self-loops of
        nodes 0..N-1. A node with no incoming edge (and no self-loop) receives
        no attention and outputs only the bias.

    Example:
        >>> x = np.random.rand(4, 3).astype("float32")
        >>> edge_index = np.array([[0, 1, 1, 2], [1, 0, 2, 1]], "int32")
        >>> GATConv(8, heads=2)(x, edge_index).shape
        TensorShape([4, 16])
    """

    def __init__(
        self,
        units,
        heads=1,
        concat_heads=True,
        negative_slope=0.2,
        attention_dropout=0.0,
        add_self_loops=True,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.heads = int(heads)
        self.concat_heads = concat_heads
        self.negative_slope = negative_slope
        self.attention_dropout = attention_dropout
        self.add_self_loops = add_self_loops
        self.dropout = keras.layers.Dropout(attention_dropout)

    def build(self, input_shape):
        check_feature_shape(input_shape, f"{self.name}: x")
        self.kernel = self._kernel("kernel", (input_shape[-1], self.heads * self.units))
        self.attention_source = self._kernel("attention_source", (self.heads, self.units))
        self.attention_target = self._kernel("attention_target", (self.heads, self.units))
        self.bias = self._bias(self.heads * self.units if self.concat_heads else self.units)

    def call(self, x, edge_index, training=None, return_attention_scores=False):
        gops.check_disjoint(self.name, x, edge_index)
        n = ops.shape(x)[0]
        if self.add_self_loops:
            edge_index, _ = gops.add_self_loops(edge_index, n)
        source, target = edge_index[0], edge_index[1]
        h = ops.reshape(ops.matmul(x, self.kernel), (-1, self.heads, self.units))
        # a^T [h_i || h_j] = a_target . h_i + a_source . h_j: score nodes once, not edges.
        score_source = ops.sum(h * self.attention_source, axis=-1)  # [N, heads]
        score_target = ops.sum(h * self.attention_target, axis=-1)
        logits = gops.gather(score_source, source) + gops.gather(score_target, target)
        logits = ops.leaky_relu(logits, negative_slope=self.negative_slope)
        alpha = gops.segment_softmax(logits, target, n)  # [E, heads]
        weights = self.dropout(alpha, training=training)
        messages = gops.gather(h, source) * ops.expand_dims(weights, -1)
        out = ops.segment_sum(messages, target, num_segments=n)  # [N, heads, units]
        if self.concat_heads:
            out = ops.reshape(out, (-1, self.heads * self.units))
        else:
            out = ops.mean(out, axis=1)
        out = self._finish(out)
        return (out, alpha) if return_attention_scores else out

    def get_config(self):
        return {
            **super().get_config(),
            "heads": self.heads,
            "concat_heads": self.concat_heads,
            "negative_slope": self.negative_slope,
            "attention_dropout": self.attention_dropout,
            "add_self_loops": self.add_self_loops,
        }


@keras.saving.register_keras_serializable(package="kerasml")
class RelationalGraphConv(_GraphLayer):
    """Relational graph convolution (R-GCN), Schlichtkrull et al. 2018, "Modeling
    Relational Data with Graph Convolutional Networks" (ESWC); the encoder of
    Decagon (Zitnik et al. 2018, polypharmacy side effects).

    ``out_i = activation(x_i W_0 + sum_r sum_{j in N_r(i)} c_{i,j,r} x_j W_r + b)``
    with one weight ``W_r`` per edge type r. Normalisation ``c``:

    - ``"mean"``: ``1 / |N_r(i)|`` (R-GCN),
    - ``"symmetric"``: ``1 / sqrt(|N_r(i)| |N_r(j)|)`` with in- and out-degrees
      per relation (Decagon),
    - ``"sum"``: 1.

    Args:
        units: output features per node.
        num_relations: number of edge types R; ``edge_type`` holds 0..R-1.
        num_bases: basis decomposition ``W_r = sum_b a_rb V_b`` with this many
            bases (regularises many relations); None for free ``W_r``.
        normalize: ``"mean"``, ``"symmetric"`` or ``"sum"``.
        self_loop: include the ``x_i W_0`` term.
        activation, use_bias, ...: as in ``keras.layers.Dense``.

    Call arguments:
        x: node features [N, F].
        edge_index: [2, E] int, row 0 = source, row 1 = target.
        edge_type: [E] int relation of each edge.

    Returns:
        [N, units] node features.

    Example:
        >>> x = np.random.rand(4, 3).astype("float32")
        >>> edge_index = np.array([[0, 1, 1, 2], [1, 0, 2, 1]], "int32")
        >>> edge_type = np.array([0, 0, 1, 1], "int32")
        >>> RelationalGraphConv(8, num_relations=2)(x, edge_index, edge_type).shape
        TensorShape([4, 8])
    """

    def __init__(
        self, units, num_relations, num_bases=None, normalize="mean", self_loop=True, **kwargs
    ):
        super().__init__(units, **kwargs)
        if normalize not in ("mean", "symmetric", "sum"):
            raise ValueError(f"normalize must be 'mean', 'symmetric' or 'sum'; got {normalize!r}.")
        self.num_relations = int(num_relations)
        self.num_bases = num_bases
        self.normalize = normalize
        self.self_loop = self_loop

    def build(self, input_shape):
        check_feature_shape(input_shape, f"{self.name}: x")
        features = input_shape[-1]
        if self.num_bases:
            self.bases = self._kernel("bases", (self.num_bases, features, self.units))
            self.coefficients = self._kernel("coefficients", (self.num_relations, self.num_bases))
        else:
            self.relation_kernel = self._kernel(
                "relation_kernel", (self.num_relations, features, self.units)
            )
        self.root_kernel = self._kernel("root_kernel", (features, self.units)) if self.self_loop else None
        self.bias = self._bias(self.units)

    def call(self, x, edge_index, edge_type):
        gops.check_disjoint(self.name, x, edge_index)
        types = concrete(edge_type)
        if types is not None:
            check_node_ids(types, self.num_relations, f"{self.name}: edge_type (relation ids)")
        n, r = ops.shape(x)[0], self.num_relations
        if self.num_bases:
            kernel = ops.einsum("rb,bfu->rfu", self.coefficients, self.bases)
        else:
            kernel = self.relation_kernel
        # x W_r for every node and relation, then one gather per edge: cheaper
        # than a [E, F, units] stack of per-edge weight matrices.
        transformed = ops.reshape(ops.einsum("nf,rfu->nru", x, kernel), (-1, self.units))
        source, target = edge_index[0], edge_index[1]
        edge_type = ops.cast(edge_type, source.dtype)
        messages = gops.gather(transformed, source * r + edge_type)
        if self.normalize != "sum":
            in_degree = gops.segment_count(target * r + edge_type, n * r, messages.dtype)
            norm = 1.0 / gops.gather(in_degree, target * r + edge_type)
            if self.normalize == "symmetric":
                out_degree = gops.segment_count(source * r + edge_type, n * r, messages.dtype)
                norm = ops.sqrt(norm / gops.gather(out_degree, source * r + edge_type))
            messages = messages * norm[:, None]
        out = ops.segment_sum(messages, target, num_segments=n)
        if self.root_kernel is not None:
            out = out + ops.matmul(x, self.root_kernel)
        return self._finish(out)

    def get_config(self):
        return {
            **super().get_config(),
            "num_relations": self.num_relations,
            "num_bases": self.num_bases,
            "normalize": self.normalize,
            "self_loop": self.self_loop,
        }
