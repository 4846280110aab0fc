"""polypharmacy reads its graph through tensorflow-gnn, which needs tf.keras = Keras 2;
other tests (keras_hub) may already have made tf.keras Keras 3 in this process, so the
recipe runs in a fresh interpreter, as a user runs it. Everything else runs here."""

import json
import math
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.metrics import average_precision_score

from recipes import polypharmacy as pp

REPO = pathlib.Path(__file__).resolve().parents[1]
METRICS = ("test_auroc", "test_auprc", "test_ap_at_50")


def decagon_csvs(folder: pathlib.Path, seed=0):
    """Tiny files in the published Decagon layout: 12 drugs, 3 side effects (the rarest with
    few pairs), a protein chain P1-P2-...-P8 plus an unconnected pair P9-P10."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    drugs = [f"CID{n:09d}" for n in range(12)]
    rows = []
    for effect, name, count in (("C001", "headache", 30), ("C002", "nausea", 20), ("C003", "rare", 3)):
        pairs = {tuple(sorted(rng.choice(12, 2, replace=False))) for _ in range(200)}
        for i, j in sorted(pairs)[:count]:
            rows.append((drugs[i], drugs[j], effect, name))
    rows.append((drugs[0], drugs[0], "C001", "headache"))  # a self-pair: dropped
    rows.append((drugs[1], drugs[0], "C001", "headache"))  # maybe a reversed duplicate: merged
    pd.DataFrame(rows, columns=["STITCH 1", "STITCH 2", "Polypharmacy Side Effect", "Side Effect Name"]) \
        .to_csv(folder / "bio-decagon-combo.csv", index=False)
    pd.DataFrame({"STITCH": [drugs[0], drugs[1], drugs[1], "CID999999999"], "Gene": ["P1", "P1", "P9", "P5"]}) \
        .to_csv(folder / "bio-decagon-targets.csv", index=False)
    chain = [(f"P{k}", f"P{k + 1}") for k in range(1, 8)] + [("P9", "P10"), ("P2", "P1")]
    pd.DataFrame(chain, columns=["Gene 1", "Gene 2"]).to_csv(folder / "bio-decagon-ppi.csv", index=False)
    return rows


def test_decagon_loader_on_tiny_csv_files(tmp_path):
    rows = decagon_csvs(tmp_path)
    data = pp.load_decagon(str(tmp_path), side_effects=2, protein_hops=1)
    frame = pd.DataFrame(rows, columns=["a", "b", "se", "name"])
    kept = frame[frame.se.isin(["C001", "C002"]) & (frame.a != frame.b)]
    drugs = sorted(set(kept.a) | set(kept.b))
    assert data.num_drugs == len(drugs) and data.node_names[: data.num_drugs] == drugs
    # Targets of kept drugs: P1, P9; one hop further: P2 and P10 (not P3, not P5 of an unknown drug).
    assert data.node_names[data.num_drugs:] == ["P1", "P10", "P2", "P9"]
    assert data.side_effect_names == ["C001 (headache)", "C002 (nausea)"]  # most frequent first
    for s, effect in enumerate(["C001", "C002"]):
        rows_s = kept[kept.se == effect]
        expected = {tuple(sorted((drugs.index(a), drugs.index(b)))) for a, b in zip(rows_s.a, rows_s.b)}
        assert set(map(tuple, data.pairs[s].tolist())) == expected
        assert np.all(data.pairs[s][:, 0] < data.pairs[s][:, 1])
    name = dict(enumerate(data.node_names))
    assert {(name[a], name[b]) for a, b in data.ppi.T} == {("P1", "P2"), ("P10", "P9")}  # deduplicated
    assert {(name[a], name[b]) for a, b in data.targets.T} == {(drugs[0], "P1"), (drugs[1], "P1"),
                                                                (drugs[1], "P9")}
    everything = pp.load_decagon(str(tmp_path), side_effects=2, protein_hops=-1)
    assert everything.num_proteins == 10  # every protein of the files, P5 included
    assert pp.load_decagon(str(tmp_path), side_effects=2, protein_hops=3).num_proteins == 6  # + P3, P4


def test_decagon_loader_names_what_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="bio-decagon-combo.csv not found.*snap.stanford.edu"):
        pp.load_decagon(str(tmp_path))
    decagon_csvs(tmp_path)
    pd.DataFrame({"drug": ["a"], "Gene": ["P1"]}).to_csv(tmp_path / "bio-decagon-targets.csv", index=False)
    with pytest.raises(ValueError, match="bio-decagon-targets.csv has no column 'STITCH'"):
        pp.load_decagon(str(tmp_path))
    decagon_csvs(tmp_path)
    data = pp.load_decagon(str(tmp_path), side_effects=3)
    with pytest.raises(ValueError, match="only 3 drug pairs"):
        pp.split_pairs(data, np.random.default_rng(0))


def test_splits_keep_test_pairs_out_of_the_encoder_graph():
    data = pp.planted_polypharmacy(drugs=60, proteins=40, pathways=4, side_effects=3, seed=1)
    split = pp.split_pairs(data, np.random.default_rng(0))
    graph = pp.encoder_graph(data, split.train)
    edges = set(zip(graph.edge_index[0].tolist(), graph.edge_index[1].tolist(), graph.edge_type.tolist()))
    for s, positives in enumerate(data.pairs):
        everything = set(map(tuple, positives.tolist()))
        train = set(map(tuple, split.train[s].tolist()))
        for held_out in (split.val[s], split.test[s]):
            pairs, labels = held_out
            assert labels.sum() == len(labels) / 2  # as many negatives as positives
            for (i, j), label in zip(pairs.tolist(), labels):
                assert ((i, j) in everything) == bool(label)
                assert (i, j, 3 + s) not in edges and (j, i, 3 + s) not in edges
                assert (i, j) not in train
        assert all((i, j, 3 + s) in edges and (j, i, 3 + s) in edges for i, j in train)
    # Drugs are nodes 0..D-1 and only they appear in side-effect edges.
    assert graph.edge_index[:, graph.edge_type >= 3].max() < data.num_drugs


def test_training_pairs_draw_one_true_negative_per_positive_every_epoch():
    train = [np.array([[0, 1], [0, 2], [1, 2]]), np.array([[3, 4]])]
    dataset, steps = pp.training_pairs(train, num_drugs=5, batch_size=4, seed=0)
    positives = {(s, i, j) for s, p in enumerate(train) for a, b in p.tolist() for i, j in ((a, b), (b, a))}
    epochs = []
    for _ in range(2):
        batches = list(dataset.as_numpy_iterator())
        assert len(batches) == steps == 4  # 8 positives (both directions) + 8 negatives
        pairs = np.concatenate([b[0]["pairs"] for b in batches])
        relation = np.concatenate([b[0]["relation"] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        triples = [(int(r), int(i), int(j)) for r, (i, j) in zip(relation, pairs)]
        assert sorted(t for t, y in zip(triples, labels) if y == 1) == sorted(positives)
        negatives = [t for t, y in zip(triples, labels) if y == 0]
        assert len(negatives) == 8 and all(t not in positives and t[1] != t[2] for t in negatives)
        epochs.append(sorted(negatives))
    assert epochs[0] != epochs[1]  # fresh negatives


def test_ap_at_k_by_hand_and_against_scikit_learn():
    labels = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    # Hits at ranks 1, 3, 6: precisions 1, 2/3, 1/2.
    assert pp.ap_at_k(labels, scores, k=2) == pytest.approx(1 / 2)  # (1) / min(3, 2)
    assert pp.ap_at_k(labels, scores, k=3) == pytest.approx((1 + 2 / 3) / 3)
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 40), rng.random(40)
    assert pp.ap_at_k(labels, scores, k=40) == pytest.approx(average_precision_score(labels, scores))
    assert pp.ap_at_k(np.zeros(5), rng.random(5)) == 0.0


def test_dedicom_decoder_against_numpy():
    decoder = pp.DEDICOMDecoder(3)
    z = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    decoder.build((6, 4))
    decoder.diagonal.assign(np.random.default_rng(1).normal(size=(3, 4)))
    pairs, relation = np.array([[0, 1], [2, 5], [5, 2]], "int32"), np.array([2, 0, 0], "int32")
    out = decoder(z, pairs, relation).numpy()
    R, D = decoder.interaction.numpy(), decoder.diagonal.numpy()
    expected = [1 / (1 + np.exp(-(z[i] @ np.diag(D[r]) @ R @ np.diag(D[r]) @ z[j])))
                for (i, j), r in zip(pairs, relation)]
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_generated_data_follows_its_planted_rule():
    data = pp.planted_polypharmacy(seed=0)
    assert data.truth.shape == (8, 300, 300)
    for s, pairs in enumerate(data.pairs):
        probabilities = data.truth[s][pairs[:, 0], pairs[:, 1]]
        assert np.mean(probabilities == 0.3) > 0.8  # most pairs come from the driver pathways


def test_quick_runs_in_a_fresh_interpreter_export_and_read_decagon_files(tmp_path):
    decagon_csvs(tmp_path / "decagon")
    code = (
        "import sys\nfrom recipes import polypharmacy as pp\n"
        f"pp.main(['--quick', '--output-dir', {str(tmp_path / 'run')!r}])\n"
        f"pp.main(['--quick', '--no-export', '--output-dir', {str(tmp_path / 'csv')!r}, "
        f"'--data-dir', {str(tmp_path / 'decagon')!r}, '--side-effects', '2'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name, baselines in (("run", {"free_embeddings", "oracle"}), ("csv", {"free_embeddings"})):
        report = json.loads((tmp_path / name / "metrics.json").read_text())
        assert report["recipe"] == "polypharmacy"
        assert set(report["baselines"]) == baselines
        for row in [report["metrics"], *report["baselines"].values()]:
            assert all(math.isfinite(row[k]) and 0 <= row[k] <= 1 for k in METRICS)
        assert len(report["per_side_effect"]) == report["data"]["side_effects"]
    assert report["data"]["side_effects"] == 2 and report["data"]["drugs"] == 12
    run = tmp_path / "run"
    for name in ("history.csv", "history_free_embeddings.csv", "model.keras", "nodes.json",
                 "plots/roc.png", "graph.tfrecord.schema.pbtxt"):
        assert (run / name).exists(), name
    example = dict(np.load(run / "serving_example.npz"))
    saved_model = tf.saved_model.load(str(run / "saved_model"))  # keep a reference: it owns the variables
    served = saved_model.serve(example).numpy()
    keras_model = keras.saving.load_model(run / "model.keras")
    np.testing.assert_allclose(served, keras_model(example, training=False).numpy(), rtol=1e-4, atol=1e-5)
    assert served.shape == (len(example["pairs"]),) and np.all((served > 0) & (served < 1))
