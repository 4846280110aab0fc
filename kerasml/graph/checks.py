"""Validation of graph arrays, shared by the data side and the layers.

Every message says what is wrong *and* what to change, because a bad
``edge_index`` otherwise surfaces deep inside a gather or a segment op as an
index error (CPU) or as silently wrong numbers (GPU gathers clip).
"""

from __future__ import annotations

import numpy as np


def check_features(x, name: str = "x", rank: int = 2) -> None:
    """Raise ValueError unless ``x`` has the given rank (2: [num_nodes, num_features])."""
    check_feature_shape(tuple(x.shape) if hasattr(x, "shape") else np.shape(x), name, rank)


def check_feature_shape(shape, name: str = "x", rank: int = 2) -> None:
    """``check_features`` for a shape tuple (as ``Layer.build`` receives it)."""
    shape = tuple(shape)
    if len(shape) != rank:
        layout = {2: "[num_nodes, num_features]", 3: "[batch, max_nodes, num_features]"}[rank]
        hint = " (add a feature axis: x[:, None])" if len(shape) == rank - 1 else ""
        raise ValueError(
            f"{name} must have rank {rank}, {layout}; got shape {shape}{hint}."
        )


def check_edge_index_shape(edge_index, name: str = "edge_index") -> None:
    """Raise ValueError unless ``edge_index`` is [2, num_edges]."""
    shape = tuple(edge_index.shape)
    if len(shape) != 2 or (shape[0] is not None and shape[0] != 2):
        hint = ""
        if len(shape) == 2 and shape[1] == 2:
            hint = " It looks like [num_edges, 2]: pass its transpose."
        raise ValueError(
            f"{name} must have shape [2, num_edges] (row 0 = source node, row 1 = "
            f"target node); got shape {shape}.{hint}"
        )


def check_node_ids(ids, num_nodes: int, name: str = "edge_index") -> None:
    """Raise ValueError if any id in ``ids`` is negative or >= ``num_nodes``."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return
    low, high = ids.min(), ids.max()
    if low < 0:
        raise ValueError(
            f"{name} contains the negative node id {low}; node ids must be 0-based "
            f"row numbers of x (0..{num_nodes - 1})."
        )
    if high >= num_nodes:
        raise ValueError(
            f"{name} refers to node {high}, but there are only {num_nodes} nodes "
            f"(ids 0..{num_nodes - 1}). Use 0-based ids (subtract 1 from 1-based files) "
            "or pass the missing rows of x."
        )


def check_graph_index(graph_index, num_nodes: int, name: str = "graph_index") -> None:
    """Raise ValueError unless ``graph_index`` is [num_nodes] with non-negative ids."""
    graph_index = np.asarray(graph_index)
    if graph_index.ndim != 1 or graph_index.shape[0] != num_nodes:
        raise ValueError(
            f"{name} must have shape [num_nodes] = [{num_nodes}] (the graph id of each "
            f"node); got shape {graph_index.shape}."
        )
    if graph_index.size and graph_index.min() < 0:
        raise ValueError(f"{name} contains the negative graph id {graph_index.min()}.")


def concrete(t):
    """NumPy value of ``t`` when it has one (eager call), else None (symbolic tracing).

    Keras layers cannot raise Python errors from inside a traced graph, so value
    checks (index ranges) run on eager calls only; rank checks always run.
    """
    if isinstance(t, np.ndarray):
        return t
    try:
        import keras

        return keras.ops.convert_to_numpy(t)
    except Exception:  # a symbolic tensor: no value to check yet
        return None
