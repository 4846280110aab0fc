"""Rewrite the README's recipe table and results section from the code and measured JSON.

The recipe table comes from each recipe's docstring header (Title, Run).

Reads benchmarks/results/recipes/*.json (from `python -m benchmarks.run_recipes`),
benchmarks/results/forecast_series.json (`python -m benchmarks.forecast_series`)
and benchmarks/results/windows.json (`python benchmarks/windows.py`), and
replaces the text between the README's `<!-- results:start -->` and
`<!-- results:end -->` markers.

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


def recipe_table():
    from recipes.__main__ import recipe_summaries

    lines = ["| recipe | what it shows | run |", "|---|---|---|"]
    for name, title, command in recipe_summaries():
        lines.append(f"| `{name}` | {title} | `{command}` |")
    return "\n".join(lines)


def replace_between(text, start, end, body):
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main():
    sections = []
    for path in sorted((RESULTS / "recipes").glob("*.json")):
        sections.append(recipe_section(json.loads(path.read_text())))
    if (RESULTS / "forecast_series.json").exists():
        sections.append(forecast_series_section(json.loads((RESULTS / "forecast_series.json").read_text())))
    if (RESULTS / "windows.json").exists():
        sections.append(windows_section(json.loads((RESULTS / "windows.json").read_text())))
    readme = (ROOT / "README.md").read_text()
    readme = replace_between(readme, TABLE_START, TABLE_END, recipe_table())
    readme = replace_between(readme, START, END, "\n\n".join(sections))
    (ROOT / "README.md").write_text(readme)
    print(f"README results: {len(sections)} sections written")


if __name__ == "__main__":
    main()
