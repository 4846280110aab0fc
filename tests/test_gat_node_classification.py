from recipes import gat_node_classification
from tests._node_recipes import check_report, check_saved_model_serves_graphs

RECIPE = "gat_node_classification"


def test_quick_run_reports_and_exports_a_graph_serving_model(tmp_path):
    report = gat_node_classification.main(["--quick", "--output-dir", str(tmp_path)])
    check_report(report, tmp_path, RECIPE)
    assert report["config"]["heads"] == 8 and report["config"]["dropout"] == 0.6
    check_saved_model_serves_graphs(tmp_path)
