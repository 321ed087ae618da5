"""Reading label matrices and truth vectors (.npy, .csv), refusing bad files, writing outputs atomically."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import emcrowd.io as eio
from emcrowd.data import Labels
from emcrowd.errors import InputError
from emcrowd.io import read_labels, read_truth, write_outputs
from tests.helpers import write_object_npy


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def save_npy(path: Path, array: np.ndarray, **kwargs) -> Path:
    with open(path, "wb") as fh:  # np.save(path) would append ".npy" to odd names
        np.save(fh, array, **kwargs)
    return path


def write_csv(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def observed_triples(data: Labels) -> set[tuple[int, int, float]]:
    """(row, column, original label value) of every observed label."""
    return {
        (int(i), int(w), float(data.class_names[k]))
        for i, w, k in zip(data.item, data.worker, data.label, strict=True)
    }


def matrix_triples(matrix: np.ndarray) -> set[tuple[int, int, float]]:
    m = np.asarray(matrix, dtype=np.float64)
    rows, cols = np.nonzero(~np.isnan(m))
    return {(int(r), int(c), float(m[r, c])) for r, c in zip(rows, cols, strict=True)}


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every path under ``directory`` (relative) with its bytes; directories map to None."""
    out: dict[str, bytes | None] = {}
    for p in sorted(directory.rglob("*")):
        out[str(p.relative_to(directory))] = None if p.is_dir() else p.read_bytes()
    return out


def assert_input_error(path: Path, func, *args, match: str | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        func(*args)
    message = str(info.value)
    assert str(path) in message, message
    if match is not None:
        assert match.lower() in message.lower(), message
    return info.value


@pytest.fixture
def three_items() -> Labels:
    """A 3 x 2 binary data set, for aligning truth files with."""
    return Labels.from_matrix(np.array([[1.0, 0.0], [0.0, np.nan], [np.nan, 1.0]]))


# --------------------------------------------------------------------------------------------------
# read_labels: .npy
# --------------------------------------------------------------------------------------------------
def test_npy_float_with_nan_gives_observed_labels(tmp_path):
    matrix = np.array(
        [
            [1.0, np.nan, 0.0, np.nan],
            [np.nan, np.nan, 1.0, 1.0],
            [0.0, 0.0, np.nan, np.nan],
        ]
    )
    data = read_labels(save_npy(tmp_path / "L.npy", matrix))
    assert data.n_labels == int((~np.isnan(matrix)).sum()) == 6
    assert observed_triples(data) == matrix_triples(matrix)
    assert data.item_names == ("0", "1", "2")
    assert data.worker_names == ("0", "1", "2", "3")
    assert data.class_names == ("0", "1")
    np.testing.assert_array_equal(data.to_matrix(), matrix)


def test_npy_observed_arrays_in_row_major_order(tmp_path):
    rng = np.random.default_rng(3)
    matrix = rng.integers(0, 2, size=(40, 7)).astype(float)
    matrix[rng.random(matrix.shape) < 0.6] = np.nan
    data = read_labels(save_npy(tmp_path / "L.npy", matrix))
    rows, cols = np.nonzero(~np.isnan(matrix))
    np.testing.assert_array_equal(data.item, rows)
    np.testing.assert_array_equal(data.worker, cols)
    np.testing.assert_array_equal(data.label, matrix[rows, cols].astype(int))
    assert data.item_names == tuple(str(i) for i in range(40))
    assert data.worker_names == tuple(str(i) for i in range(7))


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint16])
def test_npy_integer_dtype_has_no_missing_cells(tmp_path, dtype):
    matrix = np.array([[0, 1, 1], [1, 0, 0]], dtype=dtype)
    data = read_labels(save_npy(tmp_path / "L.npy", matrix))
    assert data.n_labels == 6
    assert observed_triples(data) == matrix_triples(matrix)
    assert data.class_names == ("0", "1")


def test_npy_bool_dtype(tmp_path):
    matrix = np.array([[True, False], [True, True], [False, False]])
    data = read_labels(save_npy(tmp_path / "L.npy", matrix))
    assert data.n_labels == 6
    assert data.class_names == ("0", "1")
    assert observed_triples(data) == matrix_triples(matrix.astype(float))
    assert data.item_names == ("0", "1", "2")
    assert data.worker_names == ("0", "1")


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_])
def test_all_ones_matrix_is_still_binary(tmp_path, dtype):
    data = read_labels(save_npy(tmp_path / "L.npy", np.ones((3, 2), dtype=dtype)))
    assert data.class_names == ("0", "1")
    assert data.n_classes == 2
    assert set(data.label.tolist()) == {1}


def test_non_binary_integer_values_are_classes_in_numeric_order(tmp_path):
    # 10 sorts before 2 as text; classes must be in numeric order.
    matrix = np.array([[3.0, 1.0, np.nan], [10.0, 2.0, 1.0], [2.0, np.nan, 3.0]])
    data = read_labels(save_npy(tmp_path / "L.npy", matrix))
    assert data.class_names == ("1", "2", "3", "10")
    assert observed_triples(data) == matrix_triples(matrix)
    # label codes follow the class order
    cell = {(i, w): k for i, w, k in zip(data.item, data.worker, data.label, strict=True)}
    assert cell[(0, 1)] == 0 and cell[(2, 0)] == 1 and cell[(0, 0)] == 2 and cell[(1, 0)] == 3


def test_values_1_2_3_give_three_classes(tmp_path):
    data = read_labels(save_npy(tmp_path / "L.npy", np.array([[1, 2], [3, 2]], dtype=np.int16)))
    assert data.class_names == ("1", "2", "3")


# --------------------------------------------------------------------------------------------------
# read_labels: .npy refusals
# --------------------------------------------------------------------------------------------------
class _Marker:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_object_array_is_refused_and_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled-marker"
    arr = np.empty((2, 2), dtype=object)
    arr[:] = 1
    arr[0, 0] = _Marker(marker)
    path = write_object_npy(tmp_path / "L.npy", arr)
    assert not marker.exists()
    assert_input_error(path, read_labels, path)
    assert not marker.exists(), "read_labels unpickled the object array"


def test_plain_pickle_file_is_refused_and_not_unpickled(tmp_path):
    marker = tmp_path / "unpickled-marker"
    path = tmp_path / "L.npy"
    path.write_bytes(pickle.dumps([[1, 0], _Marker(marker)]))
    assert_input_error(path, read_labels, path, match="pickle")
    assert not marker.exists(), "read_labels unpickled the file"


@pytest.mark.parametrize("shape", [(5,), (2, 3, 2), (1, 1, 1, 1)], ids=["1d", "3d", "4d"])
def test_wrong_number_of_dimensions(tmp_path, shape):
    path = save_npy(tmp_path / "L.npy", np.zeros(shape))
    err = assert_input_error(path, read_labels, path)
    assert str(shape) in str(err)


@pytest.mark.parametrize(
    "array",
    [np.array([["0", "1"], ["1", "0"]]), np.array([[b"0", b"1"]]), np.ones((2, 2), dtype=complex)],
    ids=["unicode", "bytes", "complex"],
)
def test_non_numeric_dtype(tmp_path, array):
    path = save_npy(tmp_path / "L.npy", array)
    assert_input_error(path, read_labels, path, match="dtype")


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        (np.array([[0.0, 1.0], [0.5, np.nan]]), "0.5"),
        (np.array([[0.0, 1.0], [1.0, np.inf]]), "inf"),
        (np.array([[0.0, -np.inf], [1.0, 0.0]]), "inf"),
    ],
    ids=["half", "inf", "-inf"],
)
def test_non_integer_or_infinite_values(tmp_path, matrix, match):
    path = save_npy(tmp_path / "L.npy", matrix)
    assert_input_error(path, read_labels, path, match=match)


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (0, 0)])
def test_empty_matrix(tmp_path, shape):
    path = save_npy(tmp_path / "L.npy", np.zeros(shape))
    assert_input_error(path, read_labels, path, match="empty")


def test_all_nan_matrix(tmp_path):
    path = save_npy(tmp_path / "L.npy", np.full((3, 4), np.nan))
    assert_input_error(path, read_labels, path, match="no labels")


@pytest.mark.parametrize("keep", ["header_part", "data_part", "magic_only", "zero_bytes"])
def test_truncated_npy(tmp_path, keep):
    good = save_npy(tmp_path / "good.npy", np.arange(60, dtype=np.float64).reshape(10, 6) % 2)
    raw = good.read_bytes()
    cut = {"header_part": 30, "data_part": len(raw) - 17, "magic_only": 6, "zero_bytes": 0}[keep]
    path = tmp_path / "L.npy"
    path.write_bytes(raw[:cut])
    assert_input_error(path, read_labels, path)


def test_garbage_npy(tmp_path):
    path = tmp_path / "L.npy"
    path.write_bytes(b"item,worker,label\n1,2,3\n")
    assert_input_error(path, read_labels, path)


def test_garbage_npy_is_not_called_a_pickle(tmp_path):
    path = tmp_path / "L.npy"
    path.write_bytes(b"item,worker,label\n1,2,3\n")
    err = assert_input_error(path, read_labels, path)
    assert "pickle" not in str(err)


def test_npz_archive_named_npy(tmp_path):
    path = tmp_path / "L.npy"
    with open(path, "wb") as fh:
        np.savez(fh, L=np.ones((2, 2)))
    assert_input_error(path, read_labels, path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope" / "L.npy"
    assert_input_error(path, read_labels, path, match="no such file")


@pytest.mark.parametrize("name", ["L.npy", "L.csv"])
def test_directory(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    assert_input_error(path, read_labels, path, match="directory")


@pytest.mark.parametrize("name", ["L.txt", "L.npz", "L.json", "L", "L.npy.gz"])
def test_unsupported_extension(tmp_path, name):
    path = tmp_path / name
    save_npy(path, np.ones((2, 2)))
    assert_input_error(path, read_labels, path, match="unsupported")


def test_extension_is_case_insensitive(tmp_path):
    path = save_npy(tmp_path / "L.NPY", np.array([[0.0, 1.0], [1.0, np.nan]]))
    assert read_labels(path).n_labels == 3


# --------------------------------------------------------------------------------------------------
# read_labels: .csv
# --------------------------------------------------------------------------------------------------
def test_csv_without_header(tmp_path):
    path = write_csv(tmp_path / "L.csv", "1,0,1\n0,0,1\n1,1,0\n0,1,0\n")
    data = read_labels(path)
    expected = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=float)
    assert observed_triples(data) == matrix_triples(expected)
    assert data.item_names == ("0", "1", "2", "3")
    assert data.worker_names == ("0", "1", "2")
    assert data.class_names == ("0", "1")


def test_csv_with_header_of_annotator_ids(tmp_path):
    path = write_csv(tmp_path / "L.csv", "ann_a,ann_b,ann_c\n1,,0\n0,1,\n")
    data = read_labels(path)
    assert data.worker_names == ("ann_a", "ann_b", "ann_c")
    assert data.item_names == ("0", "1")
    expected = np.array([[1, np.nan, 0], [0, 1, np.nan]])
    assert observed_triples(data) == matrix_triples(expected)


def test_csv_header_ids_are_stripped(tmp_path):
    data = read_labels(write_csv(tmp_path / "L.csv", " w1 , w2\n1,0\n"))
    assert data.worker_names == ("w1", "w2")


@pytest.mark.parametrize("missing", ["", "nan", "NaN", "NA", " ", "null", "None"])
def test_csv_missing_cells(tmp_path, missing):
    path = write_csv(tmp_path / "L.csv", f"1,{missing},0\n{missing},1,1\n0,0,{missing}\n")
    data = read_labels(path)
    expected = np.array([[1, np.nan, 0], [np.nan, 1, 1], [0, 0, np.nan]])
    assert data.n_labels == 6
    assert observed_triples(data) == matrix_triples(expected)
    assert data.n_items == 3


def test_csv_whole_numbers_written_as_floats(tmp_path):
    data = read_labels(write_csv(tmp_path / "L.csv", "1.0,0.0\n2.0,1e0\n"))
    assert data.class_names == ("0", "1", "2")
    assert observed_triples(data) == {(0, 0, 1.0), (0, 1, 0.0), (1, 0, 2.0), (1, 1, 1.0)}


@pytest.mark.parametrize("header", [True, False])
def test_csv_bom_and_crlf(tmp_path, header):
    text = ("w1,w2\r\n" if header else "") + "1,0\r\n,1\r\n0,\r\n"
    path = write_csv(tmp_path / "L.csv", "\ufeff" + text)
    data = read_labels(path)
    assert data.worker_names == (("w1", "w2") if header else ("0", "1"))
    assert observed_triples(data) == {(0, 0, 1.0), (0, 1, 0.0), (1, 1, 1.0), (2, 0, 0.0)}
    assert data.n_items == 3


def test_csv_crlf_without_bom(tmp_path):
    data = read_labels(write_csv(tmp_path / "L.csv", "a,b\r\n1,0\r\n0,1\r\n"))
    assert data.worker_names == ("a", "b")
    assert data.n_labels == 4


def test_csv_ragged_row_names_the_line(tmp_path):
    path = write_csv(tmp_path / "L.csv", "1,0,1\n0,1,1\n1,0\n0,0,0\n")
    err = assert_input_error(path, read_labels, path, match="line 3")
    assert "2 fields" in str(err)


def test_csv_ragged_row_with_header_names_the_line(tmp_path):
    path = write_csv(tmp_path / "L.csv", "a,b\n1,0\n0,1,1\n")
    assert_input_error(path, read_labels, path, match="line 3")


def test_csv_non_numeric_cell_names_line_and_column(tmp_path):
    path = write_csv(tmp_path / "L.csv", "w1,w2,w3\n1,0,1\n0,1,yes\n")
    err = assert_input_error(path, read_labels, path, match="line 3")
    assert "column 3" in str(err)
    assert "'yes'" in str(err)


def test_csv_non_numeric_cell_without_header(tmp_path):
    path = write_csv(tmp_path / "L.csv", "1,0\n0,1\nx,1\n")
    err = assert_input_error(path, read_labels, path, match="line 3")
    assert "column 1" in str(err)


def test_csv_header_only(tmp_path):
    path = write_csv(tmp_path / "L.csv", "w1,w2,w3\n")
    assert_input_error(path, read_labels, path, match="no rows")


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff", " , \n"], ids=["zero", "newlines", "bom", "blank"])
def test_csv_empty_file(tmp_path, text):
    path = write_csv(tmp_path / "L.csv", text)
    assert_input_error(path, read_labels, path, match="empty")


def test_csv_not_utf8(tmp_path):
    path = write_csv(tmp_path / "L.csv", "annotat\xe9ur,b\n1,0\n".encode("latin-1"))
    assert_input_error(path, read_labels, path, match="UTF-8")


def test_csv_duplicate_header_ids(tmp_path):
    path = write_csv(tmp_path / "L.csv", "a,b,a\n1,0,1\n")
    assert_input_error(path, read_labels, path, match="'a'")


def test_csv_non_integer_label(tmp_path):
    path = write_csv(tmp_path / "L.csv", "1,0\n0.5,1\n")
    assert_input_error(path, read_labels, path, match="0.5")


def test_csv_all_missing(tmp_path):
    path = write_csv(tmp_path / "L.csv", "a,b\nnan,\n,nan\n")
    assert_input_error(path, read_labels, path, match="no labels")


def test_csv_row_of_nan_cells_is_an_unlabelled_item(tmp_path):
    data = read_labels(write_csv(tmp_path / "L.csv", "1,0\nnan,nan\n0,1\n"))
    assert data.n_items == 3
    assert data.labels_per_item().tolist() == [2, 0, 2]


def test_csv_trailing_blank_lines_are_ignored(tmp_path):
    data = read_labels(write_csv(tmp_path / "L.csv", "a,b\r\n1,0\r\n0,1\r\n\r\n\n"))
    assert data.n_items == 2
    assert data.n_labels == 4


# Regression (found at 94434a3/4f57683): io._read_rows dropped rows whose cells were all empty, so an
# unlabelled item disappeared and later items shifted up a row.
def test_csv_row_of_empty_cells_is_an_unlabelled_item(tmp_path):
    data = read_labels(write_csv(tmp_path / "L.csv", "1,0\n,\n0,1\n"))
    assert data.n_items == 3
    assert data.labels_per_item().tolist() == [2, 0, 2]


# Regression: io._parse_rows numbered lines by the rows kept, so a skipped blank line made the reported
# line number wrong ("line 2, column 2: 'x'" for an 'x' on line 3).
def test_csv_error_line_number_counts_blank_lines(tmp_path):
    path = write_csv(tmp_path / "L.csv", "1,0\n\n0,x\n")
    message = str(assert_input_error(path, read_labels, path))
    # Either the blank line 2 is reported (as a short row) or the 'x' on line 3; never 'x' on line 2.
    if "'x'" in message:
        assert "line 3, column 2" in message, message
    else:
        assert "line 2:" in message, message


# --------------------------------------------------------------------------------------------------
# read_truth
# --------------------------------------------------------------------------------------------------
def test_truth_npy_vector(tmp_path, three_items):
    path = save_npy(tmp_path / "y.npy", np.array([1.0, np.nan, 0.0]))
    codes = read_truth(path, three_items)
    assert codes.tolist() == [1, -1, 0]
    assert codes.dtype.kind == "i"


def test_truth_npy_column_vector(tmp_path, three_items):
    path = save_npy(tmp_path / "y.npy", np.array([[0.0], [1.0], [np.nan]]))
    assert read_truth(path, three_items).tolist() == [0, 1, -1]


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_truth_npy_integer_and_bool(tmp_path, three_items, dtype):
    path = save_npy(tmp_path / "y.npy", np.array([1, 0, 1], dtype=dtype))
    assert read_truth(path, three_items).tolist() == [1, 0, 1]


def test_truth_maps_to_class_codes_not_values(tmp_path):
    data = Labels.from_matrix(np.array([[1.0, 3.0], [2.0, np.nan], [3.0, 10.0]]))
    assert data.class_names == ("1", "2", "3", "10")
    path = save_npy(tmp_path / "y.npy", np.array([10.0, 1.0, 3.0]))
    assert read_truth(path, data).tolist() == [3, 0, 2]


def test_truth_npy_row_vector_refused(tmp_path, three_items):
    path = save_npy(tmp_path / "y.npy", np.array([[1.0, 0.0, 1.0]]))
    assert_input_error(path, read_truth, path, three_items, match="1-D")


def test_truth_npy_pickle_refused(tmp_path, three_items):
    marker = tmp_path / "unpickled-marker"
    arr = np.array([1, _Marker(marker), 0], dtype=object)
    path = write_object_npy(tmp_path / "y.npy", arr)
    assert_input_error(path, read_truth, path, three_items)
    assert not marker.exists()


def test_truth_csv_without_header(tmp_path, three_items):
    path = write_csv(tmp_path / "y.csv", "1\n0\n1\n")
    assert read_truth(path, three_items).tolist() == [1, 0, 1]


def test_truth_csv_with_header(tmp_path, three_items):
    path = write_csv(tmp_path / "y.csv", "\ufeffgold\r\n0\r\nnan\r\n1\r\n")
    assert read_truth(path, three_items).tolist() == [0, -1, 1]


@pytest.mark.parametrize("missing", ["nan", "NA", "null"])
def test_truth_csv_missing_values(tmp_path, three_items, missing):
    path = write_csv(tmp_path / "y.csv", f"gold\n1\n{missing}\n0\n")
    assert read_truth(path, three_items).tolist() == [1, -1, 0]


# Regression: io._read_rows dropped blank lines, so an empty cell in a one-column truth .csv was lost
# (length mismatch) instead of meaning "no gold".
@pytest.mark.parametrize("empty", ["", '""', " "], ids=["blank", "quoted", "space"])
def test_truth_csv_empty_cell_means_no_gold(tmp_path, three_items, empty):
    path = write_csv(tmp_path / "y.csv", f"gold\n1\n{empty}\n0\n")
    assert read_truth(path, three_items).tolist() == [1, -1, 0]


def test_truth_csv_header_only(tmp_path, three_items):
    path = write_csv(tmp_path / "y.csv", "gold\n")
    assert_input_error(path, read_truth, path, three_items)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("y.npy", np.array([1.0, 0.0])),
        ("y.npy", np.array([1.0, 0.0, 1.0, 0.0])),
        ("y.csv", "1\n0\n"),
        ("y.csv", "gold\n1\n0\n1\n0\n"),
    ],
    ids=["npy-short", "npy-long", "csv-short", "csv-long"],
)
def test_truth_length_mismatch(tmp_path, three_items, name, content):
    path = tmp_path / name
    if isinstance(content, str):
        write_csv(path, content)
    else:
        save_npy(path, content)
    err = assert_input_error(path, read_truth, path, three_items)
    assert "3 items" in str(err)


@pytest.mark.parametrize(
    ("name", "content", "bad"),
    [
        ("y.npy", np.array([1.0, 2.0, 0.0]), "'2'"),
        ("y.npy", np.array([1.0, -1.0, 0.0]), "'-1'"),
        ("y.npy", np.array([1.0, 0.5, 0.0]), "0.5"),
        ("y.csv", "1\n0\n7\n", "'7'"),
    ],
    ids=["npy-2", "npy-minus1", "npy-half", "csv-7"],
)
def test_truth_value_not_a_class(tmp_path, three_items, name, content, bad):
    path = tmp_path / name
    if isinstance(content, str):
        write_csv(path, content)
    else:
        save_npy(path, content)
    err = assert_input_error(path, read_truth, path, three_items, match="not among the classes")
    assert bad in str(err)


def test_truth_inf(tmp_path, three_items):
    path = save_npy(tmp_path / "y.npy", np.array([1.0, np.inf, 0.0]))
    assert_input_error(path, read_truth, path, three_items, match="inf")


def test_truth_csv_two_columns(tmp_path, three_items):
    path = write_csv(tmp_path / "y.csv", "1,0\n0,1\n1,1\n")
    assert_input_error(path, read_truth, path, three_items, match="one column")


def test_truth_csv_non_numeric(tmp_path, three_items):
    path = write_csv(tmp_path / "y.csv", "gold\n1\ncat\n0\n")
    assert_input_error(path, read_truth, path, three_items, match="line 3")


@pytest.mark.parametrize("name", ["y.txt", "missing.npy"])
def test_truth_unreadable(tmp_path, three_items, name):
    path = tmp_path / name
    if path.suffix == ".txt":
        path.write_text("1\n0\n1\n")
    assert_input_error(path, read_truth, path, three_items)


# --------------------------------------------------------------------------------------------------
# write_outputs
# --------------------------------------------------------------------------------------------------
def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_text_and_npy(tmp_path):
    out = tmp_path / "out"
    arr = np.array([[1.0, np.nan], [0.0, 2.5]])
    written = write_outputs(out, {"a.csv": "x,y\n1,é\n", "b.npy": arr, "c.json": "{}\n"})
    assert written == [out / "a.csv", out / "b.npy", out / "c.json"]
    assert (out / "a.csv").read_bytes() == "x,y\n1,é\n".encode()
    np.testing.assert_array_equal(np.load(out / "b.npy", allow_pickle=False), arr)
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.npy", "c.json"]


def test_write_into_existing_directory_replaces_and_keeps_others(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("old")
    (out / "other.txt").write_text("keep me")
    write_outputs(out, {"a.csv": "new"})
    assert (out / "a.csv").read_text() == "new"
    assert (out / "other.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "other.txt"]


def test_written_files_have_normal_permissions(tmp_path):
    out = tmp_path / "out"
    write_outputs(out, {"a.csv": "1\n", "b.npy": np.zeros(3)})
    expected = 0o666 & ~current_umask()
    for name in ("a.csv", "b.npy"):
        mode = (out / name).stat().st_mode & 0o777
        assert mode == expected, oct(mode)
        assert mode != 0o600
        assert mode & 0o044 == 0o044 & expected  # group/other can read under the usual umask


def test_refuses_to_overwrite_an_input(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    labels = save_npy(out / "L.npy", np.ones((2, 2)))
    before = snapshot(tmp_path)
    with pytest.raises(InputError) as info:
        write_outputs(out, {"a.csv": "x\n", "L.npy": np.zeros(2)}, inputs=[labels])
    assert "L.npy" in str(info.value)
    assert "overwrite" in str(info.value)
    assert snapshot(tmp_path) == before


def test_refuses_to_overwrite_an_input_given_as_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    labels = write_csv(tmp_path / "posteriors.csv", "1,0\n0,1\n")
    before = snapshot(tmp_path)
    with pytest.raises(InputError):
        write_outputs(tmp_path, {"posteriors.csv": "item,p_0,p_1\n"}, inputs=[Path("posteriors.csv")])
    assert snapshot(tmp_path) == before
    assert labels.read_text() == "1,0\n0,1\n"


def test_out_path_is_an_existing_file(tmp_path):
    out = tmp_path / "out"
    out.write_text("i am a file")
    with pytest.raises(InputError) as info:
        write_outputs(out, {"a.csv": "x\n"})
    assert str(out) in str(info.value)
    assert out.read_text() == "i am a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _fail_on_second(monkeypatch, where: str) -> list:
    """Make np.save or os.replace raise OSError the second time it is called."""
    calls: list = []
    if where == "np.save":
        real = np.save

        def fake(*args, **kwargs):
            calls.append(args)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
            return real(*args, **kwargs)

        monkeypatch.setattr(np, "save", fake)
    else:
        real_replace = os.replace

        def fake_replace(src, dst, *args, **kwargs):
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", fake_replace)
    return calls


@pytest.mark.parametrize("where", ["np.save", "os.replace"], ids=["save", "replace"])
def test_failure_midway_leaves_existing_directory_as_it_was(tmp_path, monkeypatch, where):
    out = tmp_path / "out"
    out.mkdir()
    (out / "first.npy").write_bytes(b"old first")
    (out / "second.npy").write_bytes(b"old second")
    (out / "unrelated.txt").write_text("keep")
    before = snapshot(tmp_path)
    calls = _fail_on_second(monkeypatch, where)
    with pytest.raises(InputError) as info:
        write_outputs(out, {"first.npy": np.ones(3), "second.npy": np.zeros(3), "third.csv": "x\n"})
    monkeypatch.undo()
    assert len(calls) >= 2  # the failure really happened (restoring old files adds calls)
    assert str(out) in str(info.value)
    assert snapshot(tmp_path) == before  # same files, same bytes, no temporaries


@pytest.mark.parametrize("where", ["np.save", "os.replace"], ids=["save", "replace"])
def test_failure_midway_removes_directory_it_created(tmp_path, monkeypatch, where):
    out = tmp_path / "out"
    calls = _fail_on_second(monkeypatch, where)
    with pytest.raises(InputError):
        write_outputs(out, {"a.npy": np.ones(3), "b.npy": np.zeros(3)})
    monkeypatch.undo()
    assert len(calls) >= 2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_failure_removes_all_directories_it_created(tmp_path, monkeypatch):
    out = tmp_path / "new" / "deeper" / "out"
    _fail_on_second(monkeypatch, "np.save")
    with pytest.raises(InputError):
        write_outputs(out, {"a.npy": np.ones(3), "b.npy": np.zeros(3)})
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_interrupt_midway_cleans_up(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("old")
    before = snapshot(tmp_path)
    real = np.save

    def interrupted(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(out, {"a.csv": "new", "b.npy": np.ones(2)})
    monkeypatch.undo()
    assert snapshot(tmp_path) == before


def test_write_outputs_never_pickles(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError):
        write_outputs(out, {"a.npy": np.array([object()], dtype=object)})
    assert not out.exists()


def test_csv_text_round_trips_floats():
    values = [0.1, 1 / 3, 1e-300, 0.9999999999999999]
    text = eio.csv_text({"item": ["a", "b", "c", "d"], "p": values, "flag": [True, False, True, False]})
    lines = text.splitlines()
    assert lines[0] == "item,p,flag"
    assert [float(line.split(",")[1]) for line in lines[1:]] == values
    assert [line.split(",")[2] for line in lines[1:]] == ["true", "false", "true", "false"]


def test_csv_chunks_are_the_same_text_as_all_at_once(tmp_path):
    rng = np.random.default_rng(0)
    table = {
        "item": [f"id,{k}" if k % 7 == 0 else f"i{k}" for k in range(1000)],  # some need quoting
        "p": rng.random(1000),
        "n": rng.integers(0, 50, 1000),
        "flag": rng.random(1000) < 0.5,
    }
    whole = eio.csv_text(table)
    chunks = list(eio.csv_chunks(table, rows=64))
    assert len(chunks) == 1 + 16  # header, then ceil(1000 / 64) chunks
    assert "".join(chunks) == whole
    assert "".join(eio.csv_chunks({"a": [], "b": []})) == eio.csv_text({"a": [], "b": []}) == "a,b\n"
    # written as it is rendered: the file is the same text
    write_outputs(tmp_path, {"t.csv": eio.csv_chunks(table, rows=100)})
    assert (tmp_path / "t.csv").read_text() == whole


def test_a_failing_chunked_output_leaves_nothing_behind(tmp_path):
    def chunks():
        yield "a,b\n"
        raise OSError(28, "No space left on device")

    (tmp_path / "keep.csv").write_text("old\n")
    with pytest.raises(InputError, match="cannot write output"):
        write_outputs(tmp_path, {"keep.csv": chunks()})
    assert (tmp_path / "keep.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.csv"]


def test_write_outputs_takes_lists_of_text_and_refuses_what_it_cannot_write(tmp_path):
    write_outputs(tmp_path, {"a.csv": ["x,y\n", "1,2\n"]})  # any iterable of text chunks
    assert (tmp_path / "a.csv").read_text() == "x,y\n1,2\n"
    with pytest.raises(TypeError, match="cannot write int"):
        write_outputs(tmp_path / "new", {"b.txt": 3})
    assert not (tmp_path / "new").exists()


def test_tables_written_side_by_side_fail_all_or_nothing(tmp_path, monkeypatch):
    """Two tables are formatted at once: when one fails, the other stops, and the directory is as
    it was (old files kept, no temporary left)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "items.csv").write_text("old\n")
    big = eio.TableFile({"p": np.random.default_rng(0).random(64 * eio.outputs.WRITE_ROWS)})
    failing = eio.TableFile({"q": np.arange(10)})
    seen = {}
    big_write = big.write

    def stopped(fh, converted=None, cancel=None):
        try:
            big_write(fh, converted, cancel)
        except eio.outputs._Cancelled:
            seen["stopped at byte"] = fh.tell()
            raise

    def full_disk(fh, converted=None, cancel=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(big, "write", stopped)
    monkeypatch.setattr(failing, "write", full_disk)
    with pytest.raises(InputError, match="No space left on device"):
        write_outputs(out, {"items.csv": big, "workers.csv": failing, "summary.json": "{}\n"})
    assert sorted(p.name for p in out.iterdir()) == ["items.csv"]
    assert (out / "items.csv").read_text() == "old\n"
    assert seen["stopped at byte"] < 64 * eio.outputs.WRITE_ROWS * 10  # stopped long before its end


def test_tables_written_side_by_side_match_one_at_a_time(tmp_path):
    rng = np.random.default_rng(3)
    ids = tuple(f"item{j}" for j in range(3000))
    tables = {"a.csv": {"item": ids, "p": rng.random(3000)}, "b.csv": {"item": ids, "n": np.arange(3000)}}
    write_outputs(tmp_path / "together", {name: eio.TableFile(t) for name, t in tables.items()})
    for name, table in tables.items():  # with a progress callback: written one at a time
        write_outputs(tmp_path / "alone", {name: eio.TableFile(table, progress=lambda n: None)})
        assert (tmp_path / "together" / name).read_bytes() == (tmp_path / "alone" / name).read_bytes()
