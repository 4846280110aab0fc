import pytest

from recipes import graph_unet
from tests._node_recipes import check_report, check_saved_model_serves_graphs

RECIPE = "graph_unet"


def test_quick_run_reports_and_exports_a_graph_serving_model(tmp_path):
    report = graph_unet.main(["--quick", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path, RECIPE)
    assert report["config"]["pool_ratios"] == [0.5, 0.5]  # --quick: two levels
    check_saved_model_serves_graphs(tmp_path)


def test_bad_pool_ratios_are_named(tmp_path):
    with pytest.raises(SystemExit, match="--pool-ratios"):
        graph_unet.main(["--quick", "--pool-ratios", "0.5", "1.5", "--output-dir", str(tmp_path)])
