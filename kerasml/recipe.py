"""The harness every recipe uses: flags, seeding, run directory, callbacks,
SavedModel export with a reload check, and the metrics.json report.

A recipe declares its hyperparameters as a dataclass that extends
``RecipeConfig``; every field becomes a command-line flag (``input_width`` ->
``--input-width``, help text from ``field(metadata={"help": ...})``). The
shared flags of shared/DESIGN.md come from ``RecipeConfig`` and from the run
options (``--output-dir``, ``--quick``, ``--no-export``, ``--verbose``).

Example:
    >>> @dataclasses.dataclass
    ... class Config(RecipeConfig):
    ...     units: int = field(32, "LSTM units")
    >>> run = start_run("demo", Config, ["--quick", "--output-dir", "/tmp/demo"],
    ...                 description="demo", quick={"epochs": 1})
    >>> run.config.epochs
    1
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import pathlib
import platform
import shutil
import sys
import time
import types
import typing

import kerasml  # noqa: F401  (quiets TensorFlow's start-up logs before it loads)

import keras  # isort: skip
import numpy as np  # isort: skip
import tensorflow as tf  # isort: skip

DATA_FLAG_HELP = {
    "csv": "train on this CSV file instead of the embedded default data",
    "data_dir": "directory holding a downloaded dataset (see the recipe's Dataset section)",
    "tfds": "tensorflow-datasets name to train on (must be prepared, or downloadable)",
    "tfds_data_dir": "tensorflow-datasets data directory (default: tfds's own, ~/tensorflow_datasets)",
    "tfds_download": "let tensorflow-datasets download the --tfds set if it is not prepared (needs internet)",
}


def field(default, help: str, **kwargs):  # noqa: A002  (mirrors argparse's name)
    """A dataclass field with the help text its command-line flag shows."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata={"help": help}, **kwargs)
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


@dataclasses.dataclass
class RecipeConfig:
    """Hyperparameters every recipe has; recipes extend it and change defaults."""

    epochs: int = field(100, "maximum training epochs (early stopping may end sooner)")
    batch_size: int = field(64, "examples per training batch")
    learning_rate: float = field(1e-3, "optimiser learning rate")
    seed: int = field(0, "random seed: the same seed gives the same metrics")


@dataclasses.dataclass
class RunOptions:
    output_dir: pathlib.Path
    quick: bool
    export: bool
    verbose: bool


class ExportMismatchError(RuntimeError):
    """The reloaded SavedModel does not reproduce the Keras model's predictions."""


def _flag_type(annotation):
    """(argparse type, nargs) for a dataclass field annotation."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _flag_type(args[0])
    if origin in (list, tuple):
        return (args[0] if args else str), "+"
    if origin is typing.Literal:
        return type(args[0]), None
    return annotation, None


def build_parser(config_cls, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes metrics.json, history.csv, plots/*.png, model.keras, saved_model/ and "
               "tensorboard/ to --output-dir. An interrupted run resumes from its last epoch "
               "when started again with the same --output-dir.")
    hints = typing.get_type_hints(config_cls)
    for spec in dataclasses.fields(config_cls):
        flag = "--" + spec.name.replace("_", "-")
        kind, nargs = _flag_type(hints[spec.name])
        default = spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()
        help_text = spec.metadata.get("help") or DATA_FLAG_HELP.get(spec.name, "")
        if "default" not in help_text:
            help_text += f" (default: {default})"
        choices = typing.get_args(hints[spec.name]) if typing.get_origin(hints[spec.name]) is typing.Literal else None
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=help_text)
        else:
            parser.add_argument(flag, type=kind, nargs=nargs, choices=choices, default=argparse.SUPPRESS,
                                metavar=None if choices else spec.name.upper(),
                                help=help_text)
    parser.add_argument("--output-dir", type=pathlib.Path, default=None,
                        help="where to write results (default: runs/<recipe>/<timestamp>)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run that finishes in seconds, for smoke tests")
    parser.add_argument("--no-export", action="store_true", help="skip model.keras and the SavedModel")
    parser.add_argument("--verbose", action="store_true", help="Keras progress bars and more detail")
    return parser


def parse_config(config_cls, argv, description: str = "", quick: dict | None = None):
    """Parse ``argv`` into ``(config, options, explicitly_given_field_names)``.

    ``quick`` overrides fields under ``--quick`` unless the flag was given too.
    """
    parser = build_parser(config_cls, description)
    namespace = vars(parser.parse_args(argv))
    run_keys = ("output_dir", "quick", "no_export", "verbose")
    given = {k: v for k, v in namespace.items() if k not in run_keys}
    values = dict(quick or {}) if namespace["quick"] else {}
    values.update(given)
    for key, value in values.items():
        if isinstance(value, list) and isinstance(getattr(config_cls, key, None), tuple):
            values[key] = tuple(value)
    config = config_cls(**values)
    options = RunOptions(output_dir=namespace["output_dir"], quick=namespace["quick"],
                         export=not namespace["no_export"], verbose=namespace["verbose"])
    return config, options, set(given)


def start_run(name: str, config_cls, argv=None, description: str = "", quick: dict | None = None) -> Run:
    """Parse flags, seed every generator, create the run directory; returns the ``Run``."""
    config, options, given = parse_config(config_cls, argv, _help_text(description), quick)
    if options.output_dir is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        options.output_dir = pathlib.Path("runs") / name / stamp
    return Run(name, config, options, given)


def _help_text(docstring: str) -> str:
    """The recipe docstring's header, up to its Results section, for --help."""
    lines = []
    for line in (docstring or "").strip().splitlines():
        if line.startswith("Results:"):
            break
        lines.append(line)
    return "\n".join(lines).strip()


class Run:
    """One recipe run: its config, output directory, timers and report."""

    def __init__(self, name: str, config, options: RunOptions, given_flags: set[str] = frozenset()):
        self.name, self.config, self.options = name, config, options
        self.given_flags = set(given_flags)
        self.dir = pathlib.Path(options.output_dir)
        self.plots_dir = self.dir / "plots"
        self.plots_dir.mkdir(parents=True, exist_ok=True)
        self.timing: dict[str, float] = {}
        self._started = time.perf_counter()
        keras.utils.set_random_seed(config.seed)
        self.log(f"{name}: writing to {self.dir}")

    @property
    def quick(self) -> bool:
        return self.options.quick

    @property
    def fit_verbose(self) -> int:
        """Keras ``verbose``: progress bars with --verbose, else one line per epoch."""
        return 1 if self.options.verbose else 2

    def log(self, message: str) -> None:
        print(message, flush=True)

    @contextlib.contextmanager
    def timer(self, name: str):
        """Adds the block's wall time to ``timing[f"{name}_seconds"]``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            key = f"{name}_seconds"
            self.timing[key] = self.timing.get(key, 0.0) + time.perf_counter() - started

    def plot_path(self, filename: str) -> pathlib.Path:
        return self.plots_dir / filename

    def history_path(self, tag: str | None = None) -> pathlib.Path:
        """The per-epoch CSV that ``callbacks(tag=...)`` writes: history.csv, or history_<tag>.csv."""
        return self.dir / (f"history_{tag}.csv" if tag else "history.csv")

    def callbacks(self, monitor: str = "val_loss", patience: int = 10, mode: str = "auto",
                  tag: str | None = None) -> list[keras.callbacks.Callback]:
        """Early stopping (best weights restored), NaN guard, history CSV, TensorBoard and
        BackupAndRestore, so that a run started again in the same directory resumes.

        ``tag`` names a second model trained in the same run (its own history and backup).
        """
        backup_dir = self.dir / "backup" / (tag or "model")
        resuming = backup_dir.exists() and any(backup_dir.iterdir())
        if resuming:
            self.log(f"resuming {tag or 'training'} from the backup in {backup_dir}")
        return [
            keras.callbacks.BackupAndRestore(str(backup_dir)),
            keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, mode=mode,
                                          restore_best_weights=True),
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.CSVLogger(str(self.history_path(tag)), append=resuming),
            keras.callbacks.TensorBoard(str(self.dir / "tensorboard" / (tag or "model"))),
        ]

    def export(self, model: keras.Model, example_inputs, atol: float = 1e-4) -> pathlib.Path | None:
        """Save ``model.keras`` and a SavedModel, then prove the SavedModel serves.

        A fresh ``tf.saved_model.load`` of the export must reproduce ``model``'s
        predictions on ``example_inputs`` (real inputs, raw units) within
        ``atol`` plus a relative 1e-4, else ``ExportMismatchError``.
        """
        if not self.options.export:
            return None
        model.save(self.dir / "model.keras")
        path = self.dir / "saved_model"
        # Not model.export: it traces model.__call__ without `training`, and Keras' random
        # augmentation layers (RandomTranslation, ...) then default to training=True, so the
        # SavedModel would augment every input it serves. This endpoint is model.export's
        # `serve` (same signature, same names) with training=False, as model.predict runs.
        if isinstance(model, keras.Sequential):
            signature = model.inputs
        else:
            try:
                signature = [model.input]  # one argument: the tensor, list or dict the model was built on
            except AttributeError as error:  # a subclassed model has no symbolic inputs
                raise TypeError(f"run.export serves functional and Sequential models, not "
                                f"{type(model).__name__}: write its endpoint with keras.export.ExportArchive "
                                "and check it with kerasml.recipe.verify_saved_model.") from error
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", lambda inputs: model(inputs, training=False), input_signature=signature)
        archive.write_out(str(path), verbose=False)
        expected = model.predict(example_inputs, verbose=0)
        verify_saved_model(path, [example_inputs], expected, atol=atol)  # serve takes one argument
        self.log(f"exported {path} (reload check passed)")
        return path

    def finish(self, dataset: str, metrics: dict, baselines: dict | None = None,
               artifacts: dict | None = None, extra: dict | None = None) -> dict:
        """Write metrics.json, print the results table and return the report."""
        self.timing["total_seconds"] = time.perf_counter() - self._started
        backups = self.dir / "backup"
        if backups.is_dir() and not any(p.is_file() for p in backups.rglob("*")):
            shutil.rmtree(backups)  # training finished: BackupAndRestore emptied it
        plots = sorted(str(p.relative_to(self.dir)) for p in self.plots_dir.glob("*.png"))
        found = {"history": [p.name for p in sorted(self.dir.glob("history*.csv"))], "plots": plots,
                 "tensorboard": "tensorboard" if (self.dir / "tensorboard").exists() else None,
                 "model": "model.keras" if (self.dir / "model.keras").exists() else None,
                 "saved_model": "saved_model" if (self.dir / "saved_model").exists() else None}
        report = {
            "recipe": self.name,
            "dataset": dataset,
            "config": dataclasses.asdict(self.config),
            "quick": self.quick,
            "metrics": metrics,
            "baselines": baselines or {},
            "timing": self.timing,
            "artifacts": {**{k: v for k, v in found.items() if v}, **(artifacts or {})},
            "environment": environment(),
            "measured": datetime.datetime.now().isoformat(timespec="seconds"),
            **(extra or {}),
        }
        report = _json_safe(report)
        (self.dir / "metrics.json").write_text(json.dumps(report, indent=2))
        self.log("\n" + results_table(metrics, baselines or {}))
        self.log(f"\nmetrics.json, plots and models are in {self.dir}")
        return report


def verify_saved_model(path, inputs, expected, endpoint: str = "serve", atol: float = 1e-4) -> None:
    """Reload a SavedModel in TensorFlow and compare its ``endpoint`` with ``expected``.

    ``inputs`` is the endpoint's one argument, or a list of its positional
    arguments. ``model.export`` gives ``serve`` a single argument (the tensor,
    list or dict the model was built on): for a list- or dict-input model pass
    ``[inputs]``.
    """
    reloaded = tf.saved_model.load(str(path))
    if isinstance(inputs, (list, tuple)):
        served = getattr(reloaded, endpoint)(*inputs)
    else:
        served = getattr(reloaded, endpoint)(inputs)
    served_flat = [np.asarray(t) for t in tf.nest.flatten(served)]
    expected_flat = [np.asarray(t) for t in tf.nest.flatten(expected)]
    for got, want in zip(served_flat, expected_flat, strict=True):
        if got.dtype.kind in "OSU":
            if not np.array_equal(got, want):
                raise ExportMismatchError(f"SavedModel at {path} serves different outputs.")
            continue
        if got.shape != want.shape or not np.allclose(got, want, atol=atol, rtol=1e-4):
            diff = np.max(np.abs(got - want)) if got.shape == want.shape else "shape"
            raise ExportMismatchError(
                f"SavedModel at {path} does not reproduce the Keras model: max |difference| "
                f"{diff} (shapes {got.shape} vs {want.shape}). If the model holds random layers "
                "(keras.layers.RandomTranslation and other augmentation), model.export traces them in "
                "training mode: export keras.Model(inputs, model(inputs, training=False)) instead.")


def environment() -> dict:
    return {"keras": keras.__version__, "tensorflow": tf.__version__,
            "backend": keras.backend.backend(), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "platform": sys.platform}


def results_table(metrics: dict, baselines: dict) -> str:
    """A plain-text table: the model and each baseline over the model's scalar metrics."""
    keys = [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    rows = [("model", metrics)] + list(baselines.items())
    width = max(len(name) for name, _ in rows)
    lines = [" ".join([f"{'':{width}s}"] + [f"{k:>14s}" for k in keys])]
    for name, values in rows:
        cells = [f"{values[k]:14.4f}" if isinstance(values.get(k), (int, float)) else f"{'-':>14s}"
                 for k in keys]
        lines.append(" ".join([f"{name:{width}s}"] + cells))
    return "\n".join(lines)


def _json_safe(value):
    """Plain JSON: NumPy scalars to Python, non-finite floats to null."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, pathlib.Path):
        return str(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
