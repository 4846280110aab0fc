"""Rewrite the README's recipe table and results section from the code and measured JSON.

The recipe table comes from each recipe's docstring header (Title, Run).

Reads benchmarks/results/recipes/*.json (from `python -m benchmarks.run_recipes`),
benchmarks/results/forecast_series.json (`python -m benchmarks.forecast_series`),
graphs.json (`python -m benchmarks.graphs`), attention.json
(`python benchmarks/attention.py`), windows.json (`python benchmarks/windows.py`) and
regularization_gain.json (`python -m benchmarks.regularization_gain`),
and replaces the text between the README's `<!-- results:start -->` and
`<!-- results:end -->` markers. Recipes are grouped by task, the last word of
their name (alphabetical, but all `*_classification` recipes together and the `*_translation` recipes side by side).

Run:  python -m benchmarks.update_readme
"""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
TABLE_START, TABLE_END = "<!-- recipes:start -->", "<!-- recipes:end -->"


def fmt(value):
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"


def recipe_section(report):
    metrics = report["metrics"]
    keys = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    env = report["environment"]
    lines = [f"#### `{report['recipe']}` — {report['dataset']}", "",
             f"`{report.get('command', 'python -m recipes.' + report['recipe'])}`, measured {report['measured'][:10]} on {env['machine']} (Keras {env['keras']}, "
             f"TensorFlow {env['tensorflow']}), {report['timing']['total_seconds']:.0f} s in all.", "",
             "| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|",
             "| **model** | " + " | ".join(f"**{fmt(metrics[k])}**" for k in keys) + " |"]
    for name, values in report["baselines"].items():
        lines.append(f"| {name} | " + " | ".join(fmt(values.get(k)) for k in keys) + " |")
    speed = report.get("speed", {})
    if "train_tokens_per_second" in speed:  # the translation recipes
        lines += ["", f"Training {speed['train_tokens_per_second']:,.0f} target tokens/s; greedy decoding "
                  f"{1000 * speed['greedy_decode_seconds_per_sentence_one_at_a_time']:.1f} ms per sentence one at a "
                  f"time, {1000 * speed['greedy_decode_seconds_per_sentence_batched']:.2f} ms batched."]
    return "\n".join(lines)


def windows_section(report):
    lines = ["#### Sliding windows — `python benchmarks/windows.py`", "",
             f"{report['rows']:,} × {report['columns']} float32 rows, input width {report['input_width']}, "
             f"batch {report['batch_size']}, one full pass.", "",
             "| case | windows/s | peak memory (MB) |", "|---|---|---|"]
    for name, row in report["results"].items():
        lines.append(f"| {name} | {row['windows_per_second']:,.0f} | {row['peak_memory_mb_above_start']:.0f} |")
    speedup = report["speedup"]
    lines += ["", f"kerasml is **{speedup['unshuffled']:.0f}×** keras's "
              f"`timeseries_dataset_from_array` unshuffled and **{speedup['shuffled']:.0f}×** shuffled "
              "(goals: 20× and 10×), yielding the same windows."]
    return "\n".join(lines)


def regularization_gain_section(report):
    lines = ["#### `regularization`: the gain to expect — `python -m benchmarks.regularization_gain`", "",
             f"Each remedy against none on the same training images and initial weights, scored on the "
             f"pool images outside the test split, training and validation; mean ± std of the paired "
             f"gain over {report['repeats']} repeats, in accuracy points.", "",
             "| network | training images | remedy | accuracy | gain over none |", "|---|---|---|---|---|"]
    for row in report["rows"]:
        gain = (f"{row['gain_points_mean']:+.2f} ± {row['gain_points_std']:.2f}"
                if row["variant"] != "none" else "–")
        lines.append(f"| {row['architecture']} | {row['train_size']} | {row['variant']} | "
                     f"{row['pool_accuracy_mean']:.4f} | {gain} |")
    return "\n".join(lines)


def forecast_series_section(results):
    lines = ["#### `lstm_forecast` on other real series — `python -m benchmarks.forecast_series`", "",
             "The same recipe through its `--csv` path, default training settings; test MAE.", "",
             "| series | flags | season found | LSTM | best baseline | LSTM below best by |",
             "|---|---|---|---|---|---|"]
    for name, row in results.items():
        best = min(row["baselines"], key=lambda b: row["baselines"][b]["test_mae"])
        best_mae, mae = row["baselines"][best]["test_mae"], row["model"]["test_mae"]
        lines.append(f"| {name} | `{row['flags']}` | {row['season']} | **{mae:.4g}** | "
                     f"{best} {best_mae:.4g} | {100 * (1 - mae / best_mae):.0f}% |")
    return "\n".join(lines)


def task_order(names):
    """Sort key over ``names``: alphabetical, except that recipes sharing a task (the last word of
    their name: ``bahdanau_translation``, ``transformer_translation``) sit together, filed under it."""
    tasks = [name.rsplit("_", 1)[-1] for name in names]

    def key(name):
        task = name.rsplit("_", 1)[-1]
        return (task if tasks.count(task) > 1 else name), name
    return key


def graphs_section(report):
    lines = ["#### Graph benchmarks — `python -m benchmarks.graphs --data-dir ../shared/data/graphs`", "",
             "Cora, the standard Planetoid split (140 / 500 / 1000 nodes), test accuracy % over seeds:", "",
             "| recipe | mean ± std | seeds | paper | bar |", "|---|---|---|---|---|"]
    for name, row in report.get("cora", {}).items():
        paper = f"{row['paper']}" if row.get("paper") is not None else "–"
        lines.append(f"| `{name}` | **{row['test_accuracy_mean']:.2f} ± {row['test_accuracy_std']:.2f}** | "
                     f"{row['seeds']} | {paper} | {row['bar']} |")
    versus = report.get("gcn_vs_tfgnn")
    if versus:
        ours, theirs = versus["kerasml"], versus["tfgnn"]
        lines += ["", f"kerasml `GCNConv` against tensorflow-gnn's GCN on Cora ({versus['protocol']}):", "",
                  "| | test accuracy % | s/epoch (median, wall) | CPU s/epoch (median) |", "|---|---|---|---|"]
        for label, row in (("kerasml", ours), ("tensorflow-gnn", theirs)):
            lines.append(f"| {label} | {row['test_accuracy_mean']:.2f} ± {row['test_accuracy_std']:.2f} | "
                         f"{row['epoch_seconds_median']:.4f} | {row['epoch_cpu_seconds_median']:.4f} |")
    pooling = report.get("pooling")
    if pooling:
        lines += ["", "Graph classification, 10-fold test accuracy % on the published folds, one row per "
                  "pooling (`python -m benchmarks.graph_pooling`):", ""]
        datasets = pooling["datasets"]
        pools = list(next(iter(datasets.values()))["pools"])
        lines += ["| pooling | " + " | ".join(datasets) + " |", "|---" * (len(datasets) + 1) + "|"]
        for pool in pools:
            cells = [f"{100 * d['pools'][pool]['test_accuracy_mean']:.1f} ± {100 * d['pools'][pool]['test_accuracy_std']:.1f}"
                     for d in datasets.values()]
            lines.append(f"| {pool} | " + " | ".join(cells) + " |")
        for baseline in next(iter(datasets.values()))["baselines"]:
            cells = [f"{100 * d['baselines'][baseline]['test_accuracy_mean']:.1f}" for d in datasets.values()]
            lines.append(f"| baseline: {baseline} | " + " | ".join(cells) + " |")
        lines.append("| bar (best pooling) | " + " | ".join(f"{100 * d['bar']:.0f}" for d in datasets.values()) + " |")
    return "\n".join(lines)


def attention_section(report):
    lines = ["#### Attention speed — `python benchmarks/attention.py`", "",
             f"Forward + backward step at batch {report['batch_size']}; kerasml time / keras time "
             "(wall clock, CPU), minimum over repeats. MHA: kerasml `MultiHeadAttention` vs "
             "`keras.layers.MultiHeadAttention`; SDPA: `ScaledDotProductAttention` vs "
             "`keras.ops.dot_product_attention`.", "",
             "| length | width | heads | mask | MHA ratio | SDPA ratio |", "|---|---|---|---|---|---|"]
    for mha, sdpa in zip(report["multi_head_attention"], report["scaled_dot_product_attention"], strict=True):
        lines.append(f"| {mha['length']} | {mha['width']} | {mha['heads']} | {mha['mask']} | "
                     f"{mha['ratio']:.2f}, {mha['cpu_ratio']:.2f} | {sdpa['ratio']:.2f}, {sdpa['cpu_ratio']:.2f} |")
    lines += ["", "`AdditiveAttention` (units = width) beside `keras.layers.AdditiveAttention`, which has no "
              "W_q, W_k projections and so does a little less work: wall ms and peak tensor MB per step.", "",
              "| length | width | kerasml ms | kerasml MB | keras ms | keras MB |", "|---|---|---|---|---|---|"]
    for row in report["additive_attention"]:
        cells = [f"{row[f'{side}_ms']:.0f} | {row[f'{side}_peak_mb']:.0f}" if f"{side}_ms" in row
                 else f"skipped ({row[f'{side}_skipped']}) | –" for side in ("kerasml", "keras")]
        lines.append(f"| {row['length']} | {row['width']} | " + " | ".join(cells) + " |")
    load = ", ".join(f"{v:.1f}" for v in report["load_average_before"])
    lines += ["", f"Worst ratio **{report['worst_ratio']:.2f}** wall clock, **{report['worst_cpu_ratio']:.2f}** "
              f"CPU time (goal ≤ {report['goal_ratio']}; load average before the run {load})."]
    return "\n".join(lines)


def recipe_table():
    from recipes.__main__ import recipe_summaries

    lines = ["| recipe | what it shows | run |", "|---|---|---|"]
    rows = list(recipe_summaries())
    by_task = task_order([name for name, _, _ in rows])
    for name, title, command in sorted(rows, key=lambda row: by_task(row[0])):
        lines.append(f"| `{name}` | {title} | `{command}` |")
    return "\n".join(lines)


def replace_between(text, start, end, body):
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main():
    sections = []
    reports = [json.loads(path.read_text()) for path in (RESULTS / "recipes").glob("*.json")]
    by_task = task_order([r["recipe"] for r in reports])
    for report in sorted(reports, key=lambda r: (by_task(r["recipe"]), r.get("command", ""))):
        sections.append(recipe_section(report))
    for filename, section in (("forecast_series.json", forecast_series_section), ("graphs.json", graphs_section),
                              ("attention.json", attention_section), ("windows.json", windows_section),
                              ("regularization_gain.json", regularization_gain_section)):
        if (RESULTS / filename).exists():
            sections.append(section(json.loads((RESULTS / filename).read_text())))
    readme = (ROOT / "README.md").read_text()
    readme = replace_between(readme, TABLE_START, TABLE_END, recipe_table())
    readme = replace_between(readme, START, END, "\n\n".join(sections))
    (ROOT / "README.md").write_text(readme)
    print(f"README results: {len(sections)} sections written")


if __name__ == "__main__":
    main()
