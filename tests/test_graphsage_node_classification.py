import numpy as np
import pytest

from kerasml.graph import karate_club
from recipes import graphsage_node_classification
from tests._node_recipes import check_report, check_saved_model_serves_graphs, check_seed_summary

RECIPE = "graphsage_node_classification"


def test_quick_run_reports_and_exports_a_graph_serving_model(tmp_path):
    report = graphsage_node_classification.main(["--quick", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path, RECIPE)
    assert report["sampling"] == {"fanouts": [25, 10], "batch_size": 32}
    check_saved_model_serves_graphs(tmp_path)


def test_seeds_with_the_max_pool_aggregator(tmp_path):
    report = graphsage_node_classification.main(
        ["--quick", "--no-export", "--dataset", "sbm", "--seeds", "2", "--aggregator", "max",
         "--batch-size", "16", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path, RECIPE, exported=False)
    check_seed_summary(report, 2)


def test_sampled_batches_are_real_neighbourhoods_of_the_training_nodes():
    """One epoch covers every training node once as a seed; a seed's incoming edges
    are min(degree, fan-out) real edges of the graph. Karate's one-hot features
    reveal each subgraph node's id."""
    graph = karate_club()
    edges = set(zip(*graph.edge_index.tolist()))
    in_degree = np.bincount(graph.edge_index[1], minlength=graph.num_nodes)
    seen = []
    for inputs, labels, weights in graph_batches(graph):
        ids = inputs["x"].numpy().argmax(1)
        weights = weights.numpy()
        seeds = np.flatnonzero(weights > 0)
        seen += ids[seeds].tolist()
        np.testing.assert_array_equal(labels.numpy(), graph.y[ids])
        assert seeds.size <= 3
        assert weights[seeds] == pytest.approx(np.full(seeds.size, ids.size / seeds.size))
        source, target = inputs["edge_index"].numpy()
        assert {(ids[s], ids[t]) for s, t in zip(source, target)} <= edges
        for seed in seeds:
            assert np.sum(target == seed) == min(in_degree[ids[seed]], 2)
    assert sorted(seen) == np.flatnonzero(graph.train_mask).tolist()


def graph_batches(graph):
    return graphsage_node_classification.sampled_batches(graph, fanouts=(2, 2), batch_size=3, seed=0)


def test_same_seed_same_batches():
    graph = karate_club()
    first = [b[0]["edge_index"].numpy().tolist() for b in graph_batches(graph)]
    second = [b[0]["edge_index"].numpy().tolist() for b in graph_batches(graph)]
    assert first == second


def test_bad_sampling_flags_are_named(tmp_path):
    with pytest.raises(SystemExit, match="--fanouts"):
        graphsage_node_classification.main(["--quick", "--fanouts", "5", "--output-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--batch-size"):
        graphsage_node_classification.main(["--quick", "--batch-size", "0", "--output-dir", str(tmp_path)])
