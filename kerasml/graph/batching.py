"""Batching many graphs: disjoint mode for message passing, dense padded mode for
DiffPool and other dense poolers.

Disjoint mode stacks the graphs into one big graph with no edges between them:
``x`` [sum N_i, F], ``edge_index`` [2, sum E_i] (offset per graph) and
``graph_index`` [sum N_i] naming each node's graph. Dense mode pads every graph
to ``max_nodes``: ``x`` [B, N, F], ``adj`` [B, N, N] and ``mask`` [B, N].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from kerasml.graph.data import Graph


def _labels(graphs: Sequence[Graph]) -> np.ndarray | None:
    if any(g.y is None for g in graphs):
        return None
    ranks = {g.y.ndim for g in graphs}
    if ranks == {0}:  # one label per graph
        return np.array([g.y for g in graphs])
    if ranks == {1}:  # node labels
        return np.concatenate([g.y for g in graphs])
    raise ValueError("mixing graph labels (scalar y) and node labels ([N] y) in one batch.")


def disjoint_batch(graphs: Sequence[Graph]) -> dict[str, np.ndarray]:
    """Merge graphs into one disjoint graph.

    Returns:
        A dict with ``x`` [N, F], ``edge_index`` [2, E] int32, ``graph_index`` [N]
        int32, ``edge_weight`` / ``edge_type`` [E] when every graph has them, and
        ``y``: graph labels [B] (scalar ``Graph.y``) or node labels [N].
        Empty graphs are allowed; they own no rows (global pools give them zeros
        as long as ``num_graphs`` is passed when they come last).

    Example:
        >>> batch = disjoint_batch([karate_club(), karate_club()])
        >>> batch["x"].shape, batch["edge_index"].shape, batch["graph_index"].tolist()[-1]
        ((68, 34), (2, 312), 1)
    """
    if not graphs:
        raise ValueError("disjoint_batch needs at least one graph.")
    sizes = np.array([g.num_nodes for g in graphs])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    batch = {
        "x": np.concatenate([g.x for g in graphs]),
        "edge_index": np.concatenate(
            [g.edge_index + o for g, o in zip(graphs, offsets)], axis=1
        ).astype(np.int32),
        "graph_index": np.repeat(np.arange(len(graphs), dtype=np.int32), sizes),
    }
    for name in ("edge_weight", "edge_type"):
        if all(getattr(g, name) is not None for g in graphs):
            batch[name] = np.concatenate([getattr(g, name) for g in graphs])
    y = _labels(graphs)
    if y is not None:
        batch["y"] = y
    return batch


def dense_batch(graphs: Sequence[Graph], max_nodes: int | None = None) -> dict[str, np.ndarray]:
    """Pad graphs to a common size.

    Args:
        graphs: the graphs.
        max_nodes: padded size N (default: the largest graph). A fixed value keeps
            shapes static across batches.

    Returns:
        A dict with ``x`` [B, N, F], ``adj`` [B, N, N] (``adj[b, target, source]``
        = edge weight), ``mask`` [B, N] bool (True = real node) and ``y``:
        graph labels [B] or node labels padded to [B, N].
    """
    largest = max(g.num_nodes for g in graphs)
    max_nodes = largest if max_nodes is None else max_nodes
    if largest > max_nodes:
        raise ValueError(
            f"a graph has {largest} nodes, more than max_nodes={max_nodes}: raise "
            "max_nodes or drop the largest graphs."
        )
    b, f = len(graphs), graphs[0].num_features
    x = np.zeros((b, max_nodes, f), np.float32)
    adj = np.zeros((b, max_nodes, max_nodes), np.float32)
    mask = np.zeros((b, max_nodes), bool)
    for i, g in enumerate(graphs):
        x[i, : g.num_nodes] = g.x
        adj[i, : g.num_nodes, : g.num_nodes] = g.dense_adjacency()
        mask[i, : g.num_nodes] = True
    batch = {"x": x, "adj": adj, "mask": mask}
    y = _labels(graphs)
    if y is not None and graphs[0].y.ndim == 1:  # node labels: pad like x
        padded = np.zeros((b, max_nodes), y.dtype)
        padded[mask] = y
        y = padded
    if y is not None:
        batch["y"] = y
    return batch


def iterate_batches(
    graphs: Sequence[Graph],
    batch_size: int,
    mode: str = "disjoint",
    shuffle: bool = False,
    seed: int | np.random.Generator | None = None,
    max_nodes: int | None = None,
) -> Iterator[dict[str, np.ndarray]]:
    """One epoch of batches (``mode`` = "disjoint" or "dense"), shuffled reproducibly.

    ``seed`` may be an int (the same order on every call) or a
    ``np.random.Generator`` (a new, reproducible order on every call: one per epoch).

    Build a ``tf.data.Dataset`` from it with :func:`disjoint_signature` /
    :func:`dense_signature` (shapes vary between batches, so Keras cannot infer them
    from a peek at the first batches)::

        tf.data.Dataset.from_generator(
            lambda: iterate_batches(train, 32), output_signature=disjoint_signature(train))
    """
    order = np.arange(len(graphs))
    if shuffle:
        order = np.random.default_rng(seed).permutation(order)
    for start in range(0, len(order), batch_size):
        chunk = [graphs[i] for i in order[start : start + batch_size]]
        if mode == "disjoint":
            yield disjoint_batch(chunk)
        elif mode == "dense":
            yield dense_batch(chunk, max_nodes)
        else:
            raise ValueError(f"mode must be 'disjoint' or 'dense'; got {mode!r}.")


def disjoint_signature(graphs: Sequence[Graph]) -> dict:
    """``tf.TensorSpec`` dict matching :func:`disjoint_batch` of these graphs."""
    example = disjoint_batch(graphs[:1])
    fixed = {"x": [None, example["x"].shape[1]], "edge_index": [2, None]}
    return tensor_signature(example, fixed)


def dense_signature(graphs: Sequence[Graph], max_nodes: int | None = None) -> dict:
    """``tf.TensorSpec`` dict matching :func:`dense_batch` (N fixed when ``max_nodes`` is)."""
    example = dense_batch(graphs[:1], max_nodes)
    n = max_nodes
    fixed = {"x": [None, n, example["x"].shape[2]], "adj": [None, n, n], "mask": [None, n]}
    if "y" in example:
        fixed["y"] = [None] if example["y"].ndim == 1 else [None, n]
    return tensor_signature(example, fixed)


def tensor_signature(example: dict, shapes: dict) -> dict:
    """TensorSpecs with the dtypes of ``example`` and the given shapes ([None] if absent)."""
    import tensorflow as tf  # tf.data only; the layers stay backend-agnostic

    return {
        key: tf.TensorSpec(shapes.get(key, [None]), tf.as_dtype(value.dtype))
        for key, value in example.items()
    }
