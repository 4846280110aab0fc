import json
import math
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasml.graph import Graph, GraphDataset, dense_batch, disjoint_batch, molecule_graphs
from recipes import graph_classification as gc

TU = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "graphs" / "tu"
REPO = pathlib.Path(__file__).resolve().parents[1]
BASELINES = {"majority_class", "logistic_regression", "random_forest"}


def check_report(report, output_dir, exported=True):
    assert report["recipe"] == "graph_classification"
    metrics = report["metrics"]
    for key in ("test_accuracy_mean", "test_accuracy_std"):
        assert math.isfinite(metrics[key]) and 0 <= metrics[key] <= 1, key
    assert set(report["baselines"]) == BASELINES
    for row in report["baselines"].values():
        assert 0 <= row["test_accuracy_mean"] <= 1
    assert json.loads((output_dir / "metrics.json").read_text()) == report
    names = ["history.csv", "plots/fold_accuracy.png"]
    names += ["model.keras", "saved_model", "serving_example.npz"] if exported else []
    for name in names:
        assert (output_dir / name).exists(), name


def served_and_keras(output_dir, inputs):
    """The SavedModel reloaded in TensorFlow and the Keras model, on the same inputs."""
    saved_model = tf.saved_model.load(str(output_dir / "saved_model"))  # keep a reference: it owns the variables
    served = saved_model.serve(inputs).numpy()
    keras_model = keras.saving.load_model(output_dir / "model.keras")
    return served, keras_model(inputs, training=False).numpy()


def test_quick_run_exports_a_saved_model_that_serves_disjoint_batches(tmp_path):
    report = gc.main(["--quick", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path)
    assert report["config"]["pool"] == "sum" and len(report["metrics"]["test_accuracy_folds"]) == 2
    # Graphs the run never saw (another seed), batched by the library, not by the recipe.
    graphs = molecule_graphs(5, seed=123).graphs
    batch = disjoint_batch(graphs)
    inputs = {k: batch[k] for k in ("x", "edge_index", "graph_index")}
    served, expected = served_and_keras(tmp_path, inputs)
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-5)
    assert served.shape == (5, 2)
    np.testing.assert_allclose(served.sum(-1), 1.0, atol=1e-5)
    # One graph alone gets the same probabilities as inside the batch.
    alone = disjoint_batch(graphs[2:3])
    saved_model = tf.saved_model.load(str(tmp_path / "saved_model"))
    single = saved_model.serve({k: alone[k] for k in ("x", "edge_index", "graph_index")}).numpy()
    np.testing.assert_allclose(single[0], served[2], rtol=1e-4, atol=1e-5)


def synthetic_tu(folder: pathlib.Path, name="TOY", labels=(0, 1), graphs=20):
    """A tiny dataset in the TU raw format (no fold files)."""
    data = molecule_graphs(graphs, seed=7)
    (folder / name).mkdir(parents=True)
    offsets = np.cumsum([0] + [g.num_nodes for g in data.graphs])
    rows = [f"{s + 1 + o}, {t + 1 + o}" for g, o in zip(data.graphs, offsets) for s, t in g.edge_index.T]
    write = lambda suffix, lines: (folder / name / f"{name}_{suffix}.txt").write_text("\n".join(map(str, lines)))  # noqa: E731
    write("A", rows)
    write("graph_indicator", np.repeat(np.arange(1, graphs + 1), [g.num_nodes for g in data.graphs]))
    write("graph_labels", [labels[int(g.y) % len(labels)] for g in data.graphs])
    write("node_labels", np.concatenate([g.x.argmax(1) for g in data.graphs]))
    return data


def test_stratified_folds_without_split_files(tmp_path):
    data = synthetic_tu(tmp_path, graphs=40)
    loaded, _ = gc.load_graphs(gc.Config(data_dir=str(tmp_path), dataset="TOY"))
    assert loaded.folds is None and len(loaded) == 40
    folds, kind = gc.cross_validation_folds(loaded, gc.Config(folds=4))
    assert "4 stratified folds" in kind
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(40))  # every graph tested exactly once
    for train, test in folds:
        assert not set(train) & set(test)
        assert np.mean(data.y[test]) == pytest.approx(0.5)  # stratified: 5 of each class


@pytest.mark.skipif(not (TU / "MUTAG").is_dir(), reason="shared MUTAG data not present")
def test_mutag_pool_all_on_the_published_folds(tmp_path, capsys, monkeypatch):
    # Two poolings stand for "all" here (each traces its own model: seconds);
    # every pooling's model is checked in test_every_pooling_is_invariant_...
    monkeypatch.setattr(gc, "POOLS", ("mean", "sagpool"))
    report = gc.main(["--quick", "--no-export", "--output-dir", str(tmp_path), "--data-dir", str(TU),
                      "--dataset", "MUTAG", "--pool", "all", "--max-folds", "1", "--epochs", "1"])
    check_report(report, tmp_path, exported=False)
    assert set(report["metrics"]["pools"]) == {"mean", "sagpool"}
    assert report["metrics"]["best_pool"] in {"mean", "sagpool"}
    assert report["data"]["graphs"] == 188 and "published folds" in report["data"]["folds"]
    printed = capsys.readouterr().out
    assert "GNN, mean pooling" in printed and "GNN, sagpool pooling" in printed
    # The fold really is the published one: its test graphs from the file, read here directly.
    published = np.loadtxt(TU / "MUTAG" / "MUTAG_10fold" / "test_idx-1.txt", dtype=int)
    folds, _ = gc.cross_validation_folds(gc.load_graphs(gc.Config(data_dir=str(TU)))[0], gc.Config())
    assert sorted(published.tolist()) == folds[0][1].tolist()


def shuffled_nodes(graph: Graph, rng) -> Graph:
    order = rng.permutation(graph.num_nodes)
    new_id = np.argsort(order)
    return Graph(x=graph.x[order], edge_index=new_id[graph.edge_index], y=graph.y)


@pytest.mark.parametrize("pool", gc.POOLS)
def test_every_pooling_is_invariant_to_node_and_graph_order(pool):
    keras.utils.set_random_seed(0)
    config = gc.Config(hidden=8, layers=2, clusters=3)
    model = gc.build_model(pool, 4, 2, config)
    rng = np.random.default_rng(0)
    # Continuous features: no two nodes tie for top-k (a tie may keep either node).
    graphs = [Graph(x=rng.normal(size=g.x.shape), edge_index=g.edge_index, y=g.y)
              for g in molecule_graphs(4, seed=3).graphs]

    def predict(gs):
        batch = disjoint_batch(gs)
        return model({k: batch[k] for k in ("x", "edge_index", "graph_index")}, training=False).numpy()

    reference = predict(graphs)
    np.testing.assert_allclose(reference.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(predict([shuffled_nodes(g, rng) for g in graphs]), reference, atol=1e-5)
    np.testing.assert_allclose(predict(graphs[::-1]), reference[::-1], atol=1e-5)


def test_to_dense_batch_matches_the_library_dense_batch_in_any_node_order():
    graphs = molecule_graphs(3, seed=5).graphs
    expected = dense_batch(graphs)
    batch = disjoint_batch(graphs)
    # Interleave the graphs' nodes: the layer must not assume contiguous graphs.
    order = np.random.default_rng(1).permutation(len(batch["x"]))
    new_id = np.argsort(order)
    x, adj, mask = gc.ToDenseBatch()(batch["x"][order], new_id[batch["edge_index"]],
                                     batch["graph_index"][order])
    # Within a graph, nodes now appear in the shuffled order: compare up to that permutation.
    for b, g in enumerate(graphs):
        nodes = np.flatnonzero(batch["graph_index"][order] == b)  # shuffled positions of graph b
        local = order[nodes] - np.flatnonzero(batch["graph_index"] == b)[0]  # original node ids
        np.testing.assert_array_equal(mask.numpy()[b], expected["mask"][b])
        np.testing.assert_allclose(x.numpy()[b, : g.num_nodes], expected["x"][b, local])
        np.testing.assert_allclose(adj.numpy()[b, : g.num_nodes, : g.num_nodes],
                                   expected["adj"][b][np.ix_(local, local)])
    assert adj.numpy()[:, :, :].sum() == sum(g.num_edges for g in graphs)


def test_gin_layer_against_numpy():
    graph = molecule_graphs(1, seed=2).graphs[0]
    layer = gc.GINConv(5)
    out = layer(graph.x, graph.edge_index, training=False).numpy()
    adjacency = graph.dense_adjacency()  # [target, source]
    h = (1 + 0.0) * graph.x + adjacency @ graph.x  # epsilon starts at 0
    for dense in layer.dense:  # fresh batch norm in inference: x / sqrt(1 + 1e-3)
        kernel, bias = (w.numpy() for w in dense.weights)
        h = np.maximum((h @ kernel + bias) / np.sqrt(1 + 1e-3), 0)
    np.testing.assert_allclose(out, h, rtol=1e-4, atol=1e-5)


def test_bag_of_atoms_features():
    graph = Graph(x=np.eye(3)[[0, 0, 2, 1]], edge_index=[[0, 1, 1, 2], [1, 0, 2, 1]], y=np.int32(1))
    features = gc.graph_features(GraphDataset([graph]))
    np.testing.assert_array_equal(features[0], [2, 1, 1, 4, 2])  # atom counts, nodes, bonds


def test_bad_input_is_named(tmp_path):
    with pytest.raises(SystemExit, match="not a directory"):
        gc.main(["--quick", "--output-dir", str(tmp_path / "a"), "--data-dir", str(tmp_path / "missing")])
    with pytest.raises(FileNotFoundError, match="NOPE_A.txt"):
        gc.main(["--quick", "--output-dir", str(tmp_path / "b"), "--data-dir", str(tmp_path), "--dataset", "NOPE"])
    synthetic_tu(tmp_path, name="ONE", labels=(3,))
    with pytest.raises(SystemExit, match="single class"):
        gc.main(["--quick", "--output-dir", str(tmp_path / "c"), "--data-dir", str(tmp_path), "--dataset", "ONE"])
    with pytest.raises(SystemExit):  # argparse: invalid choice
        gc.main(["--quick", "--output-dir", str(tmp_path / "d"), "--pool", "median"])


def test_graphtensor_input_pipeline_in_a_fresh_interpreter(tmp_path):
    """tensorflow-gnn needs tf.keras = Keras 2, which other tests (keras_hub) may have
    switched to Keras 3 in this process: run the recipe as a user would."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run(
        [sys.executable, "-m", "recipes.graph_classification", "--quick", "--format", "graphtensor",
         "--pool", "diffpool", "--max-folds", "1", "--output-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "GraphTensors" in result.stdout
    report = json.loads((tmp_path / "metrics.json").read_text())
    check_report(report, tmp_path)
    assert report["config"]["format"] == "graphtensor"
    schema = (tmp_path / "graphs.tfrecord.schema.pbtxt").read_text()
    assert 'node_sets' in schema and '"nodes"' in schema and '"edges"' in schema
    example = dict(np.load(tmp_path / "serving_example.npz"))
    served, expected = served_and_keras(tmp_path, example)
    np.testing.assert_allclose(served, expected, rtol=1e-4, atol=1e-5)
