"""lstm_forecast on other real series, through its --csv path, against the same baselines.

The series ship with statsmodels: yearly sunspot numbers (1700-2008), monthly
El Nino sea-surface temperatures (1950-2010) and quarterly US unemployment
(1959-2009). Each is written to a CSV with a date column, as a user's file
would be, and the recipe runs with its default training settings.

Run:  python -m benchmarks.forecast_series       (writes benchmarks/results/forecast_series.json)
"""

import argparse
import json
import pathlib
import tempfile

import pandas as pd
import statsmodels.api as sm

from recipes import lstm_forecast

RESULTS = pathlib.Path(__file__).parent / "results" / "forecast_series.json"
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def write_csvs(directory: pathlib.Path) -> dict[str, list[str]]:
    """CSV files of the three series; returns each one's recipe flags."""
    sunspots = sm.datasets.sunspots.load_pandas().data
    sunspots["year"] = pd.to_datetime(sunspots.pop("YEAR").astype(int).astype(str) + "-01-01")
    sunspots.to_csv(directory / "sunspots.csv", index=False)
    elnino = sm.datasets.elnino.load_pandas().data.melt(id_vars="YEAR", var_name="month", value_name="temp")
    elnino["date"] = pd.to_datetime({"year": elnino.YEAR.astype(int),
                                     "month": elnino.month.map(MONTHS.index) + 1, "day": 1})
    elnino.sort_values("date")[["date", "temp"]].to_csv(directory / "elnino.csv", index=False)
    macro = sm.datasets.macrodata.load_pandas().data
    macro["date"] = pd.PeriodIndex.from_fields(year=macro.year.astype(int), quarter=macro.quarter.astype(int),
                                               freq="Q").to_timestamp()
    macro[["date", "unemp", "infl"]].to_csv(directory / "macro.csv", index=False)
    return {
        "sunspots (yearly)": ["--csv", str(directory / "sunspots.csv"), "--target", "SUNACTIVITY",
                              "--time-col", "year", "--horizon", "5", "--input-width", "33"],
        "El Nino SST (monthly)": ["--csv", str(directory / "elnino.csv"), "--target", "temp",
                                  "--time-col", "date", "--horizon", "6", "--input-width", "36"],
        "US unemployment (quarterly)": ["--csv", str(directory / "macro.csv"), "--target", "unemp",
                                        "--time-col", "date", "--horizon", "4", "--input-width", "16"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", default="runs/benchmarks/forecast_series")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags in write_csvs(pathlib.Path(tmp)).items():
            print(f"=== {name}", flush=True)
            output = pathlib.Path(args.runs_dir) / name.split()[0].lower()
            report = lstm_forecast.main([*flags, "--output-dir", str(output), "--no-export"])
            results[name] = {"flags": " ".join(pathlib.Path(f).name if f.endswith(".csv") else f for f in flags),
                             "season": report["data"]["season"], "test_windows": report["data"]["test_windows"],
                             "model": report["metrics"], "baselines": report["baselines"],
                             "measured": report["measured"]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
