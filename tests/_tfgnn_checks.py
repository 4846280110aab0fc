"""GraphTensor conversion and I/O with tensorflow-gnn, run by test_graph_tfgnn.py in
a fresh interpreter (see there why). Tests run in file order: the first one
uses Keras 3 *before* tensorflow-gnn is imported."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasml.graph import (
    GCNConv,
    Graph,
    GlobalMeanPool,
    disjoint_batch,
    karate_club,
    molecule_graphs,
)


def small_model(features):
    x = keras.Input((features,), name="x")
    edge_index = keras.Input((None,), batch_size=2, dtype="int32", name="edge_index")
    graph_index = keras.Input((), dtype="int32", name="graph_index")
    h = GCNConv(8, activation="relu")(x, edge_index)
    out = keras.layers.Dense(2)(GlobalMeanPool()(h, graph_index))
    model = keras.Model({"x": x, "edge_index": edge_index, "graph_index": graph_index}, out)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_keras3_keeps_working_after_tfgnn_switches_tf_keras_to_legacy(tmp_path):
    before = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    before.compile("adam", "mse")
    before.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)

    from kerasml.graph.tfgnn import import_tfgnn

    tfgnn = import_tfgnn()
    assert tf.keras.__name__.startswith("tf_keras")  # tf-gnn got its Keras 2
    assert keras.__version__.startswith("3.")
    assert tfgnn.keras.layers.GraphUpdate is not None

    after = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    after.compile("adam", "mse")
    after.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    after.save(tmp_path / "m.keras")
    np.testing.assert_allclose(
        keras.saving.load_model(tmp_path / "m.keras").predict(np.ones((1, 3)), verbose=0),
        after.predict(np.ones((1, 3)), verbose=0),
    )
    after.export(str(tmp_path / "sm"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(reloaded.serve(np.ones((1, 3), "float32")).numpy(),
                               after.predict(np.ones((1, 3)), verbose=0), atol=1e-6)


def assert_same_graph(a: Graph, b: Graph):
    for field in ("x", "edge_index", "edge_weight", "edge_type", "y",
                  "train_mask", "val_mask", "test_mask"):
        left, right = getattr(a, field), getattr(b, field)
        assert (left is None) == (right is None), field
        if left is not None:
            np.testing.assert_array_equal(left, right, err_msg=field)


def test_graph_tensor_round_trip_keeps_every_field():
    from kerasml.graph.tfgnn import from_graph_tensor, to_graph_tensor

    karate = karate_club()
    graph_tensor = to_graph_tensor(karate)
    assert graph_tensor.node_sets["nodes"].sizes.numpy().tolist() == [34]
    assert graph_tensor.edge_sets["edges"].adjacency.source.shape == (156,)
    assert_same_graph(from_graph_tensor(graph_tensor), karate)

    molecule = molecule_graphs(1, seed=0).graphs[0]
    molecule.edge_weight = np.linspace(0.1, 1.0, molecule.num_edges).astype("float32")
    molecule.edge_type = (np.arange(molecule.num_edges) % 3).astype("int32")
    graph_tensor = to_graph_tensor(molecule)
    assert graph_tensor.context["label"].numpy().tolist() == [int(molecule.y)]
    assert_same_graph(from_graph_tensor(graph_tensor), molecule)


def test_tfrecord_written_and_parsed_with_tfgnn_schema_matches_numpy_batching(tmp_path):
    from kerasml.graph.tfgnn import graph_tensor_to_inputs, import_tfgnn, read_tfrecord, write_tfrecord

    tfgnn = import_tfgnn()
    graphs = molecule_graphs(7, seed=1).graphs
    path = str(tmp_path / "graphs.tfrecord")
    schema_path = write_tfrecord(graphs, path)
    schema = tfgnn.read_schema(schema_path)
    assert set(schema.node_sets) == {"nodes"} and set(schema.edge_sets) == {"edges"}
    assert "hidden_state" in schema.node_sets["nodes"].features
    assert "label" in schema.context.features

    batches = list(read_tfrecord(path, batch_size=4).map(graph_tensor_to_inputs))
    assert len(batches) == 2
    for (inputs, y), chunk in zip(batches, (graphs[:4], graphs[4:])):
        expected = disjoint_batch(chunk)
        for key in ("x", "edge_index", "graph_index"):
            np.testing.assert_array_equal(inputs[key].numpy(), expected[key], err_msg=key)
        np.testing.assert_array_equal(y.numpy(), expected["y"])


def test_multi_graph_tensor_needs_the_batch_function(tmp_path):
    from kerasml.graph.tfgnn import from_graph_tensor, read_tfrecord, write_tfrecord

    graphs = molecule_graphs(3, seed=2).graphs
    path = str(tmp_path / "three.tfrecord")
    write_tfrecord(graphs, path)
    batch = next(iter(read_tfrecord(path, batch_size=3)))
    with pytest.raises(ValueError, match="graph_tensor_to_inputs"):
        from_graph_tensor(batch)


def test_graph_tensor_pipeline_trains_and_exports_a_keras3_model(tmp_path):
    from kerasml.graph.tfgnn import graph_tensor_to_inputs, read_tfrecord, write_tfrecord

    graphs = molecule_graphs(16, seed=3).graphs
    path = str(tmp_path / "train.tfrecord")
    write_tfrecord(graphs, path)
    dataset = read_tfrecord(path, batch_size=8).map(graph_tensor_to_inputs)
    model = small_model(4)
    history = model.fit(dataset, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))

    inputs, _ = next(iter(dataset))
    model.export(str(tmp_path / "sm"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(reloaded.serve(inputs).numpy(), model(inputs).numpy(), atol=1e-5)
