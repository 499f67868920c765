"""Data sources: sklearn sets (stratified, scaled on train only), CSV files and their errors."""

import re

import numpy as np
import pytest
from sklearn import datasets as skd

from data import load
from errors import UserError


def test_iris_split_is_stratified_seeded_and_scaled_on_train_only():
    ds = load("iris", test_fraction=0.2, seed=0)
    assert (len(ds.train), len(ds.test)) == (120, 30)
    assert ds.num_classes == 3 and ds.input_shape == (4,) and ds.kind == "tabular"
    np.testing.assert_array_equal(ds.test.y.sum(0), [10, 10, 10])  # stratified
    np.testing.assert_allclose(ds.train.x.mean(0), 0, atol=1e-5)  # scaler fit on train...
    np.testing.assert_allclose(ds.train.x.std(0), 1, atol=1e-4)
    assert np.abs(ds.test.x.mean(0)).max() > 1e-3  # ...and only applied to test
    np.testing.assert_array_equal(ds.train.y.sum(1), 1)  # one-hot
    again = load("iris", test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(ds.train.x, again.train.x)
    other = load("iris", test_fraction=0.2, seed=1)
    assert not np.array_equal(ds.train.x, other.train.x)


@pytest.mark.parametrize(
    "name, classes, shape, kind",
    [
        ("wine", 3, (13,), "tabular"),
        ("breast_cancer", 2, (30,), "tabular"),
        ("digits", 10, (8, 8, 1), "image"),
    ],
)
def test_sklearn_sets(name, classes, shape, kind):
    ds = load(name)
    assert ds.num_classes == classes and ds.input_shape == shape and ds.kind == kind
    if kind == "image":
        assert ds.train.x.min() >= 0.0 and ds.train.x.max() <= 1.0


def write_csv(path, text):
    path.write_text(text)
    return f"csv:{path}"


def test_csv_round_trip_matches_the_sklearn_iris(tmp_path):
    iris = skd.load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])
    rows = ["a,b,c,d,species"] + [
        ",".join(f"{v:.1f}" for v in x) + f",{names[y]}"
        for x, y in zip(iris.data, iris.target, strict=True)
    ]
    ds = load(write_csv(tmp_path / "iris.csv", "\n".join(rows) + "\n"), label_column="species")
    ref = load("iris")
    assert ds.class_names == ("setosa", "versicolor", "virginica")
    np.testing.assert_allclose(ds.train.x, ref.train.x, atol=1e-5)
    np.testing.assert_array_equal(ds.test.y, ref.test.y)


def test_csv_integer_labels(tmp_path):
    body = "x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20))
    ds = load(write_csv(tmp_path / "d.csv", body))
    assert ds.class_names == ("0", "1")


@pytest.mark.parametrize(
    "body, message",
    [
        ("x,y,label\n1,2,a\n3,,b\n", "line 3, column 'y': missing value"),
        ("x,y,label\n1,2,a\n3,hello,b\n", "line 3, column 'y': non-numeric feature 'hello'"),
        ("x,y,kind\n1,2,a\n3,4,b\n", "no label column 'label'"),
        ("x,label\n1,a\n2,a\n3,a\n", "holds only one class"),
        ("x,y,label\n1,2,a\n3,-1e40,b\n", "line 3, column 'y': '-1e40' is beyond float32's range"),
    ],
)
def test_bad_csv_names_the_row_and_column(tmp_path, body, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        load(write_csv(tmp_path / "bad.csv", body))


def test_bad_csv_lists_its_bad_cells_in_file_order_and_counts_them(tmp_path):
    rows = "".join(f"{i},{'x' if i % 2 else i},{'' if i % 3 == 0 else 'a'}\n" for i in range(20))
    with pytest.raises(UserError) as e:
        load(write_csv(tmp_path / "bad.csv", "x,y,label\n" + rows))
    bad = [(i + 2, "y") for i in range(20) if i % 2] + [(i + 2, "label") for i in range(0, 20, 3)]
    bad.sort(key=lambda b: b[0])
    message = str(e.value)
    assert f": {len(bad)} bad cells: " in message and f"and {len(bad) - 5} more;" in message
    listed = re.findall(r"line (\d+), column '(\w+)'", message)
    assert [(int(n), c) for n, c in listed] == bad[:5]


def test_missing_csv_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load(f"csv:{tmp_path}/none.csv")
