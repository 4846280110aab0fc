"""GraphTensor (tensorflow-gnn) <-> kerasml graphs, and GraphTensor input pipelines.

TF-GNN's ``GraphTensor`` is a composite tensor that a Keras 3 model cannot take
as input. Use it where it shines, storing graphs as ``tf.train.Example`` with a
schema and reading them with ``tf.data``, and convert it to the plain tensors
of DESIGN.md inside the pipeline::

    write_tfrecord(dataset.graphs, "train.tfrecord")          # + train.tfrecord.schema.pbtxt
    ds = read_tfrecord("train.tfrecord", batch_size=32).map(graph_tensor_to_inputs)
    # elements: ({"x", "edge_index", "graph_index"}, y) for a Keras 3 model

Graphs are stored homogeneously: node set ``"nodes"`` (features
``hidden_state`` = x, ``label`` for node labels, ``train_mask`` / ``val_mask``
/ ``test_mask``), edge set ``"edges"`` (``weight``, ``edge_type``) and the
context (``label`` for a graph label).

tensorflow-gnn 1.x runs on Keras 2 (``tf.keras`` from the ``tf-keras``
package). :func:`import_tfgnn` sets ``TF_USE_LEGACY_KERAS=1`` and imports it on
first use; Keras 3 (``import keras``) is unaffected, in the same process, since
it never goes through ``tf.keras``. It must happen before anything resolves
``tf.keras`` to Keras 3: ``tensorflow_text`` (imported by ``keras_hub``) does,
so import this module's functions first in a process that needs both.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from kerasml.graph.data import Graph

NODES = "nodes"
EDGES = "edges"
_MASKS = ("train_mask", "val_mask", "test_mask")


def import_tfgnn():
    """Return ``tensorflow_gnn``, importing it with the legacy ``tf.keras`` it needs."""
    if "tensorflow_gnn" in sys.modules:
        return sys.modules["tensorflow_gnn"]
    # Read by TensorFlow when tf.keras is first resolved; keras 3 ignores it.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    try:
        import tensorflow_gnn
    except ImportError as err:
        raise ImportError(
            f"tensorflow-gnn could not be imported ({err}). It needs the tf-keras package "
            "(pip install tf-keras) and tf.keras must not have been resolved to Keras 3 "
            "earlier in this process (keras_hub / tensorflow_text do that): import "
            "kerasml.graph.tfgnn and call its functions before importing keras_hub, or "
            "start Python with TF_USE_LEGACY_KERAS=1."
        ) from err
    return tensorflow_gnn


def to_graph_tensor(graph: Graph):
    """A scalar ``tfgnn.GraphTensor`` with one component holding ``graph``."""
    import tensorflow as tf

    tfgnn = import_tfgnn()
    node_features = {tfgnn.HIDDEN_STATE: tf.constant(graph.x)}
    context_features = {}
    if graph.y is not None:
        if graph.y.ndim == 0:
            context_features["label"] = tf.constant(graph.y.reshape(1))
        else:
            node_features["label"] = tf.constant(graph.y)
    for name in _MASKS:
        if getattr(graph, name) is not None:
            node_features[name] = tf.constant(getattr(graph, name))
    edge_features = {}
    if graph.edge_weight is not None:
        edge_features["weight"] = tf.constant(graph.edge_weight)
    if graph.edge_type is not None:
        edge_features["edge_type"] = tf.constant(graph.edge_type)
    return tfgnn.GraphTensor.from_pieces(
        context=tfgnn.Context.from_fields(features=context_features, sizes=[1]),
        node_sets={
            NODES: tfgnn.NodeSet.from_fields(sizes=[graph.num_nodes], features=node_features)
        },
        edge_sets={
            EDGES: tfgnn.EdgeSet.from_fields(
                sizes=[graph.num_edges],
                adjacency=tfgnn.Adjacency.from_indices(
                    source=(NODES, tf.constant(graph.edge_index[0])),
                    target=(NODES, tf.constant(graph.edge_index[1])),
                ),
                features=edge_features,
            )
        },
    )


def graph_tensor_to_inputs(graph_tensor, label: bool = True):
    """Plain model inputs from a GraphTensor; traceable, for ``tf.data`` ``map``.

    A batched (rank-1) GraphTensor is merged into one disjoint graph first.

    Args:
        graph_tensor: a GraphTensor laid out as :func:`to_graph_tensor` writes it.
        label: also return the labels (context ``label`` [num_graphs], else node
            ``label`` [N]) when present.

    Returns:
        ``inputs`` = {``x`` [N, F], ``edge_index`` [2, E] int32, ``graph_index`` [N]
        int32, plus ``edge_weight`` / ``edge_type`` [E] when stored}, or
        ``(inputs, y)``.
    """
    import tensorflow as tf

    tfgnn = import_tfgnn()
    if graph_tensor.rank > 0:
        graph_tensor = graph_tensor.merge_batch_to_components()
    nodes, edges = graph_tensor.node_sets[NODES], graph_tensor.edge_sets[EDGES]
    adjacency = edges.adjacency
    sizes = nodes.sizes
    inputs = {
        "x": nodes[tfgnn.HIDDEN_STATE],
        "edge_index": tf.cast(tf.stack([adjacency.source, adjacency.target]), tf.int32),
        "graph_index": tf.repeat(tf.range(tf.size(sizes), dtype=tf.int32), sizes),
    }
    for name in ("weight", "edge_type"):
        if name in edges.features:
            inputs["edge_weight" if name == "weight" else name] = edges[name]
    if not label:
        return inputs
    if "label" in graph_tensor.context.features:
        return inputs, graph_tensor.context["label"]
    if "label" in nodes.features:
        return inputs, nodes["label"]
    return inputs


def from_graph_tensor(graph_tensor) -> Graph:
    """The :class:`Graph` held by an eager, single-component GraphTensor."""
    if graph_tensor.rank > 0:
        graph_tensor = graph_tensor.merge_batch_to_components()
    components = int(graph_tensor.node_sets[NODES].sizes.shape[0])
    if components != 1:
        raise ValueError(
            f"from_graph_tensor needs a GraphTensor with one graph; this one has {components}. "
            "Use graph_tensor_to_inputs for batches."
        )
    inputs, *labels = _as_tuple(graph_tensor_to_inputs(graph_tensor))
    nodes = graph_tensor.node_sets[NODES]
    y = None
    if labels:
        y = labels[0].numpy()
        y = y.reshape(()) if "label" in graph_tensor.context.features else y
    masks = {name: nodes[name].numpy() for name in _MASKS if name in nodes.features}
    return Graph(
        x=inputs["x"].numpy(),
        edge_index=inputs["edge_index"].numpy(),
        edge_weight=_numpy_or_none(inputs.get("edge_weight")),
        edge_type=_numpy_or_none(inputs.get("edge_type")),
        y=y,
        **masks,
    )


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def _numpy_or_none(tensor):
    return None if tensor is None else np.asarray(tensor)


def write_tfrecord(graphs, path: str, schema_path: str | None = None) -> str:
    """Write graphs as ``tf.train.Example`` records with tensorflow-gnn's encoder.

    The graph schema (``tfgnn.create_schema_pb_from_graph_spec``) goes to
    ``schema_path`` (default ``path + ".schema.pbtxt"``), which is returned.
    All graphs must carry the same fields (features, labels, weights).
    """
    import tensorflow as tf

    tfgnn = import_tfgnn()
    schema_path = schema_path or path + ".schema.pbtxt"
    spec = None
    with tf.io.TFRecordWriter(path) as writer:
        for graph in graphs:
            graph_tensor = to_graph_tensor(graph)
            if spec is None:
                spec = graph_tensor.spec
                tfgnn.write_schema(tfgnn.create_schema_pb_from_graph_spec(graph_tensor), schema_path)
            writer.write(tfgnn.write_example(graph_tensor).SerializeToString())
    if spec is None:
        raise ValueError("write_tfrecord needs at least one graph.")
    return schema_path


def read_tfrecord(path: str, schema_path: str | None = None, batch_size: int | None = None):
    """``tf.data.Dataset`` of GraphTensors parsed by ``tfgnn.parse_example``.

    With ``batch_size`` the elements are rank-1 GraphTensors of that many graphs
    (the last may be smaller); map :func:`graph_tensor_to_inputs` over them to
    get disjoint-mode inputs.
    """
    import tensorflow as tf

    tfgnn = import_tfgnn()
    schema = tfgnn.read_schema(schema_path or path + ".schema.pbtxt")
    spec = tfgnn.create_graph_spec_from_schema_pb(schema)
    dataset = tf.data.TFRecordDataset(path)
    if batch_size is None:
        return dataset.map(lambda s: tfgnn.parse_single_example(spec, s))
    return dataset.batch(batch_size).map(lambda s: tfgnn.parse_example(spec, s))
