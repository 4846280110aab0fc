"""Title: Polypharmacy side effects: Decagon-style multi-relational link prediction

Architecture: relational graph convolution encoder (R-GCN, two layers, one
    weight per edge type) over a heterogeneous graph of drugs and proteins ->
    DEDICOM tensor-factorisation decoder, one diagonal factor per side effect
    and a shared global interaction matrix; trained with negative sampling.
    Input pipeline through tensorflow-gnn GraphTensors.
Paper(s): Zitnik, Agrawal & Leskovec 2018, "Modeling polypharmacy side effects
    with graph convolutional networks" (Bioinformatics; Decagon); Schlichtkrull
    et al. 2018, "Modeling Relational Data with Graph Convolutional Networks"
    (R-GCN); Harshman 1978 / Papalexakis et al. 2017 (DEDICOM).
Dataset: default: a generated graph with planted structure (300 drugs, 400
    proteins in 16 pathways, 8 side effects); a drug pair tends to have side
    effect s when both drugs target proteins of the pathways behind s, so the
    true probability of every pair is known. The published Decagon files with
    `--data-dir DIR` (bio-decagon-ppi.csv, bio-decagon-targets.csv,
    bio-decagon-combo.csv from https://snap.stanford.edu/decagon/), the
    `--side-effects N` most frequent side effects.
Run: python -m recipes.polypharmacy
    python -m recipes.polypharmacy --data-dir ~/data/decagon --side-effects 20

Results: default run (generated graph: 300 drugs, 400 proteins, 8 side
    effects with 287-563 drug pairs each; test = 10% of each side effect's
    pairs + as many negatives, 29-56 positives), measured 2026-11-24 on
    x86_64, 2 cores (shared with other jobs), seed 0, 13 s in all:
                                          mean over the 8 side effects
                                          AUROC    AUPRC    AP@50
      Decagon: R-GCN + DEDICOM            0.916    0.917    0.881
      free embeddings + DEDICOM           0.858    0.835    0.793
      oracle (the true probabilities)     0.955    0.949    0.999
    The graph convolution beats the same decoder on free embeddings on all
    three means (bar: beats the baseline), and on 6 of the 8 side effects'
    AUROC; it closes 60% of the baseline's AUROC gap to the oracle. The
    published Decagon files were not available on this machine: that path
    is tested on small files in their layout only, no numbers yet.

## 1. The data: drugs, proteins and side effects as one graph

Nodes are drugs and proteins; edges have types (relations): protein-protein
interactions, drug -> protein targets (and the reverse, so messages flow both
ways), and one relation per polypharmacy side effect between the two drugs of
a pair that has it. The task is to predict, for a drug pair and a side effect,
whether taking both drugs together causes it.
The generated default: proteins form 16 pathways (dense interactions inside,
sparse between); each drug targets one to three proteins in one or two
pathways (plus an occasional off-target); side effect s has two "driver"
pathways, and a pair whose drugs both target a driver pathway has s with
probability 0.3 (any other pair 0.0005: noise). Only the side-effect edges are given
as labels; the rule must be recovered from targets and interactions, and the
true probability of each pair is the oracle row in the results.
The Decagon files are read with pandas: side effects are the
`--side-effects` most frequent ones, drugs those in their pairs, proteins
the targets of those drugs and their interaction partners up to
`--protein-hops` hops.

## 2. Splits and negatives

For every side effect the positive drug pairs are split 80/10/10 into
training, validation and test pairs. Only training pairs become edges of the
graph the encoder reads: a test pair is never visible to the model. Validation
and test sets add as many negative pairs (drawn uniformly from the pairs that
do not have the side effect), as in Decagon. Training draws fresh negatives
every epoch: each positive (i, j, s) is paired with (i, j', s) for a random
drug j'.

## 3. Input pipeline: GraphTensors (tensorflow-gnn)

The encoder's graph is written to a TFRecord with tensorflow-gnn's schema and
example encoder and parsed back with `tfgnn.parse_example`; inside `tf.data`
the GraphTensor becomes the plain tensors a Keras 3 model takes (`x`,
`edge_index`, `edge_type`; node set "nodes", edge set "edges", relation ids in
the edge feature "edge_type"), zipped with batches of (drug, drug) pairs,
side-effect ids and labels.

## 4. The model

Every node starts from a learned vector (Decagon's one-hot node features
times a weight matrix) plus its type. Two R-GCN layers (64 then 32 units,
symmetric normalisation per relation, ReLU after the first, dropout) mix in
each node's neighbours relation by relation, so a drug's embedding comes to
describe its targets and their pathways. DEDICOM decodes side effect r for
drugs i, j as `sigmoid(z_i^T D_r R D_r z_j)`: R is shared by all side effects,
D_r is a learned diagonal per side effect.
Baseline, trained the same way in the same run: the same decoder on free
32-dimensional drug embeddings with no graph convolution (it sees only the
training side-effect pairs, never targets or protein interactions). Ceiling
(default data only): the true probabilities.

## 5. Training, evaluation, export

Adam on binary cross-entropy, early stopping on the validation loss (best
weights restored). Per side effect: AUROC, AUPRC (average precision) and
AP@50 (Decagon's precision at the top 50 ranked test pairs), averaged over
side effects. The SavedModel's `serve` endpoint takes one dict: the graph
`x` float32 [N, 2] (one-hot drug / protein), `edge_index` int32 [2, E],
`edge_type` int32 [E], and the queries `pairs` int32 [P, 2] (drug node ids)
and `relation` int32 [P] (side-effect ids 0..S-1), and returns float32 [P]
probabilities. The model is transductive: node ids are those of the training
graph (`nodes.json` maps them to drug and protein names), and serving should
pass that graph (`serving_example.npz` holds it with some test queries).
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import sys

import kerasml  # noqa: F401  (first: quiets TensorFlow's start-up logs)
from kerasml.graph import tfgnn as gt  # noqa: E402  (loads tensorflow-gnn on first use, with tf-keras)

import keras  # isort: skip
import numpy as np  # isort: skip
import tensorflow as tf  # isort: skip
from keras import ops  # isort: skip
from sklearn.metrics import average_precision_score, roc_auc_score  # isort: skip

from kerasml import plots  # noqa: E402
from kerasml.graph import Graph, RelationalGraphConv  # noqa: E402
from kerasml.recipe import RecipeConfig, field, start_run, verify_saved_model  # noqa: E402

DECAGON_FILES = {"ppi": ("bio-decagon-ppi.csv", ["Gene 1", "Gene 2"]),
                 "targets": ("bio-decagon-targets.csv", ["STITCH", "Gene"]),
                 "combo": ("bio-decagon-combo.csv", ["STITCH 1", "STITCH 2", "Polypharmacy Side Effect"])}
PPI, TARGET, TARGETED_BY = 0, 1, 2  # relation ids; side effect s is relation 3 + s
GRAPH_INPUTS = ("x", "edge_index", "edge_type")


@dataclasses.dataclass
class Config(RecipeConfig):
    epochs: int = field(100, "maximum epochs (early stopping on the validation loss ends sooner)")
    batch_size: int = field(512, "labelled drug pairs (positives + negatives) per step")
    learning_rate: float = field(5e-3, "Adam learning rate")
    hidden: int = field(64, "units of the first R-GCN layer")
    embedding: int = field(32, "units of the drug embeddings the decoder reads")
    dropout: float = field(0.1, "dropout between the R-GCN layers")
    patience: int = field(10, "early-stopping patience in epochs")
    drugs: int = field(300, "generated data: drugs")
    proteins: int = field(400, "generated data: proteins")
    pathways: int = field(16, "generated data: protein pathways (modules)")
    side_effects: int = field(8, "side effects: generated, or the N most frequent in the Decagon files")
    data_dir: str | None = field(None, "folder holding the Decagon CSV files (see Dataset)")
    protein_hops: int = field(1, "Decagon files: keep proteins within this many interaction hops of a "
                                 "target (-1 = all 19k)")


QUICK = {"epochs": 2, "drugs": 80, "proteins": 60, "pathways": 6, "side_effects": 3, "hidden": 16,
         "embedding": 8, "batch_size": 256}


# ## 1. Data
@dataclasses.dataclass
class Polypharmacy:
    """Drugs are nodes 0..D-1, proteins D..D+P-1. ``ppi`` and ``targets`` are [2, E]
    node ids (targets: drug -> protein); ``pairs[s]`` [n_s, 2] the drug pairs
    (i < j) with side effect s; ``truth`` [S, D, D] true probabilities (generated data)."""

    num_drugs: int
    num_proteins: int
    ppi: np.ndarray
    targets: np.ndarray
    pairs: list[np.ndarray]
    side_effect_names: list[str]
    node_names: list[str]
    truth: np.ndarray | None = None

    @property
    def num_nodes(self) -> int:
        return self.num_drugs + self.num_proteins


def planted_polypharmacy(drugs=300, proteins=400, pathways=16, side_effects=8, p_pathway=0.3,
                         p_background=0.0005, seed=0) -> Polypharmacy:
    """Side effects driven by the drugs' protein targets (see the Dataset section)."""
    rng = np.random.default_rng(seed)
    pathway = np.arange(proteins) % pathways
    same = pathway[:, None] == pathway[None, :]
    linked = np.triu(rng.random((proteins, proteins)) < np.where(same, 0.2, 0.002), 1)
    ppi = np.stack(np.nonzero(linked)) + drugs
    hits = np.zeros((drugs, pathways), bool)  # which pathways each drug acts on
    target_edges = []
    for d in range(drugs):
        for m in rng.choice(pathways, size=rng.choice([1, 2], p=[0.6, 0.4]), replace=False):
            hits[d, m] = True
            members = np.flatnonzero(pathway == m)
            target_edges += [(d, drugs + p) for p in rng.choice(members, rng.integers(1, 4), replace=False)]
        if rng.random() < 0.3:  # an off-target protein, anywhere
            target_edges.append((d, drugs + int(rng.integers(proteins))))
    targets = np.unique(np.array(target_edges), axis=0).T
    drivers = np.stack([rng.choice(pathways, 2, replace=False) for _ in range(side_effects)])
    exposed = hits[:, drivers].any(-1).T  # [S, D]: the drug acts on a driver pathway of s
    truth = np.where(exposed[:, :, None] & exposed[:, None, :], p_pathway, p_background)
    upper = np.triu(np.ones((drugs, drugs), bool), 1)
    pairs = [np.argwhere(upper & (rng.random((drugs, drugs)) < truth[s])) for s in range(side_effects)]
    return Polypharmacy(
        drugs, proteins, ppi, targets, pairs,
        side_effect_names=[f"side effect {s} (pathways {a}, {b})" for s, (a, b) in enumerate(drivers)],
        node_names=[f"drug{d}" for d in range(drugs)] + [f"protein{p}" for p in range(proteins)],
        truth=truth.astype(np.float32))


def read_decagon_csv(data_dir: str, key: str):
    import pandas as pd

    name, columns = DECAGON_FILES[key]
    path = pathlib.Path(data_dir) / name
    if not path.exists():
        raise SystemExit(
            f"{path} not found. --data-dir must hold the Decagon files {', '.join(f for f, _ in DECAGON_FILES.values())} "
            "(download and unpack them from https://snap.stanford.edu/decagon/).")
    frame = pd.read_csv(path, dtype=str)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} has no column {missing[0]!r} (columns: {', '.join(frame.columns)}); "
                         f"expected {', '.join(columns)}.")
    optional = [c for c in ("Side Effect Name",) if c in frame.columns and key == "combo"]
    return frame[columns + optional].dropna(subset=columns)


def load_decagon(data_dir: str, side_effects: int = 8, protein_hops: int = 1) -> Polypharmacy:
    """The published Decagon files: the ``side_effects`` most frequent side effects, their drugs,
    the targets of those drugs and proteins within ``protein_hops`` interactions of a target."""
    combo = read_decagon_csv(data_dir, "combo")
    targets = read_decagon_csv(data_dir, "targets")
    ppi = read_decagon_csv(data_dir, "ppi")
    counts = combo["Polypharmacy Side Effect"].value_counts(sort=True)
    chosen = sorted(counts.index[:side_effects], key=lambda s: (-counts[s], s))
    combo = combo[combo["Polypharmacy Side Effect"].isin(chosen) & (combo["STITCH 1"] != combo["STITCH 2"])]
    drug_names = sorted(set(combo["STITCH 1"]) | set(combo["STITCH 2"]))
    drug_id = {d: i for i, d in enumerate(drug_names)}
    targets = targets[targets["STITCH"].isin(drug_id)]
    keep = set(targets["Gene"])
    if protein_hops < 0:
        keep |= set(ppi["Gene 1"]) | set(ppi["Gene 2"])
    frontier = set(keep)
    hops = 0
    while frontier and hops < protein_hops:
        touching = ppi[ppi["Gene 1"].isin(frontier) | ppi["Gene 2"].isin(frontier)]
        new = (set(touching["Gene 1"]) | set(touching["Gene 2"])) - keep
        keep |= new
        frontier, hops = new, hops + 1
    ppi = ppi[ppi["Gene 1"].isin(keep) & ppi["Gene 2"].isin(keep) & (ppi["Gene 1"] != ppi["Gene 2"])]
    protein_names = sorted(keep)
    node_id = {**drug_id, **{p: len(drug_names) + i for i, p in enumerate(protein_names)}}

    def ids(column):
        return column.map(node_id).to_numpy(np.int64)

    ppi_edges = np.unique(np.sort(np.stack([ids(ppi["Gene 1"]), ids(ppi["Gene 2"])], 1), axis=1), axis=0).T
    target_edges = np.unique(np.stack([ids(targets["STITCH"]), ids(targets["Gene"])], 1), axis=0).T
    pairs = []
    for s in chosen:
        rows = combo[combo["Polypharmacy Side Effect"] == s]
        pair = np.sort(np.stack([ids(rows["STITCH 1"]), ids(rows["STITCH 2"])], 1), axis=1)
        pairs.append(np.unique(pair, axis=0))
    names = combo.drop_duplicates("Polypharmacy Side Effect").set_index("Polypharmacy Side Effect")
    if "Side Effect Name" in combo.columns:
        labels = [f"{s} ({names.loc[s, 'Side Effect Name']})" for s in chosen]
    else:
        labels = list(chosen)
    return Polypharmacy(len(drug_names), len(protein_names), ppi_edges.reshape(2, -1),
                        target_edges.reshape(2, -1), pairs, labels, drug_names + protein_names)


def load_data(config: Config) -> tuple[Polypharmacy, str]:
    if config.data_dir is None:
        data = planted_polypharmacy(config.drugs, config.proteins, config.pathways, config.side_effects,
                                    seed=config.seed)
        return data, (f"generated: {data.num_drugs} drugs, {data.num_proteins} proteins in {config.pathways} "
                      f"pathways, {len(data.pairs)} side effects driven by the drugs' targets")
    data = load_decagon(config.data_dir, config.side_effects, config.protein_hops)
    return data, (f"Decagon ({config.data_dir}): {data.num_drugs} drugs, {data.num_proteins} proteins, "
                  f"the {len(data.pairs)} most frequent side effects")


# ## 2. Splits and negatives
@dataclasses.dataclass
class Split:
    train: list[np.ndarray]  # per side effect, [n, 2] positive pairs
    val: list[tuple[np.ndarray, np.ndarray]]  # per side effect, (pairs [n, 2], labels [n])
    test: list[tuple[np.ndarray, np.ndarray]]


def split_pairs(data: Polypharmacy, rng: np.random.Generator, val=0.1, test=0.1) -> Split:
    """80/10/10 positives per side effect; validation and test get as many negatives."""
    d = data.num_drugs
    train, val_sets, test_sets = [], [], []
    for s, pairs in enumerate(data.pairs):
        if len(pairs) < 10:
            raise ValueError(f"{data.side_effect_names[s]} has only {len(pairs)} drug pairs; "
                             "at least 10 are needed to hold some out.")
        pairs = pairs[rng.permutation(len(pairs))]
        n_test, n_val = max(1, round(test * len(pairs))), max(1, round(val * len(pairs)))
        known = set((pairs[:, 0] * d + pairs[:, 1]).tolist())
        negatives = sample_non_edges(rng, d, known, n_test + n_val)
        test_sets.append(labelled(pairs[:n_test], negatives[:n_test]))
        val_sets.append(labelled(pairs[n_test:n_test + n_val], negatives[n_test:]))
        train.append(pairs[n_test + n_val:])
    return Split(train, val_sets, test_sets)


def sample_non_edges(rng, num_drugs, known: set, count: int) -> np.ndarray:
    """``count`` distinct pairs (i < j) whose key i * D + j is not in ``known``."""
    found, seen = [], set(known)
    while len(found) < count:
        i, j = rng.integers(num_drugs, size=2)
        key = min(i, j) * num_drugs + max(i, j)
        if i != j and key not in seen:
            seen.add(key)
            found.append((min(i, j), max(i, j)))
    return np.array(found, np.int64).reshape(-1, 2)


def labelled(positives, negatives):
    return (np.concatenate([positives, negatives]),
            np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))]).astype(np.float32))


def encoder_graph(data: Polypharmacy, train_pairs: list[np.ndarray]) -> Graph:
    """The graph the encoder reads: interactions, targets (both ways), training pairs (both ways)."""
    ppi = np.concatenate([data.ppi, data.ppi[::-1]], axis=1)
    parts = [(ppi, PPI), (data.targets, TARGET), (data.targets[::-1], TARGETED_BY)]
    parts += [(np.concatenate([p.T, p.T[::-1]], axis=1), 3 + s) for s, p in enumerate(train_pairs)]
    edge_index = np.concatenate([e for e, _ in parts], axis=1)
    edge_type = np.concatenate([np.full(e.shape[1], r) for e, r in parts])
    x = np.zeros((data.num_nodes, 2), np.float32)  # node type: drug or protein
    x[: data.num_drugs, 0] = 1
    x[data.num_drugs:, 1] = 1
    return Graph(x=x, edge_index=edge_index, edge_type=edge_type)


# ## 3. Input pipeline through GraphTensors
def graph_tensor_dataset(graph: Graph, path: pathlib.Path) -> tf.data.Dataset:
    """The encoder graph, written and parsed with tensorflow-gnn, as one element of plain tensors."""
    gt.write_tfrecord([graph], str(path))

    def to_inputs(graph_tensor):
        inputs = gt.graph_tensor_to_inputs(graph_tensor, label=False)
        return {k: inputs[k] for k in GRAPH_INPUTS}

    return gt.read_tfrecord(str(path)).map(to_inputs).cache()


def training_pairs(train: list[np.ndarray], num_drugs: int, batch_size: int, seed: int):
    """Batches of (pairs, relation, label): every training pair in both directions, each
    with one fresh negative (its head with a random drug), reshuffled every epoch."""
    heads = np.concatenate([np.concatenate([p, p[:, ::-1]]) for p in train]).astype(np.int64)
    relation = np.concatenate([np.full(2 * len(p), s) for s, p in enumerate(train)]).astype(np.int32)
    base = relation.astype(np.int64) * num_drugs**2 + heads[:, 0] * num_drugs  # key = base + tail
    known = np.unique(base + heads[:, 1])
    rng = np.random.default_rng(seed)
    steps = math.ceil(2 * len(heads) / batch_size)

    def generate():
        tails = np.zeros(len(heads), np.int64)
        bad = np.ones(len(heads), bool)
        while bad.any():  # (re)draw tails that hit the head itself or a known positive
            tails[bad] = rng.integers(num_drugs, size=int(bad.sum()))
            bad = (tails == heads[:, 0]) | np.isin(base + tails, known)
        pairs = np.concatenate([heads, np.stack([heads[:, 0], tails], 1)]).astype(np.int32)
        rel = np.concatenate([relation, relation])
        labels = np.concatenate([np.ones(len(heads)), np.zeros(len(heads))]).astype(np.float32)
        order = rng.permutation(len(pairs))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            yield {"pairs": pairs[chunk], "relation": rel[chunk]}, labels[chunk]

    signature = ({"pairs": tf.TensorSpec([None, 2], tf.int32), "relation": tf.TensorSpec([None], tf.int32)},
                 tf.TensorSpec([None], tf.float32))
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return dataset, steps


def with_graph(graph_data: tf.data.Dataset, queries: tf.data.Dataset) -> tf.data.Dataset:
    """Zip the (repeated) graph with every batch of queries: ({graph..., pairs, relation}, y)."""
    def merge(graph, query):
        inputs, labels = query
        return {**graph, **inputs}, labels

    return tf.data.Dataset.zip(graph_data.repeat(), queries).map(merge).prefetch(2)


def query_arrays(sets: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Every set's pairs [P, 2] stacked, and their relation ids [P] (set s is side effect s)."""
    pairs = np.concatenate([p for p, _ in sets]).astype(np.int32)
    relation = np.concatenate([np.full(len(p), s) for s, (p, _) in enumerate(sets)]).astype(np.int32)
    return pairs, relation


def query_dataset(sets: list[tuple[np.ndarray, np.ndarray]]) -> tf.data.Dataset:
    pairs, relation = query_arrays(sets)
    labels = np.concatenate([y for _, y in sets])
    return tf.data.Dataset.from_tensors(({"pairs": pairs, "relation": relation}, labels))


# ## 4. Model
@keras.saving.register_keras_serializable(package="polypharmacy")
class NodeEmbedding(keras.layers.Layer):
    """A learned vector per node (one-hot node ids times a matrix, as in Decagon) plus a
    projection of the node's own features ``x``. Transductive: ``x`` must have ``num_nodes`` rows."""

    def __init__(self, num_nodes, units, **kwargs):
        super().__init__(**kwargs)
        self.num_nodes, self.units = num_nodes, units
        self.project = keras.layers.Dense(units, use_bias=False)

    def build(self, input_shape):
        self.table = self.add_weight(name="table", shape=(self.num_nodes, self.units),
                                     initializer="glorot_uniform")
        self.project.build(input_shape)

    def call(self, x):
        return self.table + self.project(x)

    def get_config(self):
        return {**super().get_config(), "num_nodes": self.num_nodes, "units": self.units}


@keras.saving.register_keras_serializable(package="polypharmacy")
class DEDICOMDecoder(keras.layers.Layer):
    """``p(i, j, r) = sigmoid(z_i^T D_r R D_r z_j)`` (Decagon's decoder): ``R`` [d, d] shared
    by all relations, ``D_r`` a learned diagonal per relation.

    Call arguments: ``z`` [N, d] node embeddings, ``pairs`` [P, 2] node ids, ``relation`` [P].
    Returns [P] probabilities.
    """

    def __init__(self, num_relations, **kwargs):
        super().__init__(**kwargs)
        self.num_relations = num_relations

    def build(self, z_shape, pairs_shape=None, relation_shape=None):
        d = z_shape[-1]
        self.interaction = self.add_weight(name="interaction", shape=(d, d), initializer="glorot_uniform")
        self.diagonal = self.add_weight(name="diagonal", shape=(self.num_relations, d), initializer="ones")

    def call(self, z, pairs, relation):
        scale = ops.take(self.diagonal, relation, axis=0)
        left = ops.take(z, pairs[:, 0], axis=0) * scale
        right = ops.take(z, pairs[:, 1], axis=0) * scale
        return ops.sigmoid(ops.sum(ops.matmul(left, self.interaction) * right, axis=-1))

    def get_config(self):
        return {**super().get_config(), "num_relations": self.num_relations}


def build_model(num_nodes: int, num_side_effects: int, config: Config, graph_convolution=True) -> keras.Model:
    """Decagon (R-GCN encoder + DEDICOM) or, with ``graph_convolution=False``, the baseline:
    the same decoder on free node embeddings."""
    x = keras.Input((2,), name="x")
    edge_index = keras.Input((None,), batch_size=2, dtype="int32", name="edge_index")
    edge_type = keras.Input((), dtype="int32", name="edge_type")
    pairs = keras.Input((2,), dtype="int32", name="pairs")
    relation = keras.Input((), dtype="int32", name="relation")
    num_relations = 3 + num_side_effects
    if graph_convolution:
        h = NodeEmbedding(num_nodes, config.hidden, name="node_embedding")(x)
        h = RelationalGraphConv(config.hidden, num_relations, normalize="symmetric", activation="relu",
                                name="rgcn_1")(h, edge_index, edge_type)
        h = keras.layers.Dropout(config.dropout)(h)
        z = RelationalGraphConv(config.embedding, num_relations, normalize="symmetric",
                                name="rgcn_2")(h, edge_index, edge_type)
    else:
        z = NodeEmbedding(num_nodes, config.embedding, name="free_embedding")(x)
    probability = DEDICOMDecoder(num_side_effects, name="dedicom")(z, pairs, relation)
    inputs = {"x": x, "edge_index": edge_index, "edge_type": edge_type, "pairs": pairs, "relation": relation}
    model = keras.Model(inputs, probability, name="decagon" if graph_convolution else "free_embeddings")
    model.compile(keras.optimizers.Adam(config.learning_rate), loss="binary_crossentropy")
    return model


# ## 5. Metrics
def ap_at_k(labels: np.ndarray, scores: np.ndarray, k: int = 50) -> float:
    """Average precision at k (as Decagon reports it): the mean, over the positives among the
    k best-scored items, of the precision at each one's rank, divided by min(#positives, k)."""
    top = np.asarray(labels)[np.argsort(-np.asarray(scores), kind="stable")[:k]] > 0
    positives = int(np.sum(np.asarray(labels) > 0))
    if positives == 0:
        return 0.0
    precision_at_hits = np.cumsum(top)[top] / (np.flatnonzero(top) + 1)
    return float(precision_at_hits.sum() / min(positives, k))


def side_effect_metrics(sets, scores: list[np.ndarray]) -> dict:
    """Per side effect AUROC, AUPRC, AP@50; and their means (the headline metrics)."""
    rows = [{"auroc": roc_auc_score(y, p), "auprc": average_precision_score(y, p), "ap_at_50": ap_at_k(y, p)}
            for (_, y), p in zip(sets, scores)]
    means = {f"test_{key}": float(np.mean([r[key] for r in rows])) for key in ("auroc", "auprc", "ap_at_50")}
    return {**means, "per_side_effect": rows}


def predict_sets(model, graph_inputs: dict, sets) -> list[np.ndarray]:
    """Probabilities for every (pairs, labels) set, in one call."""
    pairs, relation = query_arrays(sets)
    scores = model({**graph_inputs, "pairs": pairs, "relation": relation}, training=False)
    return np.split(ops.convert_to_numpy(scores), np.cumsum([len(p) for p, _ in sets])[:-1])


# ## 6. Run
def main(argv=None) -> dict:
    run = start_run("polypharmacy", Config, argv, description=__doc__, quick=QUICK)
    config = run.config
    data, dataset_name = load_data(config)
    rng = np.random.default_rng(config.seed)
    split = split_pairs(data, rng)
    graph = encoder_graph(data, split.train)
    counts = [len(p) for p in data.pairs]
    print(f"data: {dataset_name}; {graph.num_nodes} nodes, {graph.num_edges} encoder edges in "
          f"{graph.num_relations} relations; positive pairs per side effect {min(counts)}-{max(counts)}")

    with run.timer("graphtensor_io"):
        graph_data = graph_tensor_dataset(graph, run.dir / "graph.tfrecord")
        graph_inputs = {k: v.numpy() for k, v in next(iter(graph_data)).items()}
    val_data = with_graph(graph_data, query_dataset(split.val))

    models, histories = {}, {}
    for tag, convolve in (("decagon", True), ("free_embeddings", False)):
        keras.utils.set_random_seed(config.seed)
        model = build_model(data.num_nodes, len(data.pairs), config, graph_convolution=convolve)
        queries, steps = training_pairs(split.train, data.num_drugs, config.batch_size, config.seed)
        train_data = with_graph(graph_data, queries.apply(tf.data.experimental.assert_cardinality(steps)))
        with run.timer(f"train_{tag}"):
            history = model.fit(train_data, validation_data=val_data, epochs=config.epochs, shuffle=False,
                                verbose=run.fit_verbose,
                                callbacks=run.callbacks(patience=config.patience,
                                                        tag=None if convolve else tag))
        models[tag], histories[tag] = model, history.history

    test_scores = {tag: predict_sets(model, graph_inputs, split.test) for tag, model in models.items()}
    results = {tag: side_effect_metrics(split.test, scores) for tag, scores in test_scores.items()}
    if data.truth is not None:
        oracle = [data.truth[s][p[:, 0], p[:, 1]] for s, (p, _) in enumerate(split.test)]
        results["oracle"] = side_effect_metrics(split.test, oracle)
    metrics = {k: v for k, v in results["decagon"].items() if k != "per_side_effect"}
    metrics["beats_baseline"] = bool(
        all(metrics[k] > results["free_embeddings"][k] for k in ("test_auroc", "test_auprc")))
    baselines = {tag: {k: v for k, v in r.items() if k != "per_side_effect"}
                 for tag, r in results.items() if tag != "decagon"}
    per_side_effect = {name: {tag: r["per_side_effect"][s] for tag, r in results.items()}
                       for s, name in enumerate(data.side_effect_names)}

    plot_results(run, split.test, test_scores, histories)
    export(run, models["decagon"], graph_inputs, split.test, data)
    return run.finish(
        dataset=dataset_name, metrics=metrics, baselines=baselines,
        extra={"per_side_effect": per_side_effect,
               "data": {"drugs": data.num_drugs, "proteins": data.num_proteins, "side_effects": len(data.pairs),
                        "encoder_edges": graph.num_edges, "positive_pairs": counts,
                        "test_pairs": [len(p) for p, _ in split.test]},
               "serving": {"input": "one dict: x float32 [N, 2], edge_index int32 [2, E], edge_type int32 [E], "
                                    "pairs int32 [P, 2], relation int32 [P]",
                           "output": "float32 [P] probability that the drug pair has the side effect"}})


def export(run, model, graph_inputs, test_sets, data):
    """model.keras + SavedModel, checked by reloading it; the node names and a serving example."""
    if not run.options.export:
        return
    pairs, _ = test_sets[0]
    example = {**graph_inputs, "pairs": pairs[:64].astype(np.int32), "relation": np.zeros(len(pairs[:64]), np.int32)}
    model.save(run.dir / "model.keras")
    path = run.dir / "saved_model"
    model.export(str(path), format="tf_saved_model", verbose=False)
    verify_saved_model(path, [example], model(example, training=False))
    np.savez(run.dir / "serving_example.npz", **example)
    (run.dir / "nodes.json").write_text(json.dumps(
        {"drugs": data.node_names[: data.num_drugs], "proteins": data.node_names[data.num_drugs:],
         "side_effects": data.side_effect_names}, indent=1))
    run.log(f"exported {path} (reload check passed)")


def plot_results(run, test_sets, test_scores, histories):
    from sklearn.metrics import precision_recall_curve, roc_curve

    y = np.concatenate([labels for _, labels in test_sets])
    roc, pr = {}, {}
    for tag, scores in test_scores.items():
        fpr, tpr, _ = roc_curve(y, np.concatenate(scores))
        precision, recall, _ = precision_recall_curve(y, np.concatenate(scores))
        roc[tag], pr[tag] = (fpr, tpr), (recall, precision)
    plots.plot_curves(run.plot_path("roc.png"), roc, title="Test ROC, all side effects pooled",
                      xlabel="false positive rate", ylabel="true positive rate", diagonal=True)
    plots.plot_curves(run.plot_path("precision_recall.png"), pr, title="Test precision-recall, all side effects pooled",
                      xlabel="recall", ylabel="precision")
    plots.plot_lines(run.plot_path("history.png"),
                     {f"{tag} {key}": values for tag, h in histories.items() for key, values in h.items()},
                     title="Training and validation loss", xlabel="epoch", ylabel="binary cross-entropy")


if __name__ == "__main__":
    main(sys.argv[1:])
