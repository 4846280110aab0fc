"""kerasml.graph.node_training against independent references: the masked loss
against NumPy cross-entropy, the L2 helper against the papers' formula, label
spreading against Zhou et al.'s closed form, and the two small layers."""

import keras
import networkx as nx
import numpy as np
import pytest

from kerasml.graph import GCNConv, karate_club
from kerasml.graph import node_training as nt


def test_mask_over_mean_weights_make_keras_loss_the_mean_over_masked_nodes():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(4), size=50).astype("float32")
    labels = rng.integers(0, 4, size=50)
    mask = np.zeros(50, bool)
    mask[[3, 7, 20]] = True
    expected = -np.mean(np.log(probabilities[mask, labels[mask]]))
    loss = keras.losses.SparseCategoricalCrossentropy()
    weighted = float(loss(labels, probabilities, sample_weight=nt.node_weights(mask)))
    assert weighted == pytest.approx(expected, rel=1e-5)
    # The raw 0/1 mask divides by all 50 nodes instead of the 3 labelled ones.
    assert float(loss(labels, probabilities, sample_weight=mask.astype("float32"))) == pytest.approx(
        expected * 3 / 50, rel=1e-5)


def test_l2_is_the_papers_weight_decay_times_half_the_sum_of_squares():
    layer = GCNConv(5, kernel_regularizer=nt.l2(5e-4))
    layer(np.ones((3, 4), "float32"), np.array([[0, 1], [1, 2]], "int32"))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert float(sum(layer.losses)) == pytest.approx(5e-4 * np.sum(kernel**2) / 2, rel=1e-5)
    assert nt.l2(0) is None


def test_row_normalization_divides_by_the_row_sum_and_leaves_empty_rows():
    x = np.array([[1, 3, 0], [0, 0, 0], [2, 2, 4]], "float32")
    out = keras.ops.convert_to_numpy(nt.RowNormalization()(x))
    np.testing.assert_allclose(out, [[0.25, 0.75, 0], [0, 0, 0], [0.25, 0.25, 0.5]])


def test_edge_dropout_drops_edges_only_in_training_and_keeps_their_order():
    edge_index = np.stack([np.arange(2000), np.arange(2000)[::-1]]).astype("int32")
    layer = nt.EdgeDropout(0.25, seed=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(edge_index)), edge_index)
    kept = keras.ops.convert_to_numpy(layer(edge_index, training=True))
    assert kept.shape[0] == 2 and 0.70 < kept.shape[1] / 2000 < 0.80
    assert np.all(np.diff(kept[0]) > 0)  # a subsequence of the columns, in order
    np.testing.assert_array_equal(kept[1], 1999 - kept[0])
    with pytest.raises(ValueError, match="rate"):
        nt.EdgeDropout(1.0)


def test_label_propagation_matches_zhou_et_al_closed_form():
    """F* = (I - alpha S)^-1 Y with S = D^-1/2 W D^-1/2 (Zhou et al. 2004, eq. 2)."""
    graph = karate_club()
    alpha = 0.8
    w = nx.to_numpy_array(nx.karate_club_graph(), weight=None)
    d = 1 / np.sqrt(w.sum(1))
    s = d[:, None] * w * d[None, :]
    y = np.zeros((graph.num_nodes, 2))
    y[graph.train_mask, graph.y[graph.train_mask]] = 1
    closed_form = np.linalg.solve(np.eye(graph.num_nodes) - alpha * s, y).argmax(1)
    np.testing.assert_array_equal(nt.label_propagation(graph, alpha=alpha), closed_form)


def test_logistic_regression_ignores_the_graph():
    graph = karate_club()
    shuffled = nt.Graph(x=graph.x, edge_index=graph.edge_index[:, ::-1][:, :10], y=graph.y,
                        train_mask=graph.train_mask, val_mask=graph.val_mask, test_mask=graph.test_mask)
    np.testing.assert_array_equal(nt.logistic_regression(graph, False),
                                  nt.logistic_regression(shuffled, False))


def test_unknown_dataset_is_named():
    with pytest.raises(SystemExit, match="karate, sbm, cora"):
        nt.load_node_dataset("reddit")
