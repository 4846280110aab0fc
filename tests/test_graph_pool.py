"""Graph pooling against NumPy per segment / per graph: global readouts (disjoint
and dense), gated attention, DiffPool's S^T X, S^T A S and losses, TopK/SAGPool
selection, gUnpool; invariance, empty graphs, bad input, saving and export."""

import doctest
import math

import keras
import numpy as np
import pytest
from _layer_roundtrip import assert_save_load_export

import kerasml.graph.pool
from kerasml.graph import (
    DenseGCNConv,
    DiffPool,
    GCNConv,
    GlobalAttentionPool,
    GlobalMaxPool,
    GlobalMeanPool,
    GlobalSumPool,
    GraphUnpool,
    SAGPool,
    TopKPool,
    TwoHopAugment,
    dense_batch,
    disjoint_batch,
    molecule_graphs,
)

RNG = np.random.default_rng(1)


def numpy(t):
    return keras.ops.convert_to_numpy(t)


def test_docstring_examples_run():
    result = doctest.testmod(kerasml.graph.pool, extraglobs={"np": np})
    assert result.attempted > 0 and result.failed == 0


# Graph 1 and graph 4 (the last) are empty.
GRAPH_INDEX = np.array([0, 0, 0, 2, 3, 3, 0, 2], "int32")
NUM_GRAPHS = 5
X = RNG.standard_normal((8, 3)).astype("float32")

READOUTS = {
    GlobalSumPool: lambda rows: rows.sum(0),
    GlobalMeanPool: lambda rows: rows.mean(0),
    GlobalMaxPool: lambda rows: rows.max(0),
}


def per_graph(reduce, x, graph_index, num_graphs):
    return np.stack([
        reduce(x[graph_index == g]) if np.any(graph_index == g) else np.zeros(x.shape[1])
        for g in range(num_graphs)
    ])


@pytest.mark.parametrize("pool", READOUTS, ids=lambda p: p.__name__)
def test_global_pools_match_numpy_per_segment_with_empty_graphs(pool):
    out = numpy(pool()(X, GRAPH_INDEX, num_graphs=NUM_GRAPHS))
    np.testing.assert_allclose(out, per_graph(READOUTS[pool], X, GRAPH_INDEX, NUM_GRAPHS), atol=1e-6)
    assert np.all(out[[1, 4]] == 0)
    # Without num_graphs the trailing empty graph is not known to exist.
    assert numpy(pool()(X, GRAPH_INDEX)).shape == (4, 3)


@pytest.mark.parametrize("pool", READOUTS, ids=lambda p: p.__name__)
def test_global_pools_dense_mode_respects_mask(pool):
    x = RNG.standard_normal((3, 4, 2)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]], bool)
    out = numpy(pool()(x, mask=mask))
    expected = [READOUTS[pool](x[b][mask[b]]) if mask[b].any() else np.zeros(2) for b in range(3)]
    np.testing.assert_allclose(out, np.array(expected), atol=1e-6)


def test_global_attention_pool_matches_gated_sum():
    layer = GlobalAttentionPool(4)
    out = numpy(layer(X, GRAPH_INDEX, num_graphs=NUM_GRAPHS))
    w = {name: numpy(getattr(layer, name)) for name in
         ("gate_kernel", "gate_bias", "feature_kernel", "feature_bias")}
    gated = (1 / (1 + np.exp(-(X @ w["gate_kernel"] + w["gate_bias"])))) * (
        X @ w["feature_kernel"] + w["feature_bias"]
    )
    np.testing.assert_allclose(out, per_graph(lambda r: r.sum(0), gated, GRAPH_INDEX, NUM_GRAPHS), atol=1e-5)


@pytest.mark.parametrize("pool", [*READOUTS, lambda: GlobalAttentionPool(3)], ids=str)
def test_global_pools_are_permutation_invariant(pool):
    layer = pool()
    perm = RNG.permutation(X.shape[0])
    np.testing.assert_allclose(
        numpy(layer(X[perm], GRAPH_INDEX[perm], num_graphs=NUM_GRAPHS)),
        numpy(layer(X, GRAPH_INDEX, num_graphs=NUM_GRAPHS)),
        atol=1e-5,
    )


def dense_inputs():
    x = RNG.standard_normal((2, 5, 3)).astype("float32")
    adj = (RNG.random((2, 5, 5)) < 0.5).astype("float32")
    adj = np.maximum(adj, adj.transpose(0, 2, 1)) * (1 - np.eye(5))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    adj *= mask[:, :, None] * mask[:, None, :]
    x *= mask[:, :, None]
    return x, adj, mask


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_diffpool_matches_numpy_assignment_pooling_and_losses():
    x, adj, mask = dense_inputs()
    layer = DiffPool(clusters=2, units=4, activation="relu", return_assignment=True,
                     link_loss_weight=1.0, entropy_loss_weight=1.0)
    x_out, adj_out, s = (numpy(t) for t in layer(x, adj, mask=mask))
    w = {n: numpy(getattr(layer, n)) for n in ("assign_kernel", "assign_bias", "embed_kernel", "embed_bias")}

    link, entropy = [], []
    for b, n in enumerate(mask.sum(1)):
        a, feats = adj[b, :n, :n], x[b, :n]
        a_hat = a + np.eye(n)
        d = np.diag(a_hat.sum(1) ** -0.5)
        prop = d @ a_hat @ d @ feats
        s_ref = softmax(prop @ w["assign_kernel"] + w["assign_bias"])
        z_ref = np.maximum(prop @ w["embed_kernel"] + w["embed_bias"], 0)
        np.testing.assert_allclose(s[b, :n], s_ref, atol=1e-5)
        assert np.all(s[b, n:] == 0)  # padded nodes join no cluster
        np.testing.assert_allclose(x_out[b], s_ref.T @ z_ref, atol=1e-4)
        np.testing.assert_allclose(adj_out[b], s_ref.T @ a @ s_ref, atol=1e-4)
        link.append(np.linalg.norm(a - s_ref @ s_ref.T))  # Frobenius norm
        entropy.extend(-(s_ref * np.log(s_ref)).sum(1))
    link_loss, entropy_loss = (float(numpy(v)) for v in layer.losses)
    np.testing.assert_allclose(link_loss, np.mean(link), rtol=1e-5)
    np.testing.assert_allclose(entropy_loss, np.mean(entropy), rtol=1e-4)


def test_diffpool_without_units_pools_input_features():
    x, adj, mask = dense_inputs()
    x_out, _, s = (numpy(t) for t in DiffPool(3, return_assignment=True)(x, adj, mask=mask))
    np.testing.assert_allclose(x_out, np.einsum("bnk,bnf->bkf", s, x), atol=1e-5)


def test_diffpool_losses_are_part_of_the_training_loss():
    x, adj, mask = dense_inputs()
    xi, ai, mi = keras.Input((5, 3)), keras.Input((5, 5)), keras.Input((5,), dtype="bool")
    h = DenseGCNConv(8, activation="relu")(xi, ai, mask=mi)
    h, a = DiffPool(2, units=8, link_loss_weight=0.5, entropy_loss_weight=2.0)(h, ai, mask=mi)
    out = keras.layers.Dense(1)(GlobalSumPool()(h))
    model = keras.Model([xi, ai, mi], out)
    model.compile("sgd", "mse")
    y = np.ones((2, 1), "float32")
    prediction = numpy(model([x, adj, mask]))
    auxiliary = sum(float(numpy(v)) for v in model.losses)
    assert len(model.losses) == 2
    total = model.evaluate([x, adj, mask], y, verbose=0)
    np.testing.assert_allclose(total, np.mean((prediction - y) ** 2) + auxiliary, rtol=1e-5)
    assert np.isfinite(model.train_on_batch([x, adj, mask], y))


def numpy_topk(score, graph_index, keep):
    """Ids of the kept nodes, graph by graph, best score first."""
    kept = []
    for g in np.unique(graph_index):
        members = np.flatnonzero(graph_index == g)
        best = members[np.argsort(-score[members], kind="stable")]
        kept.extend(best[: keep(members.size)])
    return np.array(kept)


def chain_graphs(sizes):
    """Path graphs (both directions) of the given sizes, disjoint."""
    edges, offset = [], 0
    for n in sizes:
        edges += [(offset + i, offset + i + 1) for i in range(n - 1)]
        offset += n
    edges = np.array(edges).T.reshape(2, -1)
    edge_index = np.concatenate([edges, edges[::-1]], axis=1).astype("int32")
    graph_index = np.repeat(np.arange(len(sizes)), sizes).astype("int32")
    x = RNG.standard_normal((offset, 3)).astype("float32")
    return x, edge_index, graph_index


def check_edges(edge_index, index, out_edges):
    """Kept edges = those between kept nodes, renumbered to positions in ``index``."""
    new_id = {int(old): new for new, old in enumerate(index)}
    expected = sorted(
        (new_id[s], new_id[t]) for s, t in edge_index.T if s in new_id and t in new_id
    )
    assert sorted(map(tuple, out_edges.T.tolist())) == expected


@pytest.mark.parametrize("ratio", [0.5, 0.3, 0.1])
def test_topk_keeps_the_best_ceil_ratio_nodes_per_graph(ratio):
    x, edge_index, graph_index = chain_graphs([10, 1, 4, 7])
    layer = TopKPool(ratio=ratio)
    x_out, e_out, g_out, index = (numpy(t) for t in layer(x, edge_index, graph_index))
    p = numpy(layer.projection)[:, 0]
    score = x @ p / np.linalg.norm(p)
    # ceil(0.3 * 10) must be 3: exact arithmetic, not float rounding up to 4.
    expected = numpy_topk(score, graph_index, lambda n: max(1, math.ceil(round(ratio * n, 9))))
    np.testing.assert_array_equal(index, expected)
    assert set(g_out) == {0, 1, 2, 3}  # every graph keeps at least one node
    np.testing.assert_array_equal(g_out, graph_index[expected])
    gate = 1 / (1 + np.exp(-score[expected]))
    np.testing.assert_allclose(x_out, x[expected] * gate[:, None], atol=1e-5)
    check_edges(edge_index, index, e_out)


def test_topk_with_fixed_k_keeps_all_nodes_of_smaller_graphs():
    x, edge_index, graph_index = chain_graphs([2, 6, 3])
    layer = TopKPool(k=3, gate="tanh")
    x_out, _, _, index = (numpy(t) for t in layer(x, edge_index, graph_index))
    p = numpy(layer.projection)[:, 0]
    score = x @ p / np.linalg.norm(p)
    np.testing.assert_array_equal(index, numpy_topk(score, graph_index, lambda n: min(3, n)))
    assert len(index) == 2 + 3 + 3
    np.testing.assert_allclose(x_out, x[index] * np.tanh(score[index])[:, None], atol=1e-5)


def test_sagpool_scores_with_a_gcn_and_gates_with_tanh():
    x, edge_index, graph_index = chain_graphs([5, 4])
    edge_weight = RNG.uniform(0.5, 1.5, edge_index.shape[1]).astype("float32")
    layer = SAGPool(ratio=0.5)
    x_out, e_out, w_out, g_out, index = (
        numpy(t) for t in layer(x, edge_index, graph_index, edge_weight=edge_weight)
    )
    n = x.shape[0]
    a_hat = np.eye(n)
    np.add.at(a_hat, (edge_index[1], edge_index[0]), edge_weight)
    d = np.diag(a_hat.sum(1) ** -0.5)
    conv = layer.score_conv
    score = (d @ a_hat @ d @ x @ numpy(conv.kernel) + numpy(conv.bias))[:, 0]
    expected = numpy_topk(score, graph_index, lambda k: math.ceil(k / 2))
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_allclose(x_out, x[expected] * np.tanh(score[expected])[:, None], atol=1e-5)
    check_edges(edge_index, index, e_out)
    kept = np.isin(edge_index[0], index) & np.isin(edge_index[1], index)
    np.testing.assert_allclose(np.sort(w_out), np.sort(edge_weight[kept]))


def test_topk_selection_is_permutation_invariant():
    x, edge_index, graph_index = chain_graphs([6, 5])
    layer = TopKPool(ratio=0.5)
    index = numpy(layer(x, edge_index, graph_index)[3])
    perm = RNG.permutation(x.shape[0])
    new_id = np.argsort(perm)
    permuted = numpy(layer(x[perm], new_id[edge_index], graph_index[perm])[3])
    np.testing.assert_array_equal(np.sort(perm[permuted]), np.sort(index))


def test_unpool_restores_positions_with_zeros():
    x, edge_index, graph_index = chain_graphs([6, 5])
    x_out, _, _, index = TopKPool(ratio=0.5)(x, edge_index, graph_index)
    restored = numpy(GraphUnpool()(x_out, index, x))
    expected = np.zeros((x.shape[0], 3), "float32")
    expected[numpy(index)] = numpy(x_out)
    np.testing.assert_array_equal(restored, expected)


def test_two_hop_augment_matches_dense_square_of_a_plus_i():
    n = 9
    edge_index = np.array([(a, b) for a in range(n) for b in range(n) if a != b and RNG.random() < 0.2]).T
    weight = RNG.uniform(0.5, 2.0, edge_index.shape[1]).astype("float32")
    out_edges, out_weight = (numpy(t) for t in TwoHopAugment()(X[:1].repeat(n, 0), edge_index, weight))
    a = np.eye(n)
    np.add.at(a, (edge_index[1], edge_index[0]), weight)  # a[target, source]
    expected = a @ a
    np.fill_diagonal(expected, 0)
    got = np.zeros((n, n))
    got[out_edges[1], out_edges[0]] = out_weight
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert len(set(map(tuple, out_edges.T.tolist()))) == out_edges.shape[1] == np.count_nonzero(expected)


def test_bad_inputs_raise_clear_value_errors():
    x, edge_index, graph_index = chain_graphs([3, 3])
    with pytest.raises(ValueError, match="graph_index must have shape"):
        GlobalSumPool()(x, graph_index[:4])
    with pytest.raises(ValueError, match="negative graph id"):
        GlobalMeanPool()(x, graph_index - 1)
    with pytest.raises(ValueError, match="x must have rank 2"):
        TopKPool(0.5)(x[None], edge_index, graph_index)
    with pytest.raises(ValueError, match="refers to node 6"):
        TopKPool(0.5)(x, edge_index + 1, graph_index)
    with pytest.raises(ValueError, match="x must have rank 3"):
        DiffPool(2)(x, np.ones((6, 6)))
    with pytest.raises(ValueError, match="ratio must be in"):
        TopKPool(ratio=1.5)


def test_graph_classifier_with_hierarchical_pools_saves_loads_and_exports(tmp_path):
    batch = disjoint_batch(molecule_graphs(6, seed=3).graphs)
    x = keras.Input((4,), name="x")
    edge_index = keras.Input((None,), batch_size=2, dtype="int32", name="edge_index")
    graph_index = keras.Input((), dtype="int32", name="graph_index")
    h = GCNConv(8, activation="relu")(x, edge_index)
    e0, w0 = TwoHopAugment()(h, edge_index)
    h1, e1, w1, g1, index = TopKPool(0.5)(h, e0, graph_index, edge_weight=w0)
    h2, _, g2, _ = SAGPool(0.5)(GCNConv(8)(h1, e1, w1), e1, g1)
    skip = GraphUnpool()(h1, index, h)
    readouts = [
        GlobalSumPool()(skip, graph_index), GlobalMeanPool()(h2, g2),
        GlobalMaxPool()(h1, g1), GlobalAttentionPool(4)(h2, g2),
    ]
    out = keras.layers.Dense(2)(keras.layers.Concatenate()(readouts))
    model = keras.Model({"x": x, "edge_index": edge_index, "graph_index": graph_index}, out)
    inputs = {k: batch[k] for k in ("x", "edge_index", "graph_index")}
    assert numpy(model(inputs)).shape == (6, 2)
    assert_save_load_export(model, inputs, tmp_path)


def test_dense_diffpool_model_saves_loads_and_exports(tmp_path):
    batch = dense_batch(molecule_graphs(4, seed=4).graphs, max_nodes=30)
    x, adj, mask = keras.Input((30, 4)), keras.Input((30, 30)), keras.Input((30,), dtype="bool")
    h = DenseGCNConv(8, activation="relu")(x, adj, mask=mask)
    h, a = DiffPool(4, units=8)(h, adj, mask=mask)
    h, _ = DiffPool(1)(DenseGCNConv(8)(h, a), a)
    out = keras.layers.Dense(2)(GlobalMeanPool()(h))
    model = keras.Model([x, adj, mask], out)
    assert_save_load_export(model, [batch["x"], batch["adj"], batch["mask"]], tmp_path)


def test_pools_run_under_mixed_float16():
    x, edge_index, graph_index = chain_graphs([5, 4])
    dense_x, adj, mask = dense_inputs()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        outputs = [pool()(x, graph_index) for pool in READOUTS]
        outputs.append(GlobalAttentionPool(4)(x, graph_index))
        outputs += list(TopKPool(0.5)(x, edge_index, graph_index)[:1])
        outputs += list(SAGPool(0.5)(x, edge_index, graph_index)[:1])
        diffpool = DiffPool(2, units=4)
        outputs += list(diffpool(dense_x, adj, mask=mask))
    finally:
        keras.config.set_dtype_policy("float32")
    for out in outputs:
        assert keras.backend.standardize_dtype(out.dtype) == "float16"
        assert np.all(np.isfinite(numpy(out).astype("float32")))
    assert all(np.isfinite(float(numpy(v))) for v in diffpool.losses)
