import numpy as np
import pandas as pd
import pytest

from kerasml.data import sources


def test_co2_is_weekly_with_its_known_gaps():
    co2 = sources.co2_weekly()
    assert len(co2) == 2284 and int(co2.isna().sum()) == 59
    assert co2.index.freqstr.startswith("W")


def test_read_csv_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="--csv"):
        sources.read_csv(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        sources.read_csv(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    with pytest.raises(ValueError, match="no data rows"):
        sources.read_csv(header_only)
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n3,\n5,oops\n")
    with pytest.raises(ValueError, match=r"column 'b'.*line 4 holds 'oops'"):
        sources.read_csv(junk, numeric=["a", "b"])
    with pytest.raises(ValueError, match=r"no column\(s\) \['z'\]"):
        sources.read_csv(junk, required=["z"])
    frame = sources.read_csv(junk, numeric=["a"])
    assert frame["a"].tolist() == [1.0, 3.0, 5.0]


def test_regular_time_grid_turns_missing_steps_into_gaps():
    times = pd.date_range("2020-01-01", periods=10, freq="D").delete([5, 6])  # Mon, Tue
    frame = pd.DataFrame({"day": times.astype(str), "v": np.arange(8.0)}).sample(frac=1, random_state=0)
    grid, step, added = sources.regular_time_grid(frame, "day")
    assert (grid.index[1] - grid.index[0]) == pd.Timedelta(days=1) and added == 2 and len(grid) == 10
    assert grid["v"].isna().tolist() == [False] * 5 + [True] * 2 + [False] * 3
    months = pd.date_range("2001-01-01", periods=24, freq="MS").delete([5, 6, 7])
    grid, step, added = sources.regular_time_grid(pd.DataFrame({"m": months, "v": 1.0}), "m")
    assert step.freqstr == "MS" and added == 3 and len(grid) == 24
    with pytest.raises(ValueError, match="repeats"):
        sources.regular_time_grid(pd.DataFrame({"t": ["2020-01-01"] * 3, "v": [1, 2, 3]}), "t")
    with pytest.raises(ValueError, match="not a date"):
        sources.regular_time_grid(pd.DataFrame({"t": ["2020-01-01", "soon", "2020-01-03"], "v": [1, 2, 3]}), "t")


def test_tfds_loads_through_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        dataset = sources.load_tfds("mnist", split="train")
        examples = list(dataset.take(6))
    assert len(examples) == 6 and examples[0]["image"].shape == (28, 28, 1)


def test_tfds_offline_without_prepared_data_fails_once_and_clearly(tmp_path):
    with pytest.raises(sources.DataUnavailableError, match="tfds build mnist.*--tfds-data-dir.*--tfds-download"):
        sources.load_tfds("mnist", split="train", data_dir=str(tmp_path))
