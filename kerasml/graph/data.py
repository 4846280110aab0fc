"""The graph containers every loader returns, networkx conversion and the karate club.

Conventions (see DESIGN.md): ``x`` [N, F] float32; ``edge_index`` [2, E] int32,
row 0 = source, row 1 = target (a message flows source -> target; an undirected
graph lists both directions); optional ``edge_weight`` [E] float32 and
``edge_type`` [E] int32; node labels ``y`` [N] or one graph label ``y`` [].

Loaders live in :mod:`kerasml.graph.loaders`, generators in
:mod:`kerasml.graph.synthetic`, batching in :mod:`kerasml.graph.batching` and
neighbour sampling in :mod:`kerasml.graph.sampling`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerasml.graph.checks import check_edge_index_shape, check_features, check_node_ids


@dataclasses.dataclass
class Graph:
    """One graph as NumPy arrays, validated on construction.

    Args:
        x: node features [N, F].
        edge_index: [2, E] node ids, row 0 = source, row 1 = target.
        edge_weight: optional [E] edge weights.
        edge_type: optional [E] integer relation ids (for relational convolutions).
        y: node labels [N], or a graph label (scalar), or None.
        train_mask, val_mask, test_mask: optional boolean [N] node splits.

    Example:
        >>> g = Graph(x=np.eye(3), edge_index=[[0, 1], [1, 2]], y=np.array([0, 1, 1]))
        >>> g.num_nodes, g.num_edges, g.num_classes
        (3, 2, 2)
    """

    x: np.ndarray
    edge_index: np.ndarray
    edge_weight: np.ndarray | None = None
    edge_type: np.ndarray | None = None
    y: np.ndarray | None = None
    train_mask: np.ndarray | None = None
    val_mask: np.ndarray | None = None
    test_mask: np.ndarray | None = None

    def __post_init__(self):
        self.x = np.asarray(self.x, dtype=np.float32)
        check_features(self.x)
        edge_index = np.asarray(self.edge_index)
        if edge_index.size == 0:
            edge_index = edge_index.reshape(2, 0)
        check_edge_index_shape(edge_index)
        if not np.issubdtype(edge_index.dtype, np.integer):
            raise ValueError(f"edge_index must hold integer node ids; got dtype {edge_index.dtype}.")
        check_node_ids(edge_index, self.num_nodes)
        self.edge_index = edge_index.astype(np.int32)
        for name, dtype in (("edge_weight", np.float32), ("edge_type", np.int32)):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=dtype)
                if value.shape != (self.num_edges,):
                    raise ValueError(
                        f"{name} must have shape [num_edges] = [{self.num_edges}]; "
                        f"got {value.shape}."
                    )
                setattr(self, name, value)
        if self.edge_type is not None and self.num_edges and self.edge_type.min() < 0:
            raise ValueError("edge_type must hold relation ids 0..R-1; found a negative id.")
        if self.y is not None:
            self.y = np.asarray(self.y)
        for name in ("train_mask", "val_mask", "test_mask"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=bool)
                if value.shape != (self.num_nodes,):
                    raise ValueError(
                        f"{name} must be a boolean array of shape [{self.num_nodes}]; "
                        f"got {value.shape}."
                    )
                setattr(self, name, value)

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    @property
    def num_features(self) -> int:
        return self.x.shape[1]

    @property
    def num_classes(self) -> int | None:
        """Number of label values (labels are 0..C-1), or None without labels."""
        return None if self.y is None else int(self.y.max()) + 1

    @property
    def num_relations(self) -> int | None:
        return None if self.edge_type is None else int(self.edge_type.max(initial=-1)) + 1

    def inputs(self) -> dict[str, np.ndarray]:
        """The model inputs in disjoint mode: ``x``, ``edge_index`` (+ weights, types)."""
        out = {"x": self.x, "edge_index": self.edge_index}
        if self.edge_weight is not None:
            out["edge_weight"] = self.edge_weight
        if self.edge_type is not None:
            out["edge_type"] = self.edge_type
        return out

    def dense_adjacency(self) -> np.ndarray:
        """[N, N] adjacency with ``A[target, source]`` = edge weight (summed over repeats).

        Rows are targets, so ``A @ x`` sums each node's incoming messages.
        """
        adj = np.zeros((self.num_nodes, self.num_nodes), np.float32)
        weight = np.ones(self.num_edges, np.float32) if self.edge_weight is None else self.edge_weight
        np.add.at(adj, (self.edge_index[1], self.edge_index[0]), weight)
        return adj


@dataclasses.dataclass
class GraphDataset:
    """A list of graphs with one label each, for graph classification.

    Args:
        graphs: the graphs (``Graph.y`` holds each graph's label).
        name: a short description for reports.
        folds: optional list of (train_indices, test_indices) pairs, e.g. the
            published 10-fold splits of the TU benchmarks.
    """

    graphs: list[Graph]
    name: str = "graphs"
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self.graphs[index]
        if isinstance(index, slice):
            return GraphDataset(self.graphs[index], name=self.name)
        return GraphDataset([self.graphs[i] for i in np.asarray(index)], name=self.name)

    @property
    def y(self) -> np.ndarray:
        return np.array([int(g.y) for g in self.graphs], dtype=np.int32)

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1

    @property
    def num_features(self) -> int:
        return self.graphs[0].num_features


def split_masks(
    y: np.ndarray,
    train_per_class: int,
    num_val: int,
    num_test: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reproducible Planetoid-style split: ``train_per_class`` nodes per class, then
    ``num_val`` validation and ``num_test`` test nodes (default: all the rest).

    Returns boolean masks (train, val, test) of shape [N].
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    n = y.shape[0]
    train = np.zeros(n, bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if members.size <= train_per_class:
            raise ValueError(
                f"class {c} has only {members.size} nodes; lower train_per_class "
                f"(={train_per_class}) so that every class keeps test nodes."
            )
        train[rng.choice(members, train_per_class, replace=False)] = True
    rest = rng.permutation(np.flatnonzero(~train))
    if num_test is None:
        num_test = rest.size - num_val
    if num_val + num_test > rest.size or num_test <= 0:
        raise ValueError(
            f"{rest.size} nodes remain after training; cannot take num_val={num_val} "
            f"and num_test={num_test}."
        )
    val = np.zeros(n, bool)
    test = np.zeros(n, bool)
    val[rest[:num_val]] = True
    test[rest[num_val : num_val + num_test]] = True
    return train, val, test


def from_networkx(
    graph,
    x_attr: str | None = None,
    y_attr: str | None = None,
    edge_weight_attr: str | None = None,
) -> Graph:
    """Convert a networkx graph; nodes are numbered in ``graph.nodes`` order.

    Args:
        graph: a ``networkx.Graph`` (both directions become edges) or ``DiGraph``.
        x_attr: node attribute holding a feature vector; None gives one-hot node
            ids (the identity features of featureless graphs, Kipf & Welling 2017).
        y_attr: node attribute holding the label; values are mapped to 0..C-1 in
            sorted order.
        edge_weight_attr: edge attribute holding the weight, or None.
    """
    nodes = list(graph.nodes)
    position = {node: i for i, node in enumerate(nodes)}
    edges = [
        (position[u], position[v], d.get(edge_weight_attr, 1.0) if edge_weight_attr else 1.0)
        for u, v, d in graph.edges(data=True)
    ]
    if not graph.is_directed():
        # networkx stores an undirected edge once; messages must flow both ways.
        edges += [(v, u, w) for u, v, w in edges if u != v]
    src, dst, weight = (list(column) for column in zip(*edges)) if edges else ([], [], [])
    if x_attr is None:
        x = np.eye(len(nodes), dtype=np.float32)
    else:
        x = np.stack([np.atleast_1d(np.asarray(graph.nodes[n][x_attr], np.float32)) for n in nodes])
    y = None
    if y_attr is not None:
        values = [graph.nodes[n][y_attr] for n in nodes]
        classes = sorted(set(values))
        y = np.array([classes.index(v) for v in values], dtype=np.int32)
    edge_index = np.array([src, dst], dtype=np.int64).reshape(2, -1)
    weight = weight if edge_weight_attr else None
    return Graph(x=x, edge_index=edge_index, edge_weight=weight, y=y)


def karate_club(train_per_class: int = 4, num_val: int = 10, seed: int = 0) -> Graph:
    """Zachary's karate club (networkx): 34 members, 78 friendships, 2 clubs.

    The tiny real default for node classification: predict which club each
    member joined after the split. Features are one-hot node ids; the split
    (``train_per_class`` labelled members per club, ``num_val`` validation, the
    rest test) is drawn reproducibly from ``seed``.
    """
    import networkx as nx

    graph = from_networkx(nx.karate_club_graph(), y_attr="club")
    graph.train_mask, graph.val_mask, graph.test_mask = split_masks(
        graph.y, train_per_class, num_val, seed=seed
    )
    return graph
