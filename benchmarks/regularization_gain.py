"""How much does each remedy gain over none, on images the recipe's test split never sees?

The regularization recipe scores its chosen networks on the test split once.
This benchmark estimates a remedy's expected gain without reading that split:
each repeat draws the recipe's own training and validation images
(`regularization.split`, same seeds), trains the plain network and each
remedy at a fixed strength on them, and scores every network on the rest of
the pool (the images outside test, training and validation: about 950). More
repeats than the recipe's four make the mean gain steadier.

Run:  python -m benchmarks.regularization_gain     (writes benchmarks/results/regularization_gain.json)
      python -m benchmarks.regularization_gain --architectures mlp --train-sizes 50 --repeats 3
"""

import argparse
import datetime
import json
import pathlib

import kerasml  # noqa: F401  (first: quiets TensorFlow's start-up logs)

import numpy as np  # isort: skip
from sklearn.datasets import load_digits  # isort: skip

from recipes import regularization  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results" / "regularization_gain.json"
# name -> (remedies, Config overrides): the recipe's chosen strengths, and a whole-pixel shift.
VARIANTS = {"none": ({}, {}), "augmentation 15": ({"augmentation": 15.0}, {}),
            "augmentation 15, 1-pixel shift": ({"augmentation": 15.0}, {"shift": 1.0}),
            "dropout 0.25": ({"dropout": 0.25}, {})}


def pool_scores(architecture: str, train_size: int, repeats: int) -> dict[str, list[float]]:
    """Accuracy on the rest of the pool for each variant, one value per repeat."""
    digits = load_digits()
    images, labels = digits.images.astype("float32"), digits.target.astype("int32")
    scores = {}
    for name, (remedies, overrides) in VARIANTS.items():
        config = regularization.Config(architecture=architecture, train_size=train_size, **overrides)
        for repeat in range(repeats):
            train, val, test = regularization.split(config, labels, repeat)
            rest = np.setdiff1d(np.arange(len(labels)), np.concatenate([train, val, test]))
            data = {part: (images[i], labels[i]) for part, i in (("train", train), ("val", val), ("rest", rest))}
            model, _, _ = regularization.train_once(config, remedies, data, config.seed + repeat, verbose=0)
            scores.setdefault(name, []).append(regularization.accuracy(model, data["rest"]))
        gain = 100 * (np.array(scores[name]) - np.array(scores["none"]))
        print(f"{architecture} {train_size:4d} images  {name:32s} {np.mean(scores[name]):.4f}  "
              f"gain {gain.mean():+.2f} ± {gain.std():.2f} points", flush=True)
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    parser.add_argument("--train-sizes", nargs="+", type=int, default=[100, 50])
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args(argv)
    rows = []
    for architecture in args.architectures:
        for train_size in args.train_sizes:
            scores = pool_scores(architecture, train_size, args.repeats)
            for name, values in scores.items():
                gain = 100 * (np.array(values) - np.array(scores["none"]))
                rows.append({"architecture": architecture, "train_size": train_size, "variant": name,
                             "pool_accuracy_mean": float(np.mean(values)),
                             "gain_points_mean": float(gain.mean()), "gain_points_std": float(gain.std()),
                             "pool_accuracy": values})
    RESULTS.write_text(json.dumps({"repeats": args.repeats, "rows": rows,
                                   "measured": datetime.datetime.now().isoformat(timespec="seconds"),
                                   "command": "python -m benchmarks.regularization_gain"}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
