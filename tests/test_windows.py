import keras
import numpy as np
import pandas as pd
import pytest

from kerasml.data.windows import (WindowSpec, split_series, window_arrays, window_dataset,
                                  window_starts)


def brute_force_windows(array, input_width, label_width, shift, stride, sampling_rate,
                        input_cols, label_cols, start, end):
    """Reference: loop over every start row and slice, straight from the definition."""
    inputs, labels = [], []
    i = start
    while i + input_width + shift <= end:
        inputs.append(array[i:i + input_width:sampling_rate][:, input_cols])
        last_label = i + input_width + shift - 1
        labels.append(array[last_label - label_width + 1:last_label + 1][:, label_cols])
        i += stride
    return np.stack(inputs), np.stack(labels)


def collect(dataset):
    batches = list(dataset)
    return (np.concatenate([b[0].numpy() for b in batches]),
            np.concatenate([b[1].numpy() for b in batches]))


def test_windows_match_brute_force_over_random_specs():
    rng = np.random.default_rng(0)
    for _ in range(40):
        n_rows, n_cols = int(rng.integers(30, 80)), int(rng.integers(1, 4))
        array = rng.standard_normal((n_rows, n_cols)).astype("float32")
        input_width = int(rng.integers(1, 10))
        shift = int(rng.integers(0, 5))
        label_width = int(rng.integers(1, input_width + shift + 1))
        stride, rate = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        input_cols = sorted(rng.choice(n_cols, int(rng.integers(1, n_cols + 1)), replace=False).tolist())
        label_cols = [int(rng.integers(n_cols))]
        start = int(rng.integers(0, 5))
        end = int(rng.integers(start + input_width + shift, n_rows + 1))
        spec = WindowSpec(input_width, label_width, shift, stride, rate, input_cols, label_cols)
        expected = brute_force_windows(array, input_width, label_width, shift, stride, rate,
                                       input_cols, label_cols, start, end)
        got = collect(window_dataset(array, spec, batch_size=int(rng.integers(1, 9)),
                                     start=start, end=end))
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        arrays = window_arrays(array, spec, start=start, end=end)
        np.testing.assert_array_equal(arrays[0], expected[0])
        np.testing.assert_array_equal(arrays[1], expected[1])


@pytest.mark.parametrize("sampling_rate,stride", [(1, 1), (2, 3), (3, 1)])
def test_equals_keras_timeseries_dataset_from_array(sampling_rate, stride):
    array = np.random.default_rng(1).standard_normal((300, 3)).astype("float32")
    steps, shift = 7, 4
    input_width = (steps - 1) * sampling_rate + 1  # keras counts steps, we count rows
    target_row = input_width + shift - 1
    reference = keras.utils.timeseries_dataset_from_array(
        array, array[target_row:, 2], sequence_length=steps, sampling_rate=sampling_rate,
        sequence_stride=stride, batch_size=16)
    spec = WindowSpec(input_width, 1, shift, stride, sampling_rate, label_columns=[2])
    ours = collect(window_dataset(array, spec, batch_size=16))
    theirs = collect(reference)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1][:, 0, 0], theirs[1])


def test_shuffle_visits_every_window_once_and_reshuffles_each_epoch():
    array = np.arange(200, dtype="float32")
    spec = WindowSpec(5, 1, 1)
    dataset = window_dataset(array, spec, batch_size=32, shuffle=True, seed=3)
    epoch1, epoch2 = collect(dataset), collect(dataset)
    expected = window_arrays(array, spec)
    for inputs, labels in (epoch1, epoch2):
        order = np.argsort(inputs[:, 0, 0])
        np.testing.assert_array_equal(inputs[order], expected[0])
        np.testing.assert_array_equal(labels[order], expected[1])
    assert not np.array_equal(epoch1[0], epoch2[0])
    again = collect(window_dataset(array, spec, batch_size=32, shuffle=True, seed=3))
    np.testing.assert_array_equal(again[0], epoch1[0])


def test_dataframe_columns_by_name():
    frame = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0) * 10, "c": -np.arange(20.0)})
    spec = WindowSpec(4, 2, 2, input_columns=["a", "c"], label_columns=["b"])
    inputs, labels = collect(window_dataset(frame, spec, batch_size=8))
    np.testing.assert_array_equal(inputs[0], frame[["a", "c"]].to_numpy()[0:4])
    np.testing.assert_array_equal(labels[0, :, 0], [40.0, 50.0])


def test_split_series_keeps_labels_inside_each_split_and_uses_training_statistics():
    array = np.random.default_rng(2).standard_normal((500, 2)) + np.arange(500)[:, None]
    spec = WindowSpec(24, 6, 6, stride=2)
    split = split_series(array, spec, val=0.2, test=0.1)
    train_end, val_end = split.boundaries
    assert (train_end, val_end) == (350, 450)
    for (lo, hi), label_lo, label_hi in ((split.train, 0, train_end),
                                         (split.val, train_end, val_end),
                                         (split.test, val_end, 500)):
        label_rows = window_starts(500, spec, lo, hi)[:, None] + spec.label_offsets
        assert label_rows.min() >= label_lo and label_rows.max() < label_hi
    assert split.val[1] - split.val[0] >= spec.total_width
    np.testing.assert_allclose(split.mean, array[:350].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(split.std, array[:350].std(axis=0), rtol=1e-6)
    # The first val window's labels start exactly at the boundary: no gap, no overlap.
    assert window_starts(500, spec, *split.val)[0] + spec.label_start == train_end


def test_memory_is_linear_in_rows_not_in_windows():
    """The serialised pipeline holds the series once (160 kB here), while the
    materialised windows would take 10,000 x 500 x 2 x 4 bytes = 40 MB."""
    import tensorflow as tf

    array = np.zeros((10_000, 2), dtype="float32")
    dataset = window_dataset(array, WindowSpec(500, 1, 1), batch_size=64)
    graph_bytes = len(tf.raw_ops.DatasetToGraphV2(input_dataset=dataset._variant_tensor).numpy())
    assert graph_bytes < 2 * array.nbytes + 100_000


@pytest.mark.parametrize("series,match", [
    (np.array([1.0, 2.0, np.nan, 4.0] * 10), "row 2"),
    (np.array([1.0, np.inf] * 10), "row 1"),
    (np.zeros((5, 2)), "one window needs"),
    (np.zeros((4, 3, 2)), "1-D"),
    (np.array(["a", "b"] * 20), "numeric"),
])
def test_bad_series_errors_say_what_to_change(series, match):
    with pytest.raises(ValueError, match=match):
        window_dataset(series, WindowSpec(6, 1, 1))


@pytest.mark.parametrize("kwargs,match", [
    ({"input_width": 0}, "input_width"),
    ({"input_width": 4, "label_width": -1}, "label_width"),
    ({"input_width": 4, "stride": 0}, "stride"),
    ({"input_width": 4, "label_width": 9, "shift": 1}, "label_width"),
])
def test_bad_specs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WindowSpec(**kwargs)


def test_missing_columns_are_named():
    frame = pd.DataFrame({"a": np.arange(20.0)})
    with pytest.raises(ValueError, match="'z' does not exist"):
        window_dataset(frame, WindowSpec(3, label_columns=["z"]))
    with pytest.raises(ValueError, match="out of range"):
        window_dataset(np.zeros((20, 2)), WindowSpec(3, input_columns=[5]))
    with pytest.raises(ValueError, match="no column names"):
        window_dataset(np.zeros((20, 2)), WindowSpec(3, input_columns=["a"]))


def test_fill_policies():
    series = np.array([1.0, np.nan, 3.0, np.nan, np.nan, 6.0, 7.0, 8.0])
    spec = WindowSpec(7, 1, 1)
    interpolated, _ = window_arrays(series, spec, fill="interpolate")
    np.testing.assert_allclose(interpolated[0, :, 0], [1, 2, 3, 4, 5, 6, 7])
    carried, _ = window_arrays(series, spec, fill="ffill")
    np.testing.assert_allclose(carried[0, :, 0], [1, 1, 3, 3, 3, 6, 7])
    zeroed, _ = window_arrays(series, spec, fill="zero")
    np.testing.assert_allclose(zeroed[0, :, 0], [1, 0, 3, 0, 0, 6, 7])
