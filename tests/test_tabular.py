"""kerasml.data.tabular and kerasml.layers.FillMissing against pandas/NumPy references written here."""

import keras
import numpy as np
import pandas as pd
import pytest

from kerasml.data import tabular
from kerasml.layers import FillMissing


def raw_frame():
    """A numeric column with a NaN and a -1 marker, text with an empty cell and a marker,
    numbers written as text with a "?", an identifier, an all-empty column and integer codes."""
    n = 30
    return pd.DataFrame({
        "mean radius": [1.0, np.nan, 3.0, -1.0, 5.0] * 6,
        "colour": ["red", "", "blue", "Unknown", "red", "red"] * 5,
        "size": ["1.5", "2", "?", "4", "5.25"] * 6,
        "id": [f"P{i:03d}" for i in range(n)],
        "empty": [np.nan] * n,
        "group": [1, 2, 3] * 10,
    })


MARKERS = ("-1", "Unknown", "?")


def test_numeric_markers_and_missing_mask():
    assert tabular.numeric_markers(["-1", "Unknown", "2.5", "?"]) == [-1.0, 2.5]
    numbers = pd.Series([1.0, np.nan, -1.0, 2.5, 3.0])
    np.testing.assert_array_equal(tabular.missing_mask(numbers, MARKERS), [False, True, True, False, False])
    text = pd.Series(["a", "", "  ", None, "Unknown", " b "], dtype=object)
    np.testing.assert_array_equal(tabular.missing_mask(text, MARKERS), [False, True, True, True, True, False])
    assert not tabular.missing_mask(numbers, ()).tolist()[2]  # no markers: -1 is a number


def test_column_kinds_types_converts_and_leaves_out():
    frame = raw_frame()
    converted, kinds, dropped = tabular.column_kinds(frame, "t.csv", markers=MARKERS, integer_categorical=["group"])
    assert kinds == {"mean radius": "numeric", "colour": "string", "size": "numeric", "group": "integer"}
    assert set(dropped) == {"id", "empty"} and dropped["empty"] == "every cell is missing"
    assert dropped["id"].startswith("identifier-like text: 30 distinct values in 30 rows")
    expected_size = pd.to_numeric(frame["size"].where(frame["size"] != "?"))
    np.testing.assert_array_equal(converted["size"].to_numpy("float64"), expected_size.to_numpy("float64"))
    assert not pd.api.types.is_numeric_dtype(frame["size"])  # the caller's frame is left alone

    _, kinds, _ = tabular.column_kinds(frame, "t.csv", categorical=["size", "id"], markers=MARKERS)
    assert kinds["size"] == "string" and kinds["id"] == "string" and kinds["group"] == "numeric"

    with pytest.raises(ValueError, match=r"--categorical names column\(s\) \['nope'\]"):
        tabular.column_kinds(frame, "t.csv", categorical=["nope"])
    junk = frame.assign(size=frame["size"].where(frame.index != 4, "n/a"))
    with pytest.raises(ValueError, match=r"column 'size' should be numeric but line 6 holds 'n/a'.*--categorical size"):
        tabular.column_kinds(junk, "t.csv", markers=MARKERS)
    with pytest.raises(ValueError, match="no usable feature columns"):
        tabular.column_kinds(frame[["empty"]], "t.csv")
    with pytest.raises(ValueError, match=r"--drop names column\(s\) \['x'\]"):
        tabular.require_columns(frame, ["x", "id"], "--drop")


def test_safe_input_names_are_valid_and_unique():
    names = tabular.safe_input_names(["mean radius", "mean_radius", "1st", "numeric_block", "", "a-b"])
    assert names == {"mean radius": "mean_radius", "mean_radius": "mean_radius_2", "1st": "c_1st",
                     "numeric_block": "numeric_block_2", "": "column", "a-b": "a_b"}


def test_as_text_writes_cells_as_a_csv_does():
    assert [tabular.as_text(v) for v in [3.0, 2.5, np.nan, None, " x ", 7, "b"]] == ["3", "2.5", "", "", "x", "7", "b"]


def fitted(one_hot_max=20):
    frame, kinds, dropped = tabular.column_kinds(raw_frame(), "t.csv", markers=MARKERS,
                                                 integer_categorical=["group"])
    frame = frame[list(kinds)]
    return frame, tabular.fit_columns(frame, kinds, markers=MARKERS, one_hot_max=one_hot_max), dropped


def test_fit_columns_vocabulary_commonest_first_and_encodings():
    frame, columns, _ = fitted()
    by_name = {c.name: c for c in columns}
    assert [(c.name, c.input_name, c.kind) for c in columns] == [
        ("mean radius", "mean_radius", "numeric"), ("colour", "colour", "string"),
        ("size", "size", "numeric"), ("group", "group", "integer")]
    colours = frame["colour"][~frame["colour"].isin(["", "Unknown"])]
    counts = colours.value_counts()
    assert by_name["colour"].vocabulary == sorted(counts.index, key=lambda v: (-counts[v], v)) == ["red", "blue"]
    assert by_name["group"].vocabulary == [1, 2, 3]  # ties: by text
    assert {c.encoding for c in columns if c.kind != "numeric"} == {"one_hot"}
    _, columns, _ = fitted(one_hot_max=2)
    assert {c.name: c.encoding for c in columns} == {"mean radius": "numeric", "colour": "one_hot",
                                                      "size": "numeric", "group": "embedding"}


def test_model_inputs_layout_serving_and_sklearn_frame():
    frame, columns, dropped = fitted()
    raw = tabular.model_inputs(frame, columns)
    assert {k: v.dtype for k, v in raw.items()} == {"mean_radius": np.float32, "colour": object,
                                                    "size": np.float32, "group": np.int64}
    np.testing.assert_array_equal(raw["colour"], frame["colour"].to_numpy(object))
    layout = tabular.training_layout(raw, columns)
    assert list(layout) == ["colour", "group", tabular.NUMERIC_BLOCK]
    np.testing.assert_array_equal(layout[tabular.NUMERIC_BLOCK],
                                  frame[["mean radius", "size"]].to_numpy("float32"))
    serving = tabular.serving_inputs(columns)
    assert {k: v["dtype"] for k, v in serving.items()} == {"mean_radius": "float32", "colour": "string",
                                                           "size": "float32", "group": "int64"}

    sk = tabular.sklearn_frame(frame, columns, MARKERS)
    expected = frame["mean radius"].replace(-1.0, np.nan)
    pd.testing.assert_series_equal(sk["mean radius"], expected, check_names=False)
    assert sk["colour"].tolist() == frame["colour"].tolist() and sk["group"].dtype == np.int64

    summary, lines = tabular.describe_columns(frame, columns, dropped, MARKERS)
    missing = {"mean radius": int((frame["mean radius"].isna() | (frame["mean radius"] == -1)).sum()),
               "colour": int(frame["colour"].isin(["", "Unknown"]).sum()),
               "size": int(frame["size"].isna().sum())}
    assert summary["missing_cells"] == missing
    gaps = frame["mean radius"].isna() | (frame["mean radius"] == -1) | frame["colour"].isin(["", "Unknown"]) \
        | frame["size"].isna()
    assert summary["rows_with_missing_cells"] == int(gaps.sum())
    assert summary["columns"] == {"numeric": ["mean radius", "size"], "one_hot": ["colour", "group"],
                                  "embedding": []}
    assert lines[0] == "columns: 2 numeric, 2 one_hot" and any("left out column 'id'" in line for line in lines)


def test_sklearn_features_median_indicator_standardise_one_hot():
    frame, columns, _ = fitted()
    sk = tabular.sklearn_frame(frame, columns, MARKERS)
    out = tabular.sklearn_features(columns).fit_transform(sk)
    out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
    radius = sk["mean radius"].fillna(sk["mean radius"].median())
    np.testing.assert_allclose(out[:, 0], (radius - radius.mean()) / radius.std(ddof=0))
    assert out.shape[1] == 2 + 2 + 4 + 3  # numbers, their two indicators, colours incl. "", groups


def test_fill_missing_against_numpy_and_round_trip():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, -1.0, 6.0], [7.0, 8.0, -1.0]], "float32")
    fill = FillMissing([10.0, 20.0, 30.0], indicators=[0, 2], markers=[-1.0])
    missing = np.isnan(x) | (x == -1)
    expected = np.concatenate([np.where(missing, [[10.0, 20.0, 30.0]], x), missing[:, [0, 2]]], axis=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(fill(x)), expected)
    assert fill.compute_output_shape((None, 3)) == (None, 5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(FillMissing([0, 0, 0])(x)),
                                  np.where(np.isnan(x), 0, x))  # no markers: -1 stays

    config = keras.saving.serialize_keras_object(fill)
    assert config["registered_name"] == "kerasml>FillMissing"
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is FillMissing and restored.get_config()["indicators"] == [0, 2]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(x)), expected)


def test_encoded_features_and_named_columns_model():
    frame, columns, _ = fitted()
    raw = tabular.model_inputs(frame, columns)
    layout = tabular.training_layout(raw, columns)
    inputs, features = tabular.encoded_features(columns, layout, MARKERS)
    network = keras.Model(inputs, features)
    got = network.predict(layout, verbose=0)

    block = layout[tabular.NUMERIC_BLOCK].astype("float64")
    missing = np.isnan(block) | (block == -1)
    filled = np.where(missing, np.nanmedian(np.where(missing, np.nan, block), axis=0), block)
    filled = np.concatenate([filled, missing[:, missing.any(axis=0)]], axis=1)  # both columns have gaps
    std = filled.std(axis=0)
    numeric = (filled - filled.mean(axis=0)) / np.where(std > 0, std, 1.0)
    colour = np.stack([frame["colour"].isin(["", "Unknown"]), frame["colour"] == "red",
                       frame["colour"] == "blue"], axis=1)  # out-of-vocabulary slot first
    group = np.stack([np.zeros(len(frame), bool)] + [frame["group"] == g for g in (1, 2, 3)], axis=1)
    np.testing.assert_allclose(got, np.concatenate([numeric, colour, group], axis=1), atol=1e-5)

    named = tabular.with_named_columns(network, columns, "named")
    assert sorted(named.input) == sorted(c.input_name for c in columns)
    np.testing.assert_allclose(named.predict(raw, verbose=0), got, atol=1e-6)


def test_read_csv_with_target_splits_off_the_target(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2, 3], "y": ["1.5", "", "x"]}).to_csv(path, index=False)
    features, target = tabular.read_csv_with_target(path, "y", what="w", hint="h")
    assert list(features.columns) == ["a"] and target.name == "y" and len(target) == 3
    with pytest.raises(ValueError, match=r"line 4 holds 'x'"):
        tabular.read_csv_with_target(path, "y", numeric=True, what="w", hint="h")
    with pytest.raises(ValueError, match=r"no column\(s\) \['z'\].* Pass h with --target\."):
        tabular.read_csv_with_target(path, "z", what="w", hint="h")
    with pytest.raises(SystemExit, match="--csv needs --target COL: w."):
        tabular.read_csv_with_target(path, None, what="w", hint="h")
