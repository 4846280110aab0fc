import pytest

from recipes import gcn_node_classification
from tests._node_recipes import (
    SHARED,
    check_report,
    check_saved_model_serves_graphs,
    check_seed_summary,
    needs_shared,
    offline,
)

RECIPE = "gcn_node_classification"


def test_quick_run_reports_and_exports_a_graph_serving_model(tmp_path):
    report = gcn_node_classification.main(["--quick", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path, RECIPE)
    assert report["data"]["nodes"] == 34 and report["data"]["train_nodes"] == 8
    check_saved_model_serves_graphs(tmp_path)


def test_seeds_on_the_block_model(tmp_path):
    report = gcn_node_classification.main(
        ["--quick", "--no-export", "--dataset", "sbm", "--seeds", "2", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path, RECIPE, exported=False)
    check_seed_summary(report, 2)
    assert report["data"]["nodes"] == 300 and report["data"]["classes"] == 3


@needs_shared
def test_cora_from_the_planetoid_files(tmp_path):
    report = gcn_node_classification.main(
        ["--no-export", "--epochs", "2", "--dataset", "cora", "--data-dir", str(SHARED / "planetoid"),
         "--output-dir", str(tmp_path)])
    assert report["data"] == {"nodes": 2708, "edges": 10556, "features": 1433, "classes": 7,
                              "train_nodes": 140, "val_nodes": 500, "test_nodes": 1000}
    assert report["config"]["row_normalize"] is None  # auto: on for bag-of-words
    assert "Planetoid" in report["dataset"]


def test_bad_input_gives_one_clear_message(tmp_path, monkeypatch):
    offline(monkeypatch)
    with pytest.raises(SystemExit, match="--data-dir"):
        gcn_node_classification.main(["--quick", "--dataset", "cora", "--output-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"ind\.cora\.x"):
        gcn_node_classification.main(["--quick", "--dataset", "cora", "--data-dir", str(tmp_path),
                                      "--output-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--dataset must be one of"):
        gcn_node_classification.main(["--quick", "--dataset", "imdb", "--output-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="--seeds must be at least 1"):
        gcn_node_classification.main(["--quick", "--seeds", "0", "--output-dir", str(tmp_path)])


def test_same_seed_same_metrics(tmp_path):
    """Reproducible: the same --seed gives the same accuracies and probabilities."""
    runs = [gcn_node_classification.main(["--quick", "--no-export", "--dataset", "sbm", "--epochs", "5",
                                          "--output-dir", str(tmp_path / name)]) for name in "ab"]
    assert runs[0]["metrics"]["test_accuracy"] == runs[1]["metrics"]["test_accuracy"]
    assert runs[0]["baselines"] == runs[1]["baselines"]
    assert runs[0]["per_seed"]["epochs"] == runs[1]["per_seed"]["epochs"]
