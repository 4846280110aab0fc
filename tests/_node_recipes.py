"""Checks shared by the node-classification recipe tests (GCN, GraphSAGE, GAT, Graph U-Net)."""

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasml.graph import karate_club

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "graphs"
needs_shared = pytest.mark.skipif(not (SHARED / "planetoid").is_dir(),
                                  reason="../shared/data/graphs/planetoid absent")

METRIC_KEYS = {"test_accuracy", "val_accuracy", "test_macro_f1"}
BASELINES = {"logistic_regression", "label_propagation", "mlp"}


def check_report(report, output_dir, recipe, exported=True):
    assert report["recipe"] == recipe
    assert METRIC_KEYS <= set(report["metrics"])
    assert set(report["baselines"]) == BASELINES
    for values in [report["metrics"], *report["baselines"].values()]:
        for key in METRIC_KEYS:
            assert math.isfinite(values[key]) and 0 <= values[key] <= 1, (key, values[key])
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    assert report["serving"]["endpoint"] == "serve(x, edge_index)"
    files = ["history.csv", "history_mlp.csv", "plots/history.png", "plots/confusion_matrix.png"]
    files += ["model.keras", "saved_model"] if exported else []
    for name in files:
        assert (output_dir / name).exists(), name
    if not exported:
        assert not (output_dir / "saved_model").exists()


def permuted(graph, seed=0):
    """The same graph with its nodes renumbered, and the permutation (new -> old)."""
    order = np.random.default_rng(seed).permutation(graph.num_nodes)
    new_id = np.empty_like(order)
    new_id[order] = np.arange(order.size)
    return graph.x[order], new_id[graph.edge_index].astype("int32"), order


def check_saved_model_serves_graphs(output_dir, atol=1e-4):
    """A fresh tf.saved_model.load serves the karate club like the reloaded Keras model,
    returns probabilities, and relabelling the nodes relabels the outputs (a node
    classifier must not depend on node order)."""
    graph = karate_club()
    reloaded = tf.saved_model.load(str(output_dir / "saved_model"))
    served = reloaded.serve(x=graph.x, edge_index=graph.edge_index).numpy()
    keras_model = keras.saving.load_model(output_dir / "model.keras")
    expected = keras.ops.convert_to_numpy(
        keras_model({"x": graph.x, "edge_index": graph.edge_index}, training=False))
    np.testing.assert_allclose(served, expected, atol=atol)
    assert served.shape == (graph.num_nodes, 2)
    np.testing.assert_allclose(served.sum(1), 1.0, atol=1e-5)

    x, edge_index, order = permuted(graph)
    served_permuted = reloaded.serve(x=x, edge_index=edge_index).numpy()
    np.testing.assert_allclose(served_permuted, served[order], atol=atol)


def check_seed_summary(report, seeds):
    """--seeds N: the mean and std are those of the per-seed accuracies, and the
    headline test_accuracy is the first seed's."""
    per_seed = report["per_seed"]
    assert per_seed["seeds"] == list(range(seeds))
    accuracies = np.array(per_seed["test_accuracy"])
    assert accuracies.shape == (seeds,)
    assert report["metrics"]["test_accuracy_mean"] == pytest.approx(accuracies.mean())
    assert report["metrics"]["test_accuracy_std"] == pytest.approx(accuracies.std())
    assert report["metrics"]["test_accuracy"] == pytest.approx(accuracies[0])


def offline(monkeypatch):
    """No network: keras.utils.get_file fails the way it does without a connection."""
    def fail(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(keras.utils, "get_file", fail)
