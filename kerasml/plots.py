"""Matplotlib figures that recipes write as PNG (no display needed).

Example:
    >>> plot_lines("/tmp/demo.png", {"actual": [1, 2, 3], "model": [1, 2, 2.5]}, title="demo")
"""

from __future__ import annotations

import csv
import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402


def plot_lines(path, lines: dict, x=None, title: str = "", xlabel: str = "", ylabel: str = "",
               styles: dict | None = None) -> pathlib.Path:
    """One line per entry of ``lines`` ({label: y}), sharing ``x``."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for label, values in lines.items():
        style = (styles or {}).get(label, {})
        ax.plot(x if x is not None else range(len(values)), values, label=label, **style)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_history(history_csv, path, metrics=("loss",)) -> pathlib.Path:
    """Training curves from a CSVLogger file: each metric with its ``val_`` twin."""
    with open(history_csv) as handle:
        rows = list(csv.DictReader(handle))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if rows and key in rows[0]:
                ax.plot(epochs, [float(r[key]) for r in rows], label=label)
        ax.set(title=metric, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
