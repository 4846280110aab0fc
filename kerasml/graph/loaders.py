"""Loaders for the graph files people download: Planetoid (Cora, CiteSeer, PubMed)
and the TU Dortmund graph-classification format (MUTAG, PROTEINS, ...).
"""

from __future__ import annotations

import collections
import os
import pickle

import numpy as np
import scipy.sparse as sp

from kerasml.graph.data import Graph, GraphDataset

PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data/"
_PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


def _reconstruct():
    # numpy 2 moved numpy.core to numpy._core; pickles name the old module.
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# The only globals the Planetoid pickles reference (Python 2 names included).
# Anything else, above all callables such as os.system, is refused: a pickle
# can run arbitrary code through any global it is allowed to name.
_PLANETOID_GLOBALS = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("scipy.sparse.csr", "csr_matrix"): lambda: sp.csr_matrix,
    ("scipy.sparse._csr", "csr_matrix"): lambda: sp.csr_matrix,
    ("collections", "defaultdict"): lambda: collections.defaultdict,
    ("__builtin__", "list"): lambda: list,
    ("builtins", "list"): lambda: list,
}


class _PlanetoidUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the numpy/scipy classes Planetoid files use."""

    def __init__(self, file, path):
        super().__init__(file, encoding="latin1")  # the files were pickled by Python 2
        self._path = path

    def find_class(self, module, name):
        allowed = _PLANETOID_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name} from {self._path}: Planetoid files "
                "hold only numpy arrays, scipy CSR matrices and adjacency lists, and "
                "anything else could execute code. Re-download the file from "
                f"{PLANETOID_URL}."
            )
        return allowed()


def safe_unpickle(path: str):
    """Load a Planetoid pickle, refusing every global but numpy/scipy/list/defaultdict."""
    with open(path, "rb") as f:
        obj = _PlanetoidUnpickler(f, path).load()
    if isinstance(obj, sp.csr_matrix):
        # Rebuild from the raw arrays: the pickled __dict__ comes from an old scipy.
        obj = sp.csr_matrix((obj.data, obj.indices, obj.indptr), shape=obj._shape)
    return obj


def load_planetoid(data_dir: str, name: str = "cora", normalize_features: bool = False) -> Graph:
    """Read the ``ind.<name>.*`` files of the Planetoid split (Yang et al. 2016).

    Follows Kipf & Welling's ``load_data``: test nodes are re-ordered to their ids,
    the 140/500/1000 style split is ``y`` rows / the next 500 / ``test.index``;
    edges are symmetrised, deduplicated and self-loops dropped (convolutions add
    their own). CiteSeer's isolated test nodes get zero features and label 0.

    Args:
        data_dir: folder holding ``ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}``.
        name: ``cora``, ``citeseer`` or ``pubmed``.
        normalize_features: divide each feature row by its sum (as GCN/GAT do).

    Returns:
        A :class:`Graph` with ``y`` [N] and train/val/test masks.
    """
    name = name.lower()
    paths = {part: os.path.join(data_dir, f"ind.{name}.{part}") for part in _PLANETOID_PARTS}
    missing = [p for p in paths.values() if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(
            f"Planetoid files missing: {', '.join(missing)}. Download ind.{name}.* from "
            f"{PLANETOID_URL} into {data_dir}."
        )
    x, y, tx, ty, allx, ally, adjacency = (
        safe_unpickle(paths[p]) for p in ("x", "y", "tx", "ty", "allx", "ally", "graph")
    )
    test_index = np.loadtxt(paths["test.index"], dtype=np.int64).reshape(-1)
    test_sorted = np.sort(test_index)
    if name == "citeseer":
        # Some CiteSeer test nodes are isolated and absent from tx/ty: pad with zeros.
        full = np.arange(test_sorted.min(), test_sorted.max() + 1)
        tx_full = sp.lil_matrix((full.size, tx.shape[1]), dtype=tx.dtype)
        tx_full[test_sorted - full.min(), :] = tx
        ty_full = np.zeros((full.size, ty.shape[1]), ty.dtype)
        ty_full[test_sorted - full.min(), :] = ty
        tx, ty = tx_full, ty_full

    features = sp.vstack((allx, tx)).tolil()
    features[test_index, :] = features[test_sorted, :]
    labels = np.vstack((ally, ty))
    labels[test_index, :] = labels[test_sorted, :]
    features = np.asarray(features.todense(), dtype=np.float32)
    if normalize_features:
        features /= np.maximum(features.sum(axis=1, keepdims=True), 1.0)

    num_nodes = features.shape[0]
    src = np.array([s for s, targets in adjacency.items() for _ in targets], dtype=np.int64)
    dst = np.array([t for targets in adjacency.values() for t in targets], dtype=np.int64)
    pairs = np.unique(np.concatenate([np.stack([src, dst]), np.stack([dst, src])], 1), axis=1)
    pairs = pairs[:, pairs[0] != pairs[1]]

    def mask(index):
        m = np.zeros(num_nodes, bool)
        m[index] = True
        return m

    num_train = y.shape[0]
    return Graph(
        x=features,
        edge_index=pairs[::-1],  # sorted by target: friendlier memory access in gathers
        y=labels.argmax(1).astype(np.int32),
        train_mask=mask(np.arange(num_train)),
        # The 500 nodes after the training nodes (fewer in sets smaller than Cora's).
        val_mask=mask(np.arange(num_train, min(num_train + 500, allx.shape[0]))),
        test_mask=mask(test_sorted),
    )


def fetch_planetoid(name: str = "cora", data_dir: str | None = None, **kwargs) -> Graph:
    """Planetoid graph from ``data_dir``, or downloaded once into the Keras cache.

    Without ``data_dir`` the eight public files are fetched with
    ``keras.utils.get_file`` (cached under ``~/.keras/datasets/planetoid``).
    Offline, raises one ``FileNotFoundError`` that names ``--data-dir``.
    """
    if data_dir is not None:
        return load_planetoid(data_dir, name, **kwargs)
    import keras

    name = name.lower()
    try:
        for part in _PLANETOID_PARTS:
            path = keras.utils.get_file(
                f"ind.{name}.{part}", PLANETOID_URL + f"ind.{name}.{part}", cache_subdir="planetoid"
            )
    except Exception as err:
        raise FileNotFoundError(
            f"Could not download the Planetoid '{name}' files from {PLANETOID_URL} ({err}). "
            f"Offline? Copy ind.{name}.* into a folder and pass --data-dir DIR."
        ) from err
    return load_planetoid(os.path.dirname(path), name, **kwargs)


def _read_ints(path: str, columns: int = 1) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2 if columns > 1 else 1)


def load_tu(data_dir: str, name: str) -> GraphDataset:
    """Read a dataset in the TU Dortmund raw format (Morris et al. 2020).

    Reads ``<data_dir>/<name>/<name>_{A,graph_indicator,graph_labels}.txt`` (or the
    same files directly in ``data_dir``), and when present ``_node_labels``
    (one-hot encoded), ``_node_attributes`` (appended), ``_edge_labels`` (as
    ``edge_type``) and ``<name>_10fold/{train,test}_idx-K.txt`` (0-based, the
    folds used by GIN and Graph U-Nets). Labels are mapped to 0..C-1 in sorted
    order. Graphs without node labels or attributes get the constant feature 1.

    Returns:
        A :class:`GraphDataset`; ``folds`` is None without split files.
    """
    folder = os.path.join(data_dir, name)
    if not os.path.isdir(folder):
        folder = data_dir

    def path(suffix):
        return os.path.join(folder, f"{name}_{suffix}")

    if not os.path.exists(path("A.txt")):
        raise FileNotFoundError(
            f"{path('A.txt')} not found: pass --data-dir pointing at the folder that holds "
            f"{name}/ (TU Dortmund raw format, https://chrsmrrs.github.io/datasets/)."
        )
    edges = _read_ints(path("A.txt"), columns=2) - 1  # files are 1-based
    node_graph = _read_ints(path("graph_indicator.txt")) - 1
    _, graph_labels = np.unique(_read_ints(path("graph_labels.txt")), return_inverse=True)
    num_nodes = node_graph.size
    features = []
    if os.path.exists(path("node_labels.txt")):
        _, node_labels = np.unique(_read_ints(path("node_labels.txt")), return_inverse=True)
        features.append(np.eye(node_labels.max() + 1, dtype=np.float32)[node_labels])
    if os.path.exists(path("node_attributes.txt")):
        attributes = np.loadtxt(path("node_attributes.txt"), delimiter=",", ndmin=2)
        features.append(attributes.astype(np.float32))
    x = np.concatenate(features, 1) if features else np.ones((num_nodes, 1), np.float32)
    edge_type = None
    if os.path.exists(path("edge_labels.txt")):
        _, edge_type = np.unique(_read_ints(path("edge_labels.txt")), return_inverse=True)

    # Nodes of one graph are contiguous in the TU format: slice by offsets.
    sizes = np.bincount(node_graph, minlength=graph_labels.size)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    edge_graph = node_graph[edges[:, 0]]
    order = np.argsort(edge_graph, kind="stable")
    edge_offsets = np.concatenate([[0], np.cumsum(np.bincount(edge_graph, minlength=sizes.size))])
    graphs = []
    for g in range(sizes.size):
        rows = order[edge_offsets[g] : edge_offsets[g + 1]]
        graphs.append(
            Graph(
                x=x[offsets[g] : offsets[g + 1]],
                edge_index=(edges[rows] - offsets[g]).T,
                edge_type=None if edge_type is None else edge_type[rows],
                y=np.int32(graph_labels[g]),
            )
        )

    folds = None
    fold_dir = path("10fold")
    if os.path.isdir(fold_dir):
        folds = []
        k = 1
        while os.path.exists(os.path.join(fold_dir, f"train_idx-{k}.txt")):
            train, test = (
                np.loadtxt(os.path.join(fold_dir, f"{split}_idx-{k}.txt"), dtype=np.int64, ndmin=1)
                for split in ("train", "test")
            )
            folds.append((train, test))
            k += 1
    return GraphDataset(graphs, name=name, folds=folds)
