"""Node classification, the parts every node-classification recipe shares: data,
baselines, a masked full-graph training loop, repeats over seeds, and export.

Used by ``recipes.gcn_node_classification``, ``graphsage_node_classification``,
``gat_node_classification`` and ``graph_unet``. The recipes keep what differs
between them (the model, and GraphSAGE's sampled mini-batches).

Semi-supervised node classification trains on one graph in which only a few
nodes are labelled for training (``train_mask``); validation and test nodes sit
in the same graph, unlabelled as far as the loss is concerned. Two things
follow for Keras:

- The loss must count the training nodes only. We pass a sample weight per
  node, ``mask / mask.mean()``: Keras averages the weighted loss over *all*
  N nodes, so the raw 0/1 mask would shrink the loss (and with it the
  gradient against the weight decay) by the share of labelled nodes, 140 / 2708
  on Cora. Divided by the mean, the loss is the mean over the masked nodes.
- A batch is the whole graph. We feed ``tf.data`` datasets with one graph per
  element, never ``fit(x=arrays)``, which would slice nodes and edges into
  unrelated batches.
"""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np
from keras import ops

from kerasml.graph.data import Graph, karate_club
from kerasml.graph.loaders import fetch_planetoid
from kerasml.graph.synthetic import stochastic_block_model
from kerasml.recipe import RecipeConfig, field, verify_saved_model

PLANETOID = ("cora", "citeseer", "pubmed")
DATASETS = ("karate", "sbm", *PLANETOID)


@dataclasses.dataclass
class NodeClassificationConfig(RecipeConfig):
    """Data and evaluation flags shared by the node-classification recipes."""

    dataset: str = field("karate", f"graph to classify the nodes of: {', '.join(DATASETS)}")
    data_dir: str | None = field(
        None, "folder holding the Planetoid files ind.<dataset>.* (without it, Cora and friends "
        "are downloaded once into the Keras cache)")
    seeds: int = field(1, "train this many times, with seeds --seed, --seed + 1, ...; reports "
                          "test accuracy mean and std")
    row_normalize: bool | None = field(
        None, "divide each node's features by their sum inside the model (default: on for the "
              "bag-of-words Planetoid features, off otherwise)")
    weight_decay: float = field(5e-4, "L2 penalty, as the papers write it: weight_decay * sum(w^2) / 2")
    patience: int = field(10, "stop when the validation loss has not improved for this many epochs "
                              "(the weights of the best epoch are kept)")


# ## Data
@dataclasses.dataclass
class NodeData:
    """A graph with train/val/test masks, a description, and whether its features
    are bag-of-words counts (which GCN and GAT row-normalise)."""

    graph: Graph
    name: str
    description: str
    bag_of_words: bool = False

    @property
    def class_names(self) -> list[str]:
        names = {"karate": ["Mr. Hi", "Officer"]}.get(self.name)
        return names or [str(c) for c in range(self.graph.num_classes)]


def load_node_dataset(name: str = "karate", data_dir: str | None = None) -> NodeData:
    """The graph behind ``--dataset``; the split is fixed (seeds only change the models).

    - ``karate``: Zachary's karate club (networkx), 34 members, one-hot ids as
      features, 4 labelled members per club, 10 validation, 16 test.
    - ``sbm``: a 300-node stochastic block model with 3 communities and noisy
      features (``kerasml.graph.stochastic_block_model``), 20 labels per class.
    - ``cora``, ``citeseer``, ``pubmed``: the Planetoid split (Yang et al. 2016)
      from ``data_dir``, or downloaded once. Offline and without ``data_dir``:
      ``SystemExit`` with one message naming ``--data-dir``.
    """
    name = name.lower()
    if name == "karate":
        return NodeData(karate_club(), name,
                        "karate club (networkx; Zachary 1977): 34 members, 78 friendships, 2 clubs")
    if name == "sbm":
        graph = stochastic_block_model()
        return NodeData(graph, name, "stochastic block model (generated): 300 nodes, 3 blocks, "
                                     "p_in 0.05, p_out 0.005, 16 noisy features")
    if name not in PLANETOID:
        raise SystemExit(f"--dataset must be one of {', '.join(DATASETS)}; got {name!r}.")
    try:
        graph = fetch_planetoid(name, data_dir)
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None
    return NodeData(graph, name, f"{name} (Planetoid split, Yang et al. 2016): {graph.num_nodes} "
                                 f"nodes, {graph.num_edges // 2} edges, {graph.num_classes} classes, "
                                 f"{graph.train_mask.sum()}/{graph.val_mask.sum()}/"
                                 f"{graph.test_mask.sum()} train/val/test", bag_of_words=True)


def wants_row_normalization(config: NodeClassificationConfig, data: NodeData) -> bool:
    return data.bag_of_words if config.row_normalize is None else config.row_normalize


def split_summary(graph: Graph) -> dict:
    return {"nodes": graph.num_nodes, "edges": graph.num_edges, "features": graph.num_features,
            "classes": graph.num_classes, "train_nodes": int(graph.train_mask.sum()),
            "val_nodes": int(graph.val_mask.sum()), "test_nodes": int(graph.test_mask.sum())}


# ## Layers that belong inside the exported model
@keras.saving.register_keras_serializable(package="kerasml")
class RowNormalization(keras.layers.Layer):
    """Divide each row by its sum (rows summing to 0 are left as they are).

    Kipf & Welling's ``preprocess_features`` for bag-of-words node features, done
    inside the model so that the exported model takes the raw counts.
    """

    def call(self, x):
        total = ops.sum(x, axis=-1, keepdims=True)
        return x / ops.where(total == 0, ops.ones_like(total), total)


@keras.saving.register_keras_serializable(package="kerasml")
class EdgeDropout(keras.layers.Layer):
    """Drop each edge with probability ``rate`` while training (dropout on the
    adjacency matrix, as Graph U-Nets use it); the identity at inference.

    Call arguments:
        edge_index: [2, E] int.
        training: drop edges only when True.

    Returns:
        [2, E'] the kept edges, in their original order.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1); got {rate}.")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, edge_index, training=None):
        if not training or self.rate == 0:
            return edge_index
        draw = keras.random.uniform(ops.shape(edge_index)[1:], seed=self.seed_generator)
        kept = ops.nonzero(draw >= self.rate)[0]
        return ops.take(edge_index, kept, axis=1)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def graph_inputs(num_features: int) -> dict:
    """The two Keras inputs of a node classifier: ``x`` [N, F] and ``edge_index`` [2, E]."""
    return {
        "x": keras.Input((num_features,), name="x"),
        "edge_index": keras.Input((None,), batch_size=2, dtype="int32", name="edge_index"),
    }


def l2(weight_decay: float):
    """The papers' penalty ``weight_decay * sum(w^2) / 2`` (TensorFlow's ``l2_loss``) as a
    Keras regulariser (Keras' ``l2(c)`` adds ``c * sum(w^2)``, without the half)."""
    return keras.regularizers.l2(weight_decay / 2) if weight_decay else None


def compile_node_classifier(model: keras.Model, learning_rate: float) -> keras.Model:
    """Adam, cross-entropy on softmax outputs, accuracy weighted by the node masks.

    No XLA: sampled mini-batches change the number of nodes and edges at every
    step, and pooling gives data-dependent shapes.
    """
    model.compile(keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  weighted_metrics=["accuracy"], jit_compile=False)
    return model


# ## Training on the whole graph
def node_weights(mask: np.ndarray) -> np.ndarray:
    """Per-node sample weights that make Keras' loss the mean over ``mask``'s nodes."""
    mask = np.asarray(mask, dtype="float32")
    return mask / max(float(mask.mean()), 1e-12)


def model_inputs(graph: Graph, keys=("x", "edge_index")) -> dict:
    return {key: graph.inputs()[key] for key in keys}


def full_graph_dataset(graph: Graph, mask: np.ndarray, keys=("x", "edge_index")):
    """A ``tf.data`` dataset with one element: (the whole graph, all labels, weights)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensors(
        (model_inputs(graph, keys), graph.y.astype("int32"), node_weights(mask)))


class EpochLog(keras.callbacks.Callback):
    """One line every ``every`` epochs (node classifiers run hundreds of short epochs)."""

    def __init__(self, log, every: int = 25, label: str = ""):
        super().__init__()
        self.log, self.every, self.label = log, every, label

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            values = "  ".join(f"{k} {v:.4f}" for k, v in sorted((logs or {}).items())
                               if isinstance(v, (int, float)))
            self.log(f"  {self.label}epoch {epoch + 1}: {values}")


def fit_node_classifier(run, model, graph: Graph, *, epochs: int, patience: int,
                        train_data=None, tag: str | None = None, keys=("x", "edge_index")):
    """Train with the harness's callbacks (early stopping on the validation loss with
    the best weights restored, history CSV, TensorBoard, resumable backups).

    ``train_data`` defaults to the whole graph weighted by ``train_mask``;
    GraphSAGE passes its sampled mini-batches instead. Validation always runs on
    the whole graph, weighted by ``val_mask``.
    """
    train_data = train_data if train_data is not None else full_graph_dataset(graph, graph.train_mask, keys)
    callbacks = run.callbacks(monitor="val_loss", patience=patience, tag=tag)
    if not run.options.verbose:
        callbacks.append(EpochLog(run.log, every=max(1, min(50, epochs // 4)), label=f"{tag or 'model'} "))
    return model.fit(train_data, validation_data=full_graph_dataset(graph, graph.val_mask, keys),
                     epochs=epochs, verbose=1 if run.options.verbose else 0, callbacks=callbacks,
                     shuffle=False)  # a tf.data dataset: shuffling, if any, is its own business


def predict_proba(model, graph: Graph, keys=("x", "edge_index")) -> np.ndarray:
    """Class probabilities [N, C] for every node: one inference pass on the whole graph."""
    return keras.ops.convert_to_numpy(model(model_inputs(graph, keys), training=False))


def accuracy(predicted: np.ndarray, graph: Graph, mask: np.ndarray) -> float:
    return float(np.mean(predicted[mask] == graph.y[mask]))


def split_metrics(proba_or_labels: np.ndarray, graph: Graph) -> dict:
    """Test and validation accuracy, and test macro F1, from probabilities or labels."""
    from sklearn.metrics import f1_score

    labels = proba_or_labels.argmax(1) if proba_or_labels.ndim == 2 else proba_or_labels
    return {"test_accuracy": accuracy(labels, graph, graph.test_mask),
            "val_accuracy": accuracy(labels, graph, graph.val_mask),
            "test_macro_f1": float(f1_score(graph.y[graph.test_mask], labels[graph.test_mask],
                                            average="macro"))}


@dataclasses.dataclass
class SeedRuns:
    """Results of training the same recipe once per seed."""

    seeds: list[int]
    metrics: list[dict]
    epochs: list[int]
    seconds: list[float]
    first_model: keras.Model
    first_proba: np.ndarray

    def summary(self) -> dict:
        """The first seed's metrics, plus mean and std over seeds when there are several."""
        out = dict(self.metrics[0])
        if len(self.seeds) > 1:
            for key in ("test_accuracy", "val_accuracy", "test_macro_f1"):
                values = np.array([m[key] for m in self.metrics])
                out[f"{key}_mean"] = float(values.mean())
                out[f"{key}_std"] = float(values.std())  # population std, as the papers report
        out["epochs_trained"] = self.epochs[0]
        out["train_seconds_per_seed"] = float(np.mean(self.seconds))
        return out

    def per_seed(self) -> dict:
        return {"seeds": self.seeds, "epochs": self.epochs, "seconds": self.seconds,
                **{key: [m[key] for m in self.metrics] for key in self.metrics[0]}}


def train_over_seeds(run, graph: Graph, train_one, first_seed: int, count: int) -> SeedRuns:
    """Call ``train_one(seed, tag) -> (model, history)`` for ``count`` seeds in turn.

    Every seed starts from ``keras.utils.set_random_seed(seed)``: new initial
    weights and dropout masks, the same data split. The first seed's run
    writes ``history.csv``; the others ``history_seed<k>.csv``.
    """
    if count < 1:
        raise SystemExit(f"--seeds must be at least 1; got {count}.")
    seeds = list(range(first_seed, first_seed + count))
    metrics, epochs, seconds = [], [], []
    first_model = first_proba = None
    for i, seed in enumerate(seeds):
        keras.utils.set_random_seed(seed)
        tag = None if i == 0 else f"seed{seed}"
        started = time.perf_counter()
        with run.timer("train"):
            model, history = train_one(seed, tag)
        seconds.append(time.perf_counter() - started)
        proba = predict_proba(model, graph)
        metrics.append(split_metrics(proba, graph))
        epochs.append(len(history.history["loss"]))
        run.log(f"seed {seed}: test accuracy {metrics[-1]['test_accuracy']:.4f} "
                f"(validation {metrics[-1]['val_accuracy']:.4f}) after {epochs[-1]} epochs, "
                f"{seconds[-1]:.1f} s")
        if i == 0:
            first_model, first_proba = model, proba
    if count > 1:
        values = np.array([m["test_accuracy"] for m in metrics])
        run.log(f"test accuracy over {count} seeds: {100 * values.mean():.2f} "
                f"± {100 * values.std():.2f}")
    return SeedRuns(seeds, metrics, epochs, seconds, first_model, first_proba)


# ## Baselines
def logistic_regression(graph: Graph, row_normalize: bool, seed: int = 0) -> np.ndarray:
    """Predicted labels of a logistic regression on each node's own features (no graph).

    The inverse regularisation C is chosen on the validation nodes.
    """
    from sklearn.linear_model import LogisticRegression

    x = graph.x
    if row_normalize:
        x = x / np.where(x.sum(1, keepdims=True) == 0, 1, x.sum(1, keepdims=True))
    best = None
    for c in (0.1, 1.0, 10.0, 100.0):
        # newton-cg: an order of magnitude faster than lbfgs with 10k weights and 140 rows.
        model = LogisticRegression(C=c, solver="newton-cg", max_iter=1000, random_state=seed)
        model.fit(x[graph.train_mask], graph.y[graph.train_mask])
        predicted = model.predict(x)
        score = accuracy(predicted, graph, graph.val_mask)
        if best is None or score > best[0]:
            best = (score, predicted)
    return best[1]


def label_propagation(graph: Graph, alpha: float = 0.99) -> np.ndarray:
    """Predicted labels of label spreading over the edges (Zhou et al. 2004), no features.

    scikit-learn's ``LabelSpreading`` with the graph's adjacency as its kernel:
    it iterates ``F <- alpha S F + (1 - alpha) Y`` with ``S = D^-1/2 A D^-1/2``.
    """
    import scipy.sparse as sp
    from sklearn.semi_supervised import LabelSpreading

    n = graph.num_nodes
    adjacency = sp.csr_matrix(
        (np.ones(graph.num_edges), (graph.edge_index[1], graph.edge_index[0])), shape=(n, n))
    adjacency = ((adjacency + adjacency.T) > 0).astype("float64")  # symmetric, unweighted

    def kernel(a, b):  # a, b: columns of node ids
        return adjacency[a[:, 0].astype(int)][:, b[:, 0].astype(int)]

    labels = np.where(graph.train_mask, graph.y, -1)
    model = LabelSpreading(kernel=kernel, alpha=alpha, max_iter=1000)
    model.fit(np.arange(n, dtype="float64")[:, None], labels)
    return model.transduction_


def mlp(num_features: int, num_classes: int, row_normalize: bool, hidden: int = 64,
        dropout: float = 0.5, weight_decay: float = 5e-4, learning_rate: float = 0.01) -> keras.Model:
    """Two Dense layers on each node's own features: a GCN without the graph."""
    x = keras.Input((num_features,), name="x")
    h = RowNormalization()(x) if row_normalize else x
    h = keras.layers.Dropout(dropout)(h)
    h = keras.layers.Dense(hidden, activation="relu", kernel_regularizer=l2(weight_decay))(h)
    h = keras.layers.Dropout(dropout)(h)
    out = keras.layers.Dense(num_classes, activation="softmax")(h)
    return compile_node_classifier(keras.Model({"x": x}, out, name="mlp"), learning_rate)


def baselines(run, data: NodeData, row_normalize: bool, epochs: int = 200, patience: int = 20) -> dict:
    """What a practitioner tries first, scored on the same test nodes: the features
    alone (logistic regression, an MLP trained like the graph models) and the
    graph alone (label propagation)."""
    graph = data.graph
    results = {}
    with run.timer("baselines"):
        results["logistic_regression"] = split_metrics(
            logistic_regression(graph, row_normalize, run.config.seed), graph)
        results["label_propagation"] = split_metrics(label_propagation(graph), graph)
        keras.utils.set_random_seed(run.config.seed)
        model = mlp(graph.num_features, graph.num_classes, row_normalize)
        fit_node_classifier(run, model, graph, epochs=epochs, patience=patience, tag="mlp", keys=("x",))
        results["mlp"] = split_metrics(predict_proba(model, graph, keys=("x",)), graph)
    for name, values in results.items():
        run.log(f"baseline {name}: test accuracy {values['test_accuracy']:.4f}")
    return results


# ## Export and report
def export_node_classifier(run, model: keras.Model, graph: Graph, atol: float = 1e-4,
                           expected: np.ndarray | None = None):
    """``model.keras`` and a SavedModel whose ``serve`` takes the graph's tensors.

    Signature: ``serve(x: float32 [N, F], edge_index: int32 [2, E]) -> float32 [N, C]``,
    raw features (any normalisation is inside the model), edges as source/target
    rows (both directions for an undirected graph), class probabilities per node.
    A fresh ``tf.saved_model.load`` must reproduce the Keras model on ``graph``
    (``expected``: its probabilities there, when already computed).
    """
    if not run.options.export:
        return None
    import tensorflow as tf

    model.save(run.dir / "model.keras")
    path = run.dir / "saved_model"
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(x, edge_index):
        return model({"x": x, "edge_index": edge_index}, training=False)

    archive.add_endpoint("serve", serve, input_signature=[
        tf.TensorSpec([None, graph.num_features], tf.float32, name="x"),
        tf.TensorSpec([2, None], tf.int32, name="edge_index"),
    ])
    archive.write_out(str(path), verbose=False)
    inputs = model_inputs(graph)
    if expected is None:
        expected = predict_proba(model, graph)
    verify_saved_model(path, [inputs["x"], inputs["edge_index"]], expected, atol=atol)
    run.log(f"exported {path} (reload check passed)")
    return path


SERVING = {
    "endpoint": "serve(x, edge_index)",
    "x": "float32 [N, F] raw node features (normalisation happens inside the model)",
    "edge_index": "int32 [2, E]: row 0 source, row 1 target; list both directions of an undirected edge",
    "output": "float32 [N, C] class probabilities per node",
}


def plot_results(run, data: NodeData, proba: np.ndarray) -> None:
    from sklearn.metrics import confusion_matrix

    from kerasml import plots

    graph = data.graph
    if (run.dir / "history.csv").exists():
        plots.plot_history(run.dir / "history.csv", run.plot_path("history.png"),
                           metrics=("loss", "accuracy"))
    matrix = confusion_matrix(graph.y[graph.test_mask], proba.argmax(1)[graph.test_mask],
                              labels=range(graph.num_classes))
    plots.plot_confusion_matrix(run.plot_path("confusion_matrix.png"), matrix, data.class_names,
                                title=f"Test nodes ({data.name})")


def finish(run, data: NodeData, runs: SeedRuns, baseline_metrics: dict, extra: dict | None = None) -> dict:
    """Plots, then ``run.finish`` with the per-seed results and the serving signature."""
    plot_results(run, data, runs.first_proba)
    metrics = runs.summary()
    best = max(baseline_metrics, key=lambda name: baseline_metrics[name]["test_accuracy"])
    metrics["best_baseline"] = best
    key = "test_accuracy_mean" if len(runs.seeds) > 1 else "test_accuracy"
    metrics["beats_best_baseline"] = bool(metrics[key] > baseline_metrics[best]["test_accuracy"])
    return run.finish(dataset=data.description, metrics=metrics, baselines=baseline_metrics,
                      extra={"data": split_summary(data.graph), "per_seed": runs.per_seed(),
                             "serving": SERVING, **(extra or {})})


def run_full_batch(run, build_model, baseline_epochs: int | None = None, train_batches=None,
                   extra: dict | None = None) -> dict:
    """The steps every node-classification recipe shares, after its flags:
    load ``--dataset``, fit the baselines, train ``build_model(config, num_features,
    num_classes, row_normalize)`` once per ``--seeds`` seed with early stopping on the
    validation nodes, export the first seed's model, write the report (with ``extra``).

    Training steps see the whole graph, unless ``train_batches(config, graph, seed)``
    returns the training dataset of each seed (GraphSAGE's sampled mini-batches).

    Example (a recipe's ``main``)::

        run = start_run("gcn_node_classification", Config, argv, description=__doc__)
        return node_training.run_full_batch(run, build_model)
    """
    config = run.config
    data = load_node_dataset(config.dataset, config.data_dir)
    graph = data.graph
    row_normalize = wants_row_normalization(config, data)
    run.log(f"data: {data.description}")

    baseline_metrics = baselines(run, data, row_normalize, epochs=baseline_epochs or config.epochs)

    def train_one(seed, tag):
        model = build_model(config, graph.num_features, graph.num_classes, row_normalize)
        train_data = None if train_batches is None else train_batches(config, graph, seed)
        history = fit_node_classifier(run, model, graph, epochs=config.epochs, patience=config.patience,
                                      train_data=train_data, tag=tag)
        return model, history

    runs = train_over_seeds(run, graph, train_one, config.seed, config.seeds)
    export_node_classifier(run, runs.first_model, graph, expected=runs.first_proba)
    return finish(run, data, runs, baseline_metrics, extra=extra)
