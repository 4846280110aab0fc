"""Matplotlib figures that recipes write as PNG (no display needed).

Example:
    >>> path = plot_lines("/tmp/demo.png", {"actual": [1, 2, 3], "model": [1, 2, 2.5]}, title="demo")
    >>> path.name
    'demo.png'
"""

from __future__ import annotations

import csv
import pathlib

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402


def plot_lines(path, lines: dict, x=None, title: str = "", xlabel: str = "", ylabel: str = "",
               styles: dict | None = None, yscale: str = "linear") -> pathlib.Path:
    """One line per entry of ``lines`` ({label: y}), sharing ``x``; ``yscale="log"`` for
    lines that differ by orders of magnitude."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for label, values in lines.items():
        style = (styles or {}).get(label, {})
        ax.plot(x if x is not None else range(len(values)), values, label=label, **style)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, yscale=yscale)
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


def plot_confusion_matrix(path, matrix, labels, title: str = "") -> pathlib.Path:
    """Counts (rows: true class, columns: predicted), shaded by each row's share (per-class recall)."""
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", fontsize=9,
                color="white" if shares[row, col] > 0.6 else "black")
    ax.set_xticks(range(len(labels)), [str(label) for label in labels], rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), [str(label) for label in labels])
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return _save(fig, path)


def plot_curves(path, curves: dict, title: str = "", xlabel: str = "", ylabel: str = "",
                diagonal: bool = False, baseline: float | None = None,
                chance_label: str = "chance") -> pathlib.Path:
    """Curves in the unit square, ``{label: (x, y)}``: ROC (``diagonal=True`` adds chance)
    or precision-recall (``baseline`` draws the horizontal chance level)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for label, (x, y) in curves.items():
        ax.plot(x, y, label=label, linewidth=1.2)
    if diagonal:
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label=chance_label)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle=":", linewidth=1, label=chance_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def plot_predicted_vs_actual(path, actual, predictions: dict, title: str = "",
                             units: str = "") -> pathlib.Path:
    """One scatter per model, ``{label: predicted}``, against the actual values; y = x dashed."""
    fig, axes = plt.subplots(1, len(predictions), figsize=(4.5 * len(predictions), 4.3),
                             squeeze=False, sharey=True)
    low = min(np.min(actual), *(np.min(p) for p in predictions.values()))
    high = max(np.max(actual), *(np.max(p) for p in predictions.values()))
    for ax, (label, predicted) in zip(axes[0], predictions.items()):
        ax.scatter(actual, predicted, s=12, alpha=0.7)
        ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
        ax.set(title=label, xlabel=f"actual {units}".strip(), xlim=(low, high), ylim=(low, high))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"predicted {units}".strip())
    fig.suptitle(title)
    return _save(fig, path)


def plot_attention(path, examples, title: str = "") -> pathlib.Path:
    """Attention heat maps, one panel per ``(weights, source_tokens, target_tokens)``.

    ``weights`` is ``[target_steps, source_steps]`` (rows: output tokens, columns:
    the input tokens they attend to, each row summing to 1); the token lists
    label the axes (a space shows as ␣) and may be shorter than the weights (the
    rest is cut off).
    """
    examples = list(examples)
    fig, axes = plt.subplots(1, len(examples), squeeze=False,
                             figsize=(sum(max(3.0, 0.28 * len(e[1]) + 1.5) for e in examples), 4.2))
    for ax, (weights, source, target) in zip(axes[0], examples):
        shown = np.asarray(weights)[:len(target), :len(source)]
        ax.imshow(shown, cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(source)), [t if t.strip() else "␣" for t in source], rotation=90, fontsize=8)
        ax.set_yticks(range(len(target)), [t if t.strip() else "␣" for t in target], fontsize=8)
        ax.set(xlabel="source token", ylabel="output token")
    fig.suptitle(title)
    return _save(fig, path)


def plot_line_panels(path, panels: dict, title: str = "", xlabel: str = "", ylabel: str = "",
                     columns: int = 4) -> pathlib.Path:
    """Small multiples, ``{panel title: {label: y}}``, on shared axes so panels compare
    at a glance (e.g. training and validation curves, one panel per experiment)."""
    rows = -(-len(panels) // columns)
    width = min(columns, len(panels))
    fig, axes = plt.subplots(rows, width, figsize=(3.6 * width, 3 * rows), squeeze=False,
                             sharex=True, sharey=True)
    for ax, (name, lines) in zip(axes.flat, panels.items()):
        for label, values in lines.items():
            ax.plot(range(1, len(values) + 1), values, label=label, linewidth=1)
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
