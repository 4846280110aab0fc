"""Graph convolutions against NumPy formulas written here (dense matrices and
per-node loops), permutation equivariance, bad input, saving and export."""

import doctest

import keras
import numpy as np
import pytest
from _layer_roundtrip import assert_save_load_export

import kerasml.graph.conv
from kerasml.graph import (
    DenseGCNConv,
    GATConv,
    GCNConv,
    GraphSAGEConv,
    RelationalGraphConv,
    karate_club,
)

RNG = np.random.default_rng(0)


def random_graph(n=7, edges=10, features=3, isolated=True):
    """Undirected random graph (both directions listed); the last node is isolated."""
    pairs = set()
    last = n - 1 if isolated else n
    while len(pairs) < edges:
        a, b = RNG.integers(0, last, 2)
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    pairs = np.array(sorted(pairs)).T
    edge_index = np.concatenate([pairs, pairs[::-1]], axis=1).astype("int32")
    return RNG.standard_normal((n, features)).astype("float32"), edge_index


def dense_adjacency(edge_index, n, weight=None):
    """A[target, source] = weight."""
    a = np.zeros((n, n))
    weight = np.ones(edge_index.shape[1]) if weight is None else weight
    np.add.at(a, (edge_index[1], edge_index[0]), weight)
    return a


def weights(layer, name):
    return keras.ops.convert_to_numpy(getattr(layer, name))


def test_docstring_examples_run():
    result = doctest.testmod(kerasml.graph.conv, extraglobs={"np": np})
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("weighted", [False, True])
def test_gcn_matches_dense_formula(weighted):
    x, edge_index = random_graph()
    n = x.shape[0]
    edge_weight = RNG.uniform(0.5, 2.0, edge_index.shape[1]).astype("float32") if weighted else None
    layer = GCNConv(4, bias_initializer="random_normal")
    out = keras.ops.convert_to_numpy(layer(x, edge_index, edge_weight))

    a_hat = dense_adjacency(edge_index, n, edge_weight) + np.eye(n)
    d = np.diag(a_hat.sum(1) ** -0.5)
    expected = d @ a_hat @ d @ x @ weights(layer, "kernel") + weights(layer, "bias")
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # The isolated node only sees itself: its own transformed features.
    np.testing.assert_allclose(out[-1], x[-1] @ weights(layer, "kernel") + weights(layer, "bias"), atol=1e-5)


def test_gcn_without_self_loops_leaves_isolated_nodes_finite():
    x, edge_index = random_graph()
    layer = GCNConv(4, add_self_loops=False, use_bias=False)
    out = keras.ops.convert_to_numpy(layer(x, edge_index))
    a = dense_adjacency(edge_index, x.shape[0])
    degree = a.sum(1)
    inv = np.where(degree > 0, degree, np.inf) ** -0.5
    np.testing.assert_allclose(out, np.diag(inv) @ a @ np.diag(inv) @ x @ weights(layer, "kernel"), atol=1e-5)
    assert np.all(out[-1] == 0)


@pytest.mark.parametrize("aggregator", ["mean", "max"])
def test_graphsage_matches_per_node_loop(aggregator):
    x, edge_index = random_graph()
    layer = GraphSAGEConv(5, aggregator=aggregator, activation="relu", normalize=True)
    out = keras.ops.convert_to_numpy(layer(x, edge_index))

    if aggregator == "max":
        hidden = np.maximum(x @ weights(layer, "pool_kernel") + weights(layer, "pool_bias"), 0)
    expected = []
    for i in range(x.shape[0]):
        sources = edge_index[0, edge_index[1] == i]
        if sources.size == 0:
            agg = np.zeros(hidden.shape[1] if aggregator == "max" else x.shape[1])
        elif aggregator == "mean":
            agg = x[sources].mean(0)
        else:
            agg = hidden[sources].max(0)
        h = x[i] @ weights(layer, "self_kernel") + agg @ weights(layer, "neighbour_kernel")
        h = np.maximum(h + weights(layer, "bias"), 0)
        expected.append(h / max(np.linalg.norm(h), 1e-12))
    np.testing.assert_allclose(out, np.array(expected), atol=1e-5)


def numpy_gat(x, edge_index, kernel, a_source, a_target, heads, units, slope=0.2):
    """Per target node: softmax over its incoming edges and its self-loop."""
    n = x.shape[0]
    h = (x @ kernel).reshape(n, heads, units)
    edges = np.concatenate([edge_index, np.stack([np.arange(n)] * 2)], axis=1)
    alpha = np.zeros((edges.shape[1], heads))
    out = np.zeros((n, heads, units))
    for i in range(n):
        incoming = np.flatnonzero(edges[1] == i)
        for k in range(heads):
            e = np.array([a_target[k] @ h[i, k] + a_source[k] @ h[j, k] for j in edges[0, incoming]])
            e = np.where(e > 0, e, slope * e)
            w = np.exp(e - e.max())
            alpha[incoming, k] = w / w.sum()
            out[i, k] = alpha[incoming, k] @ h[edges[0, incoming], k]
    return out, alpha


@pytest.mark.parametrize("concat", [True, False])
def test_gat_coefficients_and_output_match_numpy(concat):
    x, edge_index = random_graph()
    layer = GATConv(4, heads=3, concat_heads=concat, attention_dropout=0.5)
    out, alpha = layer(x, edge_index, return_attention_scores=True)
    ref_out, ref_alpha = numpy_gat(
        x, edge_index, weights(layer, "kernel"), weights(layer, "attention_source"),
        weights(layer, "attention_target"), heads=3, units=4,
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alpha), ref_alpha, atol=1e-5)
    ref_out = ref_out.reshape(x.shape[0], -1) if concat else ref_out.mean(1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), ref_out + weights(layer, "bias"), atol=1e-5)


def test_gat_attention_dropout_only_in_training():
    x, edge_index = random_graph()
    layer = GATConv(4, heads=2, attention_dropout=0.5)
    inference = [keras.ops.convert_to_numpy(layer(x, edge_index)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    training = keras.ops.convert_to_numpy(layer(x, edge_index, training=True))
    assert not np.allclose(training, inference[0])


@pytest.mark.parametrize("normalize", ["mean", "symmetric", "sum"])
@pytest.mark.parametrize("num_bases", [None, 2])
def test_relational_conv_matches_per_edge_loop(normalize, num_bases):
    x, edge_index = random_graph()
    edge_type = RNG.integers(0, 3, edge_index.shape[1]).astype("int32")
    layer = RelationalGraphConv(4, num_relations=3, num_bases=num_bases, normalize=normalize)
    out = keras.ops.convert_to_numpy(layer(x, edge_index, edge_type))

    if num_bases:
        kernels = np.einsum("rb,bfu->rfu", weights(layer, "coefficients"), weights(layer, "bases"))
    else:
        kernels = weights(layer, "relation_kernel")
    expected = x @ weights(layer, "root_kernel") + weights(layer, "bias")
    for (j, i), r in zip(edge_index.T, edge_type):
        in_degree = np.sum((edge_index[1] == i) & (edge_type == r))
        out_degree = np.sum((edge_index[0] == j) & (edge_type == r))
        c = {"mean": 1 / in_degree, "symmetric": (in_degree * out_degree) ** -0.5, "sum": 1.0}[normalize]
        expected[i] += c * x[j] @ kernels[r]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_dense_gcn_matches_formula_and_zeroes_padding():
    x = RNG.standard_normal((2, 5, 3)).astype("float32")
    adj = (RNG.random((2, 5, 5)) < 0.5).astype("float32")
    adj = np.maximum(adj, adj.transpose(0, 2, 1)) * (1 - np.eye(5))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    adj[1, 3:, :] = adj[1, :, 3:] = 0
    layer = DenseGCNConv(4, bias_initializer="random_normal")
    out = keras.ops.convert_to_numpy(layer(x, adj, mask=mask))
    for b, n in enumerate(mask.sum(1)):
        a_hat = adj[b, :n, :n] + np.eye(n)
        d = np.diag(a_hat.sum(1) ** -0.5)
        expected = d @ a_hat @ d @ x[b, :n] @ weights(layer, "kernel") + weights(layer, "bias")
        np.testing.assert_allclose(out[b, :n], expected, atol=1e-5)
    assert np.all(out[1, 3:] == 0)


CONVS = {
    "gcn": lambda: GCNConv(4),
    "sage_mean": lambda: GraphSAGEConv(4),
    "sage_max": lambda: GraphSAGEConv(4, aggregator="max", normalize=True),
    "gat": lambda: GATConv(4, heads=2),
    "rgcn": lambda: RelationalGraphConv(4, num_relations=2, normalize="symmetric"),
}


def call(layer, x, edge_index, edge_type):
    if isinstance(layer, RelationalGraphConv):
        return keras.ops.convert_to_numpy(layer(x, edge_index, edge_type))
    return keras.ops.convert_to_numpy(layer(x, edge_index))


@pytest.mark.parametrize("name", CONVS)
def test_convolutions_are_permutation_equivariant(name):
    x, edge_index = random_graph(n=9, edges=14)
    edge_type = RNG.integers(0, 2, edge_index.shape[1]).astype("int32")
    layer = CONVS[name]()
    out = call(layer, x, edge_index, edge_type)
    perm = RNG.permutation(x.shape[0])  # new node i is old node perm[i]
    new_id = np.argsort(perm)
    edge_order = RNG.permutation(edge_index.shape[1])  # edge order must not matter either
    permuted = call(layer, x[perm], new_id[edge_index][:, edge_order], edge_type[edge_order])
    np.testing.assert_allclose(permuted, out[perm], atol=1e-5)


BAD_EDGES = {
    "out of range": (np.array([[0, 7], [1, 0]]), "refers to node 7, but there are only 7 nodes"),
    "negative": (np.array([[0, -1], [1, 0]]), "negative node id -1"),
    "transposed": (np.array([[0, 1], [1, 0], [1, 2]]), "pass its transpose"),
}


@pytest.mark.parametrize("name", CONVS)
@pytest.mark.parametrize("bad", BAD_EDGES)
def test_bad_edge_index_raises_clear_value_error(name, bad):
    x, _ = random_graph()
    edge_index, message = BAD_EDGES[bad]
    with pytest.raises(ValueError, match=message):
        call(CONVS[name](), x, edge_index, np.zeros(edge_index.shape[1], "int32"))


@pytest.mark.parametrize("name", CONVS)
def test_features_of_wrong_rank_raise_clear_value_error(name):
    _, edge_index = random_graph()
    with pytest.raises(ValueError, match=r"x must have rank 2, \[num_nodes, num_features\]"):
        call(CONVS[name](), np.ones((7,), "float32"), edge_index, np.zeros(20, "int32"))


def test_relational_conv_rejects_unknown_relation():
    x, edge_index = random_graph()
    with pytest.raises(ValueError, match="edge_type"):
        RelationalGraphConv(4, num_relations=2)(x, edge_index, np.full(edge_index.shape[1], 2))


def test_node_classifier_saves_loads_and_exports(tmp_path):
    graph = karate_club()
    edge_type = (graph.edge_index[0] < graph.edge_index[1]).astype("int32")
    x = keras.Input((graph.num_features,), name="x")
    edge_index = keras.Input((None,), batch_size=2, dtype="int32", name="edge_index")
    types = keras.Input((), dtype="int32", name="edge_type")
    h = GCNConv(8, activation="relu")(x, edge_index)
    h = GraphSAGEConv(8, aggregator="max", activation="relu")(h, edge_index)
    h = RelationalGraphConv(8, num_relations=2, num_bases=1, activation="relu")(h, edge_index, types)
    out = GATConv(2, heads=2, concat_heads=False)(h, edge_index)
    model = keras.Model({"x": x, "edge_index": edge_index, "edge_type": types}, out)
    inputs = {"x": graph.x, "edge_index": graph.edge_index, "edge_type": edge_type}
    assert_save_load_export(model, inputs, tmp_path)


@pytest.mark.parametrize("name", CONVS)
def test_convolutions_under_mixed_float16_match_float32(name):
    x, edge_index = random_graph()
    edge_type = RNG.integers(0, 2, edge_index.shape[1]).astype("int32")
    reference = CONVS[name]()
    expected = call(reference, x, edge_index, edge_type)
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = CONVS[name]()
        call(layer, x, edge_index, edge_type)  # build
        layer.set_weights(reference.get_weights())
        out = layer(x, edge_index, edge_type) if name == "rgcn" else layer(x, edge_index)
    finally:
        keras.config.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out).astype("float32"), expected, atol=2e-2, rtol=2e-2)
