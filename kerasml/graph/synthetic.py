"""Graph generators with a known right answer.

- :func:`stochastic_block_model`: communities (labels) that both the edges and
  the noisy features reveal, for node classification.
- :func:`molecule_graphs`: small molecule-like graphs whose label is a
  structural property (a nitro group, or a ring), for graph classification.
"""

from __future__ import annotations

import numpy as np

from kerasml.graph.data import Graph, GraphDataset, split_masks

ATOMS = ("C", "N", "O", "Cl")  # atom types, one-hot node features in this order


def stochastic_block_model(
    num_nodes: int = 300,
    num_classes: int = 3,
    num_features: int = 16,
    p_in: float = 0.05,
    p_out: float = 0.005,
    feature_signal: float = 1.0,
    train_per_class: int = 20,
    num_val: int | None = None,
    seed: int = 0,
) -> Graph:
    """A stochastic block model (Holland et al. 1983) with class-dependent features.

    Node ``i`` belongs to block ``i % num_classes``; two nodes are linked with
    probability ``p_in`` inside a block and ``p_out`` across blocks. Features are
    a Gaussian around a random per-class mean scaled by ``feature_signal`` (0:
    features carry no information and only the graph tells the classes apart).
    The split is Planetoid-style and reproducible from ``seed``:
    ``train_per_class`` training nodes per class, ``num_val`` validation nodes
    (default: a third of the rest) and the remaining nodes for testing.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(num_nodes) % num_classes
    same = y[:, None] == y[None, :]
    linked = rng.random((num_nodes, num_nodes)) < np.where(same, p_in, p_out)
    linked = np.triu(linked, 1)
    src, dst = np.nonzero(linked | linked.T)
    means = rng.normal(size=(num_classes, num_features)) * feature_signal
    x = means[y] + rng.normal(size=(num_nodes, num_features))
    if num_val is None:
        num_val = (num_nodes - train_per_class * num_classes) // 3
    train, val, test = split_masks(y, train_per_class, num_val, seed=seed)
    return Graph(
        x=x, edge_index=np.stack([src, dst]), y=y.astype(np.int32),
        train_mask=train, val_mask=val, test_mask=test,
    )


def _random_tree(rng, num_atoms):
    """Random tree: atom i > 0 bonds to an earlier atom (chain-like molecules)."""
    parents = [int(rng.integers(max(0, i - 3), i)) for i in range(1, num_atoms)]
    return [(p, i) for i, p in zip(range(1, num_atoms), parents)]


def _neighbour_counts(num_atoms, bonds, types, atom_type):
    """Per atom, how many of its neighbours have ``atom_type``."""
    counts = np.zeros(num_atoms, int)
    for a, b in bonds:
        counts[a] += types[b] == atom_type
        counts[b] += types[a] == atom_type
    return counts


def _molecule(rng, num_atoms, positive, task):
    types = list(rng.choice(len(ATOMS), size=num_atoms, p=[0.7, 0.1, 0.15, 0.05]))
    bonds = _random_tree(rng, num_atoms)
    anchor, n = int(rng.integers(0, num_atoms)), num_atoms
    if task == "ring":
        # The same 5 or 6 carbons, closed into a ring (positive) or left an open chain.
        size = int(rng.integers(5, 7))
        types += [0] * size
        bonds += [(anchor, n)] + [(n + i, n + i + 1) for i in range(size - 1)]
        if positive:
            bonds.append((n + size - 1, n))
        return types, bonds
    # task == "nitro". The random skeleton must not contain the motif by chance:
    # an N with two O neighbours becomes a C.
    oxygens = _neighbour_counts(num_atoms, bonds, types, atom_type=2)
    types = [0 if t == 1 and o >= 2 else t for t, o in zip(types, oxygens)]
    # Both classes get the same atoms C, N, O, O: C-N(=O)-O, or O-C-N-O (no nitro).
    types += [0, 1, 2, 2]
    bonds += [(anchor, n), (n, n + 1), (n + 1, n + 2)]
    bonds.append((n + 1, n + 3) if positive else (n, n + 3))
    return types, bonds


def molecule_graphs(
    num_graphs: int = 200,
    task: str = "nitro",
    min_atoms: int = 8,
    max_atoms: int = 20,
    seed: int = 0,
) -> GraphDataset:
    """Molecule-like graphs whose binary label is a structural motif.

    Atoms are one-hot types (C, N, O, Cl) on a random tree skeleton. Half the
    graphs (label 1) carry the motif:

    - ``task="nitro"``: a nitro group, an N bonded to two O atoms (the group
      behind much of MUTAG's mutagenicity). Negatives contain the same atoms
      (an N-O and a separate O), so counting atom types is not enough.
    - ``task="ring"``: a 5- or 6-membered ring. Negatives get the same atoms as
      an open chain.

    Bonds are undirected (both directions listed).
    """
    if task not in ("nitro", "ring"):
        raise ValueError(f"task must be 'nitro' or 'ring'; got {task!r}.")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_graphs) % 2)
    graphs = []
    for label in labels:
        types, bonds = _molecule(rng, int(rng.integers(min_atoms, max_atoms + 1)), bool(label), task)
        bonds = np.asarray(bonds).T
        graphs.append(
            Graph(
                x=np.eye(len(ATOMS), dtype=np.float32)[types],
                edge_index=np.concatenate([bonds, bonds[::-1]], axis=1),
                y=np.int32(label),
            )
        )
    return GraphDataset(graphs, name=f"synthetic molecules ({task})")
