"""Graph benchmarks: Cora node classification over seeds, kerasml's GCN against
tensorflow-gnn's, and graph-pooling results.

Sections, each in its own subprocesses (fresh TensorFlow state every time):

* ``cora``: the four node-classification recipes (GCN, GraphSAGE, GAT, Graph
  U-Net) on Cora's standard Planetoid split (140 / 500 / 1000 nodes), each run
  with ``--seeds N`` exactly as a user would run it; test accuracy mean ± std
  beside the papers' numbers and kerasml's bars. The recipes' baselines
  (logistic regression, label spreading, MLP) come along.
* ``tfgnn``: kerasml ``GCNConv`` against tensorflow-gnn's own
  ``tensorflow_gnn.models.gcn.GCNConv`` (which runs on tf-keras, so it gets a
  process of its own, with tensorflow-gnn imported before anything else). The
  same model on both sides (Kipf & Welling's: dropout 0.5, 16 hidden units with
  relu, L2 5e-4 on the first layer, Adam 0.01, 200 epochs, no early stopping,
  the last epoch's weights), the same pre-normalised features, each side's
  own ``fit`` on a one-element dataset holding the whole graph. Reported:
  test accuracy mean ± std over the seeds, and seconds per epoch (wall clock
  and process CPU, median and minimum over all epochs but each seed's first,
  which traces the graph). The machine is shared: CPU time is the steadier
  measure, the load average is recorded.
* ``pooling``: MUTAG / PROTEINS 10-fold accuracy per pooling, from
  ``benchmarks.graph_pooling.pooling_results()``. That function returns its saved
  results, or runs its whole benchmark (an hour or more) when there are none.

Sections not run keep their previous results in the JSON file; each section
records when it was measured.

Run:  python -m benchmarks.graphs --data-dir ../shared/data/graphs
      python -m benchmarks.graphs --data-dir ../shared/data/graphs --seeds 2 --sections tfgnn
Writes benchmarks/results/graphs.json (override with --output) and prints a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "graphs.json"
SECTIONS = ("cora", "tfgnn", "pooling")

# recipe -> (model, published Cora accuracy and std (None: not published), kerasml's bar, source)
CORA_MODELS = {
    "gcn_node_classification": ("GCN", 81.5, None, 80.5, "Kipf & Welling 2017, table 2"),
    "graphsage_node_classification": ("GraphSAGE", None, None, 79.0,
                                      "Hamilton et al. 2017 report no Cora result"),
    "gat_node_classification": ("GAT", 83.0, 0.7, 82.0, "Velickovic et al. 2018, table 2"),
    "graph_unet": ("Graph U-Net", 84.4, 0.6, 82.0, "Gao & Ji 2019, table 3"),
}


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def environment():
    import platform

    versions = {}
    for module in ("tensorflow", "keras", "tensorflow_gnn", "tf_keras"):
        spec = importlib.util.find_spec(module)
        if spec is not None:
            from importlib import metadata

            name = {"tensorflow_gnn": "tensorflow-gnn", "tf_keras": "tf-keras"}.get(module, module)
            try:
                versions[module] = metadata.version(name)
            except metadata.PackageNotFoundError:
                versions[module] = "?"
    return {"python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            **versions}


def run(command):
    """Run a subprocess from the repository root, streaming its output."""
    print(f"$ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return time.perf_counter() - started


# ## Cora: the four recipes, --seeds N each
def cora_section(planetoid_dir, seeds, runs_dir, recipes=tuple(CORA_MODELS)):
    rows = {}
    for recipe in recipes:
        model, paper, paper_std, bar, source = CORA_MODELS[recipe]
        output = runs_dir / recipe
        seconds = run([sys.executable, "-m", f"recipes.{recipe}", "--dataset", "cora", "--data-dir",
                       str(planetoid_dir), "--seeds", str(seeds), "--no-export", "--output-dir",
                       str(output)])
        report = json.loads((output / "metrics.json").read_text())
        metrics = report["metrics"]
        mean = 100 * metrics.get("test_accuracy_mean", metrics["test_accuracy"])
        std = 100 * metrics.get("test_accuracy_std", 0.0)
        rows[recipe] = {
            "model": model, "seeds": seeds,
            "test_accuracy_mean": round(mean, 2), "test_accuracy_std": round(std, 2),
            "test_accuracies": [round(100 * a, 1) for a in report["per_seed"]["test_accuracy"]],
            "epochs": report["per_seed"]["epochs"],
            "paper": paper, "paper_std": paper_std, "paper_source": source, "bar": bar,
            "meets_bar": bool(mean >= bar),
            "baselines": {name: round(100 * values["test_accuracy"], 2)
                          for name, values in report["baselines"].items()},
            "config": report["config"],
            "train_seconds_per_seed": round(metrics["train_seconds_per_seed"], 1),
            "wall_seconds": round(seconds, 1),
            "measured": report["measured"],
            "load_average_after": load_average(),
        }
    return rows


def print_cora(rows):
    print("\nCora, standard Planetoid split: test accuracy % (mean ± std over seeds)")
    print(f"{'model':12s} {'kerasml':>14s} {'paper':>11s} {'bar':>6s} {'meets':>6s} {'s/seed':>7s}")
    for row in rows.values():
        paper = "-" if row["paper"] is None else f"{row['paper']:.1f}" + (
            f" ± {row['paper_std']:.1f}" if row["paper_std"] else "")
        print(f"{row['model']:12s} {row['test_accuracy_mean']:7.2f} ± {row['test_accuracy_std']:4.2f} "
              f"{paper:>11s} {row['bar']:6.1f} {'yes' if row['meets_bar'] else 'NO':>6s} "
              f"{row['train_seconds_per_seed']:7.1f}")
    baselines = next(iter(rows.values()))["baselines"]
    print("baselines (same split, one run): " + ", ".join(f"{k} {v:.1f}" for k, v in baselines.items()))


# ## kerasml GCNConv against tensorflow-gnn's GCNConv
class EpochTimer:
    """Wall-clock and process-CPU seconds of every epoch (works as a Keras 2 and 3 callback)."""

    def __init__(self):
        self.wall, self.cpu = [], []

    def as_callback(self, keras_module):
        timer = self

        class Callback(keras_module.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer._started = (time.perf_counter(), time.process_time())

            def on_epoch_end(self, epoch, logs=None):
                wall, cpu = timer._started
                timer.wall.append(time.perf_counter() - wall)
                timer.cpu.append(time.process_time() - cpu)

        return Callback()


def gcn_worker(side, planetoid_dir, seeds, epochs, output):
    """One side of the comparison, over an iterable of ``seeds``; writes {accuracy, epoch
    wall/cpu seconds} as JSON."""
    if side == "tfgnn":
        from kerasml.graph import tfgnn as kerasml_tfgnn

        tfgnn = kerasml_tfgnn.import_tfgnn()  # first: it needs tf.keras to be Keras 2
    import numpy as np
    import tensorflow as tf

    from kerasml.graph import load_planetoid, node_training

    graph = load_planetoid(str(planetoid_dir), "cora", normalize_features=True)
    labels, train, test = graph.y.astype("int32"), graph.train_mask, graph.test_mask
    weights = node_training.node_weights(train)
    accuracies, timers = [], []
    for seed in seeds:
        timer = EpochTimer()
        if side == "kerasml":
            import keras

            from recipes.gcn_node_classification import Config, build_model

            keras.utils.set_random_seed(seed)
            model = build_model(Config(), graph.num_features, graph.num_classes, row_normalize=False)
            inputs = node_training.model_inputs(graph)
            callback = timer.as_callback(keras)
        else:
            tf.keras.utils.set_random_seed(seed)
            model, inputs = tfgnn_gcn(tfgnn, kerasml_tfgnn.to_graph_tensor(graph), graph.num_classes)
            callback = timer.as_callback(tf.keras)
        data = tf.data.Dataset.from_tensors((inputs, labels, weights))
        model.fit(data, epochs=epochs, verbose=0, callbacks=[callback])
        predicted = np.asarray(model(inputs, training=False)).argmax(1)
        accuracies.append(float(np.mean(predicted[test] == labels[test])))
        timers.append(timer)
        print(f"{side} seed {seed}: test accuracy {accuracies[-1]:.4f}, "
              f"{statistics.median(timer.wall[1:]):.4f} s/epoch", flush=True)
    pathlib.Path(output).write_text(json.dumps({
        "accuracy": accuracies,
        "epoch_wall_seconds": [t for timer in timers for t in timer.wall[1:]],
        "epoch_cpu_seconds": [t for timer in timers for t in timer.cpu[1:]],
        "first_epoch_wall_seconds": [timer.wall[0] for timer in timers],
    }))


def tfgnn_gcn(tfgnn, graph_tensor, num_classes):
    """Kipf & Welling's GCN in tensorflow-gnn (tf.keras): GCNConv on the edge set,
    dropout on the node states, softmax readout of the node set."""
    import tensorflow as tf
    from tensorflow_gnn.models import gcn

    def dropout(rate):
        def fn(node_set, *, node_set_name):
            return tf.keras.layers.Dropout(rate)(node_set[tfgnn.HIDDEN_STATE])
        return fn

    def gcn_update(units, activation, regularizer=None):
        conv = gcn.GCNConv(units, activation=activation, add_self_loops=True,
                           kernel_regularizer=regularizer)
        return tfgnn.keras.layers.GraphUpdate(node_sets={"nodes": tfgnn.keras.layers.NodeSetUpdate(
            {"edges": conv}, next_state=tfgnn.keras.layers.SingleInputNextState())})

    inputs = tf.keras.layers.Input(type_spec=graph_tensor.spec)
    graph = tfgnn.keras.layers.MapFeatures(node_sets_fn=dropout(0.5))(inputs)
    graph = gcn_update(16, "relu", tf.keras.regularizers.l2(5e-4 / 2))(graph)
    graph = tfgnn.keras.layers.MapFeatures(node_sets_fn=dropout(0.5))(graph)
    graph = gcn_update(num_classes, None)(graph)
    logits = graph.node_sets["nodes"][tfgnn.HIDDEN_STATE]
    model = tf.keras.Model(inputs, tf.keras.layers.Softmax()(logits))
    model.compile(tf.keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model, graph_tensor


def tfgnn_section(planetoid_dir, seeds, epochs, runs_dir, rounds=2):
    """The two sides take turns, ``rounds`` times, each time on the next share of
    the seeds: load from other processes then falls on both alike."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    results = {"load_average_before": load_average()}
    chunks = [list(range(seeds))[i::rounds] for i in range(rounds)]
    raws = {"kerasml": [], "tfgnn": []}
    for chunk in filter(None, chunks):
        for side in raws:
            output = runs_dir / f"gcn_{side}_{chunk[0]}.json"
            run([sys.executable, "-m", "benchmarks.graphs", "--gcn-worker", side, str(planetoid_dir),
                 ",".join(map(str, chunk)), str(epochs), str(output)])
            raws[side].append(json.loads(output.read_text()))
    for side, parts in raws.items():
        raw = {key: [v for part in parts for v in part[key]] for key in parts[0]}
        accuracy = [100 * a for a in raw["accuracy"]]
        results[side] = {
            "test_accuracy_mean": round(statistics.mean(accuracy), 2),
            "test_accuracy_std": round(statistics.pstdev(accuracy), 2),
            "test_accuracies": [round(a, 1) for a in accuracy],
            "seeds_in_order": [seed for chunk in chunks for seed in chunk],
            "epoch_seconds_median": round(statistics.median(raw["epoch_wall_seconds"]), 4),
            "epoch_seconds_min": round(min(raw["epoch_wall_seconds"]), 4),
            "epoch_cpu_seconds_median": round(statistics.median(raw["epoch_cpu_seconds"]), 4),
            "epoch_cpu_seconds_min": round(min(raw["epoch_cpu_seconds"]), 4),
            "first_epoch_seconds_median": round(statistics.median(raw["first_epoch_wall_seconds"]), 2),
        }
    results["load_average_after"] = load_average()
    results["protocol"] = (f"Kipf & Welling GCN, {epochs} epochs, last weights, seeds 0..{seeds - 1} "
                           f"in {rounds} alternating rounds per side; seconds per epoch exclude each "
                           "seed's first (tracing) epoch")
    results["ratio_kerasml_over_tfgnn"] = {
        "epoch_seconds_median": round(results["kerasml"]["epoch_seconds_median"]
                                      / results["tfgnn"]["epoch_seconds_median"], 3),
        "epoch_cpu_seconds_median": round(results["kerasml"]["epoch_cpu_seconds_median"]
                                          / results["tfgnn"]["epoch_cpu_seconds_median"], 3),
    }
    return results


def print_tfgnn(results):
    print("\nGCN on Cora: kerasml GCNConv (Keras 3) vs tensorflow_gnn.models.gcn.GCNConv (tf-keras)")
    print(f"{'':10s} {'accuracy %':>14s} {'s/epoch median':>15s} {'min':>8s} {'CPU s/epoch':>12s}")
    for side in ("kerasml", "tfgnn"):
        row = results[side]
        print(f"{side:10s} {row['test_accuracy_mean']:7.2f} ± {row['test_accuracy_std']:4.2f} "
              f"{row['epoch_seconds_median']:15.4f} {row['epoch_seconds_min']:8.4f} "
              f"{row['epoch_cpu_seconds_median']:12.4f}")
    ratio = results["ratio_kerasml_over_tfgnn"]
    print(f"kerasml / tf-gnn time per epoch: {ratio['epoch_seconds_median']:.2f} (wall), "
          f"{ratio['epoch_cpu_seconds_median']:.2f} (CPU); load average "
          f"{results['load_average_before']} -> {results['load_average_after']}")


# ## Graph pooling (benchmarks.graph_pooling's results)
def pooling_section():
    from benchmarks import graph_pooling

    return graph_pooling.pooling_results()


def print_pooling(results):
    from benchmarks import graph_pooling

    print("\nGraph pooling (benchmarks.graph_pooling.pooling_results()):")
    print(graph_pooling.table(results))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=pathlib.Path, default=ROOT.parent / "shared" / "data" / "graphs",
                        help="folder holding planetoid/ (ind.cora.*) (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per model (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=200,
                        help="epochs of the GCN comparison (default: %(default)s)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="what to run (default: all)")
    parser.add_argument("--recipes", nargs="+", choices=list(CORA_MODELS), default=list(CORA_MODELS),
                        help="recipes of the cora section (default: all four; others keep their "
                             "previous rows)")
    parser.add_argument("--output", type=pathlib.Path, default=RESULTS,
                        help="JSON results file (default: %(default)s)")
    parser.add_argument("--runs-dir", type=pathlib.Path, default=ROOT / "runs" / "benchmarks" / "graphs",
                        help="where the recipe runs write (default: %(default)s)")
    parser.add_argument("--gcn-worker", nargs=5, help=argparse.SUPPRESS)  # internal: one side, subprocess
    args = parser.parse_args(argv)
    if args.gcn_worker:
        side, planetoid_dir, seeds, epochs, output = args.gcn_worker
        return gcn_worker(side, planetoid_dir, [int(s) for s in seeds.split(",")], int(epochs), output)

    planetoid = args.data_dir / "planetoid"
    if {"cora", "tfgnn"} & set(args.sections) and not (planetoid / "ind.cora.graph").exists():
        parser.error(f"{planetoid}/ind.cora.* not found: pass --data-dir pointing at the folder "
                     "that holds planetoid/ (see ../shared/data/graphs/README.md)")
    results = json.loads(args.output.read_text()) if args.output.exists() else {}
    results["environment"] = environment()
    stamp = {"measured": time.strftime("%Y-%m-%dT%H:%M:%S"), "seeds": args.seeds}
    if "cora" in args.sections:
        rows = cora_section(planetoid, args.seeds, args.runs_dir, args.recipes)
        results["cora"] = {**results.get("cora", {}), **rows}
    if "tfgnn" in args.sections:
        results["gcn_vs_tfgnn"] = {**stamp, **tfgnn_section(planetoid, args.seeds, args.epochs, args.runs_dir)}
    if "pooling" in args.sections:
        results["pooling"] = pooling_section()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    if "cora" in results:
        print_cora({name: results["cora"][name] for name in CORA_MODELS if name in results["cora"]})
    if "gcn_vs_tfgnn" in results:
        print_tfgnn(results["gcn_vs_tfgnn"])
    if "pooling" in results:
        print_pooling(results["pooling"])
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
