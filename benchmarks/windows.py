"""Windows per second: kerasml.data.window_dataset against keras.utils.timeseries_dataset_from_array.

One full pass over 200,000 x 8 float32 rows, input_width 96, label_width 1,
batch 256, unshuffled and shuffled, plus a multi-step spec (label_width 24)
that keras's utility cannot express. Each case runs in its own subprocess so
that its peak memory (max RSS above the process's RSS before the dataset was
built) is its own. Before timing, the first batches of both pipelines are
checked to hold the same windows.

Run:  python benchmarks/windows.py            (writes benchmarks/results/windows.json)
      python benchmarks/windows.py --rows 20000   (quicker)
"""

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import time

ROWS, COLUMNS, INPUT_WIDTH, BATCH = 200_000, 8, 96, 256
CASES = [  # (name, implementation, shuffle, label_width)
    ("keras, unshuffled", "keras", False, 1),
    ("kerasml, unshuffled", "kerasml", False, 1),
    ("keras, shuffled", "keras", True, 1),
    ("kerasml, shuffled", "kerasml", True, 1),
    ("kerasml, multi-step (label_width 24)", "kerasml", False, 24),
]


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def build(implementation, series, shuffle, label_width):
    import keras

    from kerasml.data.windows import WindowSpec, window_dataset

    if implementation == "kerasml":
        spec = WindowSpec(INPUT_WIDTH, label_width, shift=1, label_columns=[0])
        return window_dataset(series, spec, batch_size=BATCH, shuffle=shuffle, seed=0)
    return keras.utils.timeseries_dataset_from_array(
        series, series[INPUT_WIDTH:, 0], sequence_length=INPUT_WIDTH, batch_size=BATCH,
        shuffle=shuffle, seed=0)


def make_series(rows):
    import numpy as np

    return np.random.default_rng(0).standard_normal((rows, COLUMNS)).astype("float32")


def check_same_windows(rows):
    """First unshuffled batch: kerasml's windows and labels equal keras's."""
    import numpy as np

    series = make_series(rows)
    ours = next(iter(build("kerasml", series, False, 1)))
    theirs = next(iter(build("keras", series, False, 1)))
    np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
    np.testing.assert_array_equal(ours[1].numpy()[:, 0, 0], theirs[1].numpy())


def measure(implementation, shuffle, label_width, rows):
    """Time one full pass in this process; returns windows/s and peak memory."""
    import keras  # noqa: F401  (imported before the memory baseline is read)

    import kerasml.data.windows  # noqa: F401

    series = make_series(rows)
    before = rss_mb()
    dataset = build(implementation, series, shuffle, label_width)
    started, windows = time.perf_counter(), 0
    for inputs, _ in dataset:
        windows += int(inputs.shape[0])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"windows": windows, "seconds": seconds, "windows_per_second": windows / seconds,
            "peak_memory_mb_above_start": max(peak - before, 0.0)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=ROWS, help="rows in the series (default %(default)s)")
    parser.add_argument("--output", default=str(pathlib.Path(__file__).parent / "results" / "windows.json"))
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # internal: run one case
    args = parser.parse_args(argv)

    if args.case is not None:
        _, implementation, shuffle, label_width = CASES[args.case]
        print(json.dumps(measure(implementation, shuffle, label_width, args.rows)))
        return None

    import kerasml  # noqa: F401

    check_same_windows(min(args.rows, 5_000))
    results = {}
    for index, (name, *_rest) in enumerate(CASES):
        print(f"running: {name} ...", flush=True)
        out = subprocess.run([sys.executable, __file__, "--case", str(index), "--rows", str(args.rows)],
                             check=True, capture_output=True, text=True).stdout
        results[name] = json.loads(out.strip().splitlines()[-1])
    speedups = {
        "unshuffled": results["kerasml, unshuffled"]["windows_per_second"]
        / results["keras, unshuffled"]["windows_per_second"],
        "shuffled": results["kerasml, shuffled"]["windows_per_second"]
        / results["keras, shuffled"]["windows_per_second"],
    }
    print(f"\n{args.rows:,} x {COLUMNS} float32 rows, input_width {INPUT_WIDTH}, batch {BATCH}, one pass")
    print(f"{'case':40s} {'windows/s':>12s} {'seconds':>8s} {'peak MB':>8s}")
    for name, row in results.items():
        print(f"{name:40s} {row['windows_per_second']:12,.0f} {row['seconds']:8.2f} "
              f"{row['peak_memory_mb_above_start']:8.1f}")
    print(f"speed-up over keras: unshuffled {speedups['unshuffled']:.1f}x (goal 20x), "
          f"shuffled {speedups['shuffled']:.1f}x (goal 10x)")
    report = {"rows": args.rows, "columns": COLUMNS, "input_width": INPUT_WIDTH, "batch_size": BATCH,
              "results": results, "speedup": speedups}
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f"wrote {output}")
    return report


if __name__ == "__main__":
    main()
