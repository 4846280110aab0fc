"""Graph data: container validation, networkx and karate club, Planetoid and TU
loaders (tiny files written here; the real ones in ../shared/data/graphs when
present), the restricted unpickler, generators, batching and neighbour sampling."""

import doctest
import os
import pickle
from pathlib import Path

import keras
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from kerasml.graph import (
    Graph,
    NeighborSampler,
    dense_batch,
    disjoint_batch,
    disjoint_signature,
    fetch_planetoid,
    from_networkx,
    iterate_batches,
    karate_club,
    load_planetoid,
    load_tu,
    molecule_graphs,
    stochastic_block_model,
)
import kerasml.graph.batching
import kerasml.graph.data
import kerasml.graph.sampling
from kerasml.graph.loaders import safe_unpickle

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "graphs"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/graphs absent")


@pytest.mark.parametrize("module", [kerasml.graph.data, kerasml.graph.batching, kerasml.graph.sampling])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, extraglobs={"np": np, "karate_club": karate_club})
    assert result.attempted > 0 and result.failed == 0


# --- Graph container -------------------------------------------------------------

@pytest.mark.parametrize(
    "edge_index, message",
    [
        ([[0, 3], [1, 0]], "refers to node 3, but there are only 3 nodes"),
        ([[0, -2], [1, 0]], "negative node id -2"),
        ([[0, 1], [1, 2], [2, 0]], r"shape \[2, num_edges\].*pass its transpose"),
        ([[0.0, 1.0], [1.0, 2.0]], "integer node ids"),
    ],
)
def test_graph_rejects_bad_edge_index(edge_index, message):
    with pytest.raises(ValueError, match=message):
        Graph(x=np.ones((3, 2)), edge_index=np.array(edge_index))


def test_graph_rejects_features_of_wrong_rank_and_misshaped_fields():
    with pytest.raises(ValueError, match=r"x must have rank 2.*x\[:, None\]"):
        Graph(x=np.ones(3), edge_index=[[0], [1]])
    with pytest.raises(ValueError, match="edge_weight must have shape"):
        Graph(x=np.ones((3, 1)), edge_index=[[0], [1]], edge_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="train_mask must be a boolean array of shape"):
        Graph(x=np.ones((3, 1)), edge_index=[[0], [1]], train_mask=[True])


def test_from_networkx_lists_both_directions_and_maps_labels():
    g = nx.Graph()
    g.add_nodes_from([("a", {"f": [1.0, 2.0], "c": "x"}), ("b", {"f": [3.0, 4.0], "c": "z"}),
                      ("c", {"f": [5.0, 6.0], "c": "x"})])
    g.add_edge("a", "b", w=2.0)
    g.add_edge("b", "c", w=3.0)
    graph = from_networkx(g, x_attr="f", y_attr="c", edge_weight_attr="w")
    assert sorted(map(tuple, graph.edge_index.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    np.testing.assert_array_equal(graph.y, [0, 1, 0])
    np.testing.assert_array_equal(graph.x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_allclose(graph.dense_adjacency(), nx.to_numpy_array(g, weight="w"))
    directed = from_networkx(nx.DiGraph([(0, 1)]))
    np.testing.assert_array_equal(directed.edge_index, [[0], [1]])
    np.testing.assert_array_equal(directed.x, np.eye(2))


def test_karate_club_is_the_real_graph_with_a_reproducible_split():
    graph = karate_club()
    reference = nx.karate_club_graph()
    assert (graph.num_nodes, graph.num_edges, graph.num_classes) == (34, 2 * 78, 2)
    np.testing.assert_array_equal(graph.dense_adjacency(), nx.to_numpy_array(reference, weight=None))
    clubs = [reference.nodes[i]["club"] for i in range(34)]
    np.testing.assert_array_equal(graph.y, [c == "Officer" for c in clubs])
    masks = np.stack([graph.train_mask, graph.val_mask, graph.test_mask])
    assert masks.sum(1).tolist() == [8, 10, 16] and np.all(masks.sum(0) == 1)
    assert np.bincount(graph.y[graph.train_mask]).tolist() == [4, 4]
    np.testing.assert_array_equal(karate_club().test_mask, graph.test_mask)
    assert not np.array_equal(karate_club(seed=1).test_mask, graph.test_mask)


# --- Planetoid -------------------------------------------------------------------

def write_planetoid(folder, name="toy"):
    """A 6-node Planetoid set: train nodes 0-1, 'allx' rows 0-3, test nodes 5 and 4
    (listed out of order in test.index, stored in sorted order in tx)."""
    features = np.arange(6 * 3, dtype=np.float32).reshape(6, 3)
    labels = np.eye(2)[[0, 1, 0, 1, 1, 0]]
    parts = {
        "x": sp.csr_matrix(features[:2]), "y": labels[:2],
        "allx": sp.csr_matrix(features[:4]), "ally": labels[:4],
        "tx": sp.csr_matrix(features[[4, 5]]), "ty": labels[[4, 5]],
        "graph": {0: [1, 2], 1: [0], 2: [0, 2], 3: [4], 4: [3, 5], 5: [4]},
    }
    for part, value in parts.items():
        with open(folder / f"ind.{name}.{part}", "wb") as f:
            pickle.dump(value, f, protocol=4)  # 2 would need _codecs, which is refused
    (folder / f"ind.{name}.test.index").write_text("5\n4\n")
    return features, labels.argmax(1)


def test_planetoid_loader_on_files_written_here(tmp_path):
    features, labels = write_planetoid(tmp_path)
    # test.index lists node 5 first, so tx's first row (features[4]) belongs to node 5.
    features[[4, 5]] = features[[5, 4]]
    labels[[4, 5]] = labels[[5, 4]]
    graph = load_planetoid(str(tmp_path), "toy", normalize_features=False)
    np.testing.assert_array_equal(graph.x, features)
    np.testing.assert_array_equal(graph.y, labels)
    pairs = {(0, 1), (1, 0), (0, 2), (2, 0), (3, 4), (4, 3), (4, 5), (5, 4)}  # self-loop 2-2 dropped
    assert set(map(tuple, graph.edge_index.T.tolist())) == pairs and graph.num_edges == len(pairs)
    assert np.flatnonzero(graph.train_mask).tolist() == [0, 1]
    assert np.flatnonzero(graph.val_mask).tolist() == [2, 3]
    assert np.flatnonzero(graph.test_mask).tolist() == [4, 5]


@needs_shared
def test_planetoid_loader_on_cora():
    graph = load_planetoid(str(SHARED / "planetoid"), "cora")
    assert (graph.num_nodes, graph.num_features, graph.num_classes) == (2708, 1433, 7)
    assert [m.sum() for m in (graph.train_mask, graph.val_mask, graph.test_mask)] == [140, 500, 1000]
    assert np.bincount(graph.y[graph.train_mask]).tolist() == [20] * 7
    assert not np.any(graph.train_mask & graph.test_mask) and not np.any(graph.val_mask & graph.test_mask)
    a = graph.dense_adjacency()
    assert np.array_equal(a, a.T) and np.all(np.diag(a) == 0) and a.max() == 1
    assert graph.num_edges == 10556  # 5278 undirected citation links


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_unpickler_refuses_a_planted_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    write_planetoid(tmp_path)
    with open(tmp_path / "ind.toy.graph", "wb") as f:
        pickle.dump({0: [_Exploit(marker)]}, f, protocol=4)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to unpickle (posix|os|nt)\.system"):
        load_planetoid(str(tmp_path), "toy")
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        safe_unpickle(str(tmp_path / "ind.toy.graph"))
    assert not marker.exists()


def test_missing_planetoid_files_and_offline_download_name_the_fix(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"ind\.cora\.x"):
        load_planetoid(str(tmp_path), "cora")

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        fetch_planetoid("cora")
    write_planetoid(tmp_path)
    assert fetch_planetoid("toy", data_dir=str(tmp_path)).num_nodes == 6


# --- TU format -------------------------------------------------------------------

def write_tu(folder, name="TOY", folds=False):
    """Two graphs: a triangle (label 5) and an edge (label 3), 1-based ids."""
    d = folder / name
    d.mkdir()
    (d / f"{name}_A.txt").write_text("1, 2\n2, 1\n2, 3\n3, 2\n3, 1\n1, 3\n4, 5\n5, 4\n")
    (d / f"{name}_graph_indicator.txt").write_text("1\n1\n1\n2\n2\n")
    (d / f"{name}_graph_labels.txt").write_text("5\n3\n")
    (d / f"{name}_node_labels.txt").write_text("0\n2\n2\n7\n0\n")
    if folds:
        (d / f"{name}_10fold").mkdir()
        (d / f"{name}_10fold" / "train_idx-1.txt").write_text("0\n")
        (d / f"{name}_10fold" / "test_idx-1.txt").write_text("1\n")


def test_tu_loader_on_files_written_here(tmp_path):
    write_tu(tmp_path)
    data = load_tu(str(tmp_path), "TOY")
    assert len(data) == 2 and data.folds is None
    np.testing.assert_array_equal(data.y, [1, 0])  # labels 5, 3 -> sorted -> 1, 0
    triangle, edge = data.graphs
    np.testing.assert_array_equal(triangle.x, np.eye(3)[[0, 1, 1]])  # node labels 0, 2, 2
    np.testing.assert_array_equal(edge.x, np.eye(3)[[2, 0]])  # 7, 0
    assert sorted(map(tuple, edge.edge_index.T.tolist())) == [(0, 1), (1, 0)]
    assert triangle.num_edges == 6
    write_tu(tmp_path, "FOLDED", folds=True)
    folds = load_tu(str(tmp_path), "FOLDED").folds
    assert len(folds) == 1 and folds[0][0].tolist() == [0] and folds[0][1].tolist() == [1]


@needs_shared
def test_tu_loader_on_mutag_with_published_folds():
    data = load_tu(str(SHARED / "tu"), "MUTAG")
    assert len(data) == 188 and data.num_classes == 2 and data.num_features == 7
    assert np.bincount(data.y).tolist() == [63, 125]
    assert len(data.folds) == 10
    for train, test in data.folds:  # each fold splits all 188 graphs
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(188))
    tests = np.concatenate([test for _, test in data.folds])
    assert len(tests) == len(set(tests)) == 180  # 10 x 18 disjoint test sets, as published


def test_tu_loader_names_data_dir_when_files_are_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_tu(str(tmp_path), "MUTAG")


# --- generators ------------------------------------------------------------------

def test_block_model_links_mostly_within_blocks_and_is_reproducible():
    graph = stochastic_block_model(num_nodes=120, num_classes=3, p_in=0.2, p_out=0.01, seed=3)
    same = graph.y[graph.edge_index[0]] == graph.y[graph.edge_index[1]]
    assert same.mean() > 0.8
    a = graph.dense_adjacency()
    assert np.array_equal(a, a.T)
    again = stochastic_block_model(num_nodes=120, num_classes=3, p_in=0.2, p_out=0.01, seed=3)
    np.testing.assert_array_equal(again.edge_index, graph.edge_index)
    np.testing.assert_array_equal(again.x, graph.x)
    assert np.bincount(graph.y[graph.train_mask]).tolist() == [20, 20, 20]


def to_networkx(graph):
    g = nx.Graph()
    g.add_nodes_from(range(graph.num_nodes))
    g.add_edges_from(graph.edge_index.T.tolist())
    return g


def test_molecule_labels_follow_the_planted_structure():
    nitro = molecule_graphs(60, task="nitro", seed=1)
    assert np.bincount(nitro.y).tolist() == [30, 30]
    for graph in nitro.graphs:
        g, atom = to_networkx(graph), graph.x.argmax(1)
        has_nitro = any(
            atom[n] == 1 and sum(atom[m] == 2 for m in g.neighbors(n)) >= 2 for n in g.nodes
        )
        assert has_nitro == bool(graph.y) and nx.is_tree(g)
    # Same atom counts on average in both classes: the label is about arrangement.
    counts = np.array([g.x.sum(0) for g in nitro.graphs])
    assert abs(counts[nitro.y == 1, 1].mean() - counts[nitro.y == 0, 1].mean()) < 0.5
    ring = molecule_graphs(40, task="ring", seed=2)
    for graph in ring.graphs:
        assert bool(nx.cycle_basis(to_networkx(graph))) == bool(graph.y)


# --- batching --------------------------------------------------------------------

def test_disjoint_batch_offsets_edges_and_names_graphs():
    graphs = molecule_graphs(3, seed=5).graphs
    batch = disjoint_batch(graphs)
    sizes = [g.num_nodes for g in graphs]
    np.testing.assert_array_equal(batch["graph_index"], np.repeat([0, 1, 2], sizes))
    np.testing.assert_array_equal(batch["y"], [g.y for g in graphs])
    block = sp.block_diag([g.dense_adjacency() for g in graphs]).toarray()
    np.testing.assert_array_equal(Graph(batch["x"], batch["edge_index"]).dense_adjacency(), block)


def test_dense_batch_pads_and_masks():
    graphs = molecule_graphs(3, seed=6).graphs
    batch = dense_batch(graphs, max_nodes=40)
    assert batch["x"].shape == (3, 40, 4) and batch["adj"].shape == (3, 40, 40)
    for b, g in enumerate(graphs):
        n = g.num_nodes
        assert batch["mask"][b].sum() == n and batch["mask"][b, :n].all()
        np.testing.assert_array_equal(batch["adj"][b, :n, :n], g.dense_adjacency())
        assert not batch["adj"][b, n:].any() and not batch["x"][b, n:].any()
    with pytest.raises(ValueError, match="max_nodes=5"):
        dense_batch(graphs, max_nodes=5)


def test_iterate_batches_feeds_tf_data_with_varying_sizes():
    graphs = molecule_graphs(10, seed=7).graphs
    dataset = tf.data.Dataset.from_generator(
        lambda: iterate_batches(graphs, 4, shuffle=True, seed=0),
        output_signature=disjoint_signature(graphs),
    )
    batches = list(dataset.as_numpy_iterator())
    assert [len(b["y"]) for b in batches] == [4, 4, 2]
    order = [b["y"] for b in iterate_batches(graphs, 4, shuffle=True, seed=0)]
    np.testing.assert_array_equal(np.concatenate(order), np.concatenate([b["y"] for b in batches]))


# --- neighbour sampling ----------------------------------------------------------

def test_neighbor_sampler_respects_fanout_and_is_reproducible():
    graph = stochastic_block_model(num_nodes=200, p_in=0.1, p_out=0.02, seed=0)
    seeds = np.array([3, 17, 42])
    batch = NeighborSampler(graph, fanouts=[4, 3], seed=7).sample(seeds)
    again = NeighborSampler(graph, fanouts=[4, 3], seed=7).sample(seeds)
    for key in batch:
        np.testing.assert_array_equal(batch[key], again[key])

    ids, local = batch["node_ids"], batch["edge_index"]
    np.testing.assert_array_equal(ids[:3], seeds)
    assert batch["seed_mask"].tolist() == [True] * 3 + [False] * (len(ids) - 3)
    np.testing.assert_array_equal(batch["x"], graph.x[ids])
    np.testing.assert_array_equal(batch["y"], graph.y[ids])
    edges = set(map(tuple, graph.edge_index.T.tolist()))
    sampled = [(ids[s], ids[t]) for s, t in local.T]
    assert all(e in edges for e in sampled) and len(set(sampled)) == len(sampled)
    targets = np.bincount(local[1], minlength=len(ids))
    assert targets[:3].max() <= 4 and targets[3:].max() <= 3
    g = to_networkx(graph)
    for node in ids:
        assert min(nx.shortest_path_length(g, s, node) for s in seeds if nx.has_path(g, s, node)) <= 2


def test_neighbor_sampler_full_fanout_takes_every_in_edge_and_iterates_an_epoch():
    graph = karate_club()
    batch = NeighborSampler(graph, fanouts=[-1]).sample([0])
    assert np.sum(batch["edge_index"][1] == 0) == np.sum(graph.edge_index[1] == 0)
    sampler = NeighborSampler(graph, fanouts=[5, 5], seed=0)
    seen = np.concatenate([b["node_ids"][b["seed_mask"]] for b in sampler.iterate(graph.train_mask, 3)])
    np.testing.assert_array_equal(np.sort(seen), np.flatnonzero(graph.train_mask))
    with pytest.raises(ValueError, match="repeated"):
        sampler.sample([1, 1])
    dataset = tf.data.Dataset.from_generator(
        lambda: sampler.iterate(graph.train_mask, 3), output_signature=sampler.output_signature()
    )
    assert sum(int(b["seed_mask"].numpy().sum()) for b in dataset) == graph.train_mask.sum()
