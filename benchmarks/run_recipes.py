"""Run recipes with their default settings and keep each report for the README.

Run:  python -m benchmarks.run_recipes                 (every recipe)
      python -m benchmarks.run_recipes lstm_forecast   (some; classification_digits runs
                                                        classification --dataset digits)
Each report is copied to benchmarks/results/recipes/<name>.json; then
`python -m benchmarks.update_readme` rewrites the README's results section.
"""

import argparse
import importlib
import json
import pathlib
import shutil

from recipes.__main__ import recipe_summaries

RESULTS = pathlib.Path(__file__).parent / "results" / "recipes"
# Runs beyond the defaults that a catalog bar names: result name -> (recipe, flags).
VARIANTS = {"classification_digits": ("classification", ["--dataset", "digits"])}


def main(argv=None):
    runs = {name: (name, []) for name, _, _ in recipe_summaries()}
    runs.update({k: v for k, v in VARIANTS.items() if v[0] in runs})
    names = list(runs)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", default=names, help="recipe names (default: all)")
    parser.add_argument("--runs-dir", default="runs/benchmarks", help="where the runs write (default %(default)s)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.recipes:
        if name not in names:
            parser.error(f"unknown recipe {name!r}; known: {', '.join(names)}")
        output_dir = pathlib.Path(args.runs_dir) / name
        shutil.rmtree(output_dir, ignore_errors=True)  # a fresh run, not a resumed one
        print(f"=== {name}", flush=True)
        recipe, flags = runs[name]
        report = importlib.import_module(f"recipes.{recipe}").main([*flags, "--output-dir", str(output_dir)])
        command = " ".join(["python -m recipes." + recipe, *flags])
        (RESULTS / f"{name}.json").write_text(json.dumps({**report, "command": command}, indent=2))


if __name__ == "__main__":
    main()
