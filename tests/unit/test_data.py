"""Data loading: .npz, image folders, module:callable; every bad input is a DataError that says why."""

from __future__ import annotations

import sys
import textwrap
import uuid

import numpy as np
import pytest

from edgekit.data import Dataset, ImagePreprocessing, load_data, random_data
from edgekit.errors import DataError, DataNotFoundError, ExitCode


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """A few real digits as uint8 8x8 images in [0, 255], with their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images[:30] * (255.0 / 16.0)).astype(np.uint8)
    return images, data.target[:30].astype(np.int64)


@pytest.fixture
def make_module(tmp_path, monkeypatch):
    """Write a throw-away importable module; returns its (unique) name."""
    root = tmp_path / "modules"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    names = []

    def make(source: str) -> str:
        name = f"edgekit_test_data_{uuid.uuid4().hex[:10]}"
        (root / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return name

    yield make
    for name in names:
        sys.modules.pop(name, None)


def data_error(spec, exit_code: ExitCode = ExitCode.BAD_DATA, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        load_data(spec, **kwargs)
    assert info.value.exit_code is exit_code
    assert info.value.hint, "every DataError carries a hint"
    return info.value


# --- .npz ------------------------------------------------------------------------------------

def test_npz_with_labels(tmp_path, eval_arrays):
    x, y = eval_arrays
    path = tmp_path / "d.npz"
    np.savez(path, x=x.astype(np.float64), y=y.astype(np.int32))
    data = load_data(path)
    assert data.x.dtype == np.float32 and data.x.shape == x.shape
    np.testing.assert_allclose(data.x, x)
    assert data.y.dtype == np.int64
    np.testing.assert_array_equal(data.y, y)
    assert len(data) == x.shape[0]
    assert data.source == str(path) and len(data.sha256) == 64
    assert not data.random
    assert data.describe() == {"source": str(path), "samples": x.shape[0], "shape": [1, 8, 8], "labels": True,
                               "sha256": data.sha256, "random": False}


def test_npz_without_labels(tmp_path, eval_arrays):
    path = tmp_path / "d.npz"
    np.savez(path, x=eval_arrays[0][:5])
    data = load_data(path)
    assert data.y is None and data.x.shape == (5, 1, 8, 8)
    assert data.describe()["labels"] is False


def test_npz_column_labels_are_flattened(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2), np.float32), y=np.array([[0], [1], [2]]))
    np.testing.assert_array_equal(load_data(path).y, [0, 1, 2])


def test_npz_hash_changes_with_content(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, x=np.zeros((2, 2), np.float32))
    np.savez(b, x=np.ones((2, 2), np.float32))
    assert load_data(a).sha256 != load_data(b).sha256


def test_npz_with_no_arrays_says_how_to_save_it(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, y=np.zeros(3, np.int64))
    err = data_error(path)
    assert "no array named 'x'" in err.message and "np.savez(path, x=inputs" in err.hint


def test_npz_without_x_holds_named_inputs_of_a_multi_input_model(tmp_path):
    path = tmp_path / "tokens.npz"
    ids = np.arange(12, dtype=np.int32).reshape(3, 4)
    np.savez(path, input_ids=ids, attention_mask=np.ones((3, 4), np.int64), y=np.array([0, 1, 1]))
    data = load_data(path)
    assert data.multi_input and len(data) == 3 and sorted(data.x) == ["attention_mask", "input_ids"]
    assert data.x["input_ids"].dtype == np.int64 and data.sample_shape is None  # integer ids stay integers
    assert data.describe()["shape"] == {"input_ids": [4], "attention_mask": [4]}
    sub = data.subset(2, seed=0)
    row = int(np.flatnonzero((ids == sub.x["input_ids"][0]).all(1))[0])
    assert sub.y[0] == data.y[row]  # every array and the labels subset together
    np.testing.assert_array_equal(data.head(2)["input_ids"], ids[:2])


@pytest.mark.parametrize("arrays, problem", [
    ({"x": np.zeros((3, 2)), "input_ids": np.zeros((3, 2))}, "holds 'x' and also input_ids"),
    ({"input_ids": np.zeros((3, 2)), "attention_mask": np.zeros((2, 2))}, "different sample counts"),
    ({"input_ids": np.array(["a", "b"])}, "numeric"),
])
def test_named_inputs_errors(tmp_path, arrays, problem):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    assert problem in data_error(path).message


def test_dict_of_arrays_from_python_is_multi_input():
    data = load_data({"input_ids": np.zeros((2, 5), np.int64), "attention_mask": np.ones((2, 5), np.int64)})
    assert data.multi_input and len(data) == 2 and data.x["attention_mask"].dtype == np.int64


def test_npz_label_count_mismatch(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2)), y=np.array([0, 1]))
    assert "3 inputs but 2 labels" in data_error(path).message


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0, 2.0]), np.array([True, False, True])])
def test_npz_non_integer_labels(tmp_path, labels):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2)), y=labels)
    err = data_error(path)
    assert "integer class indices" in err.message and str(labels.dtype) in err.message


def test_npz_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([np.zeros(3), np.zeros(2)], dtype=object))
    err = data_error(path)
    assert "Cannot read data file" in err.message
    assert "no pickled objects" in err.hint


@pytest.mark.parametrize("x, problem", [
    (np.zeros(3, np.float32), "need at least one sample"),
    (np.zeros((0, 4), np.float32), "need at least one sample"),
    (np.array([["a"], ["b"]]), "not numeric"),
])
def test_npz_bad_inputs(tmp_path, x, problem):
    path = tmp_path / "d.npz"
    np.savez(path, x=x)
    assert problem in data_error(path).message


def test_npz_that_is_not_a_zip(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"not a numpy archive")
    assert "is not a .npz archive" in data_error(path).message


@pytest.mark.parametrize("spec", ["no/such/dir/data.npz", "/no/such/data.npz", "./missing.npz"])
def test_nonexistent_path(spec):
    err = data_error(spec, ExitCode.NOT_FOUND)
    assert isinstance(err, DataNotFoundError)
    assert "does not exist" in err.message and spec.lstrip("./") in err.message


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2\n3,4\n")
    err = data_error(path, what="calibration data")
    assert str(path) in err.message and "calibration data" in err.message
    assert "np.savez" in err.hint


# --- in-memory arrays -----------------------------------------------------------------------

def test_array_and_tuple_and_dataset_inputs():
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    data = load_data(x)
    assert data.x.dtype == np.float32 and data.y is None
    pair = load_data((x, np.array([2, 1, 0])))
    np.testing.assert_array_equal(pair.y, [2, 1, 0])
    assert load_data(pair) is pair


def test_torch_tensors_are_accepted():
    import torch

    data = load_data((torch.ones(2, 3), torch.tensor([1, 0])))
    assert data.x.dtype == np.float32 and data.x.shape == (2, 3)
    np.testing.assert_array_equal(data.y, [1, 0])


# --- image folders ----------------------------------------------------------------------------

@pytest.fixture
def image_folder(tmp_path, digits):
    """ROOT/<class>/<n>.png with real digits; class folders named so that sorted != numeric order."""
    from PIL import Image

    images, labels = digits
    names = {0: "zero", 1: "one", 2: "two"}  # sorted: one, two, zero
    root = tmp_path / "images"
    written = []
    for i, (img, label) in enumerate(zip(images, labels)):
        if label not in names:
            continue
        folder = root / names[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, mode="L").save(folder / f"{i:03d}.png")
        written.append((names[int(label)], i, img))
    (root / "zero" / "notes.txt").write_text("not an image, ignored")
    # the loader reads class folders in sorted order and files sorted within each
    written.sort(key=lambda item: (item[0], item[1]))
    return root, written


def test_image_folder_grayscale_values_and_labels(image_folder):
    root, written = image_folder
    prep = ImagePreprocessing(size=(8, 8), mean=(0.0,), std=(1.0,), grayscale=True)
    data = load_data(root, image_prep=prep)
    assert data.x.shape == (len(written), 1, 8, 8) and data.x.dtype == np.float32
    expected = np.stack([img.astype(np.float32)[None] / 255.0 for _, _, img in written])
    np.testing.assert_allclose(data.x, expected, atol=1e-6)
    class_index = {"one": 0, "two": 1, "zero": 2}
    np.testing.assert_array_equal(data.y, [class_index[name] for name, _, _ in written])
    assert "classes (sorted folder names): one, two, zero" in data.notes
    assert data.source == str(root) and len(data.sha256) == 64


def test_image_folder_normalisation_rgb_and_resize(image_folder):
    root, written = image_folder
    prep = ImagePreprocessing(size=(8, 8), mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    data = load_data(root, image_prep=prep)
    assert data.x.shape == (len(written), 3, 8, 8)
    gray = written[0][2].astype(np.float32) / 255.0  # an L image converted to RGB: equal channels
    np.testing.assert_allclose(data.x[0, 0], (gray - 0.5) / 0.5, atol=1e-5)
    np.testing.assert_allclose(data.x[0, 1], (gray - 0.25) / 0.25, atol=1e-5)
    np.testing.assert_allclose(data.x[0, 2], gray / 2.0, atol=1e-5)
    resized = load_data(root, image_prep=ImagePreprocessing(size=(16, 12), grayscale=True))
    assert resized.x.shape == (len(written), 1, 16, 12)  # size is (height, width)


def test_image_folder_default_imagenet_preprocessing(image_folder):
    root, written = image_folder
    data = load_data(root)
    assert data.x.shape == (len(written), 3, 224, 224)
    # a black pixel maps to -mean/std per channel
    black = np.array([-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225], np.float32)
    assert np.all(data.x.min(axis=(0, 2, 3)) >= black - 1e-5)


def test_image_folder_without_class_folders(tmp_path):
    (tmp_path / "loose.png").write_bytes(b"")
    err = data_error(tmp_path)
    assert "no class sub-folders" in err.message and "<class_name>" in err.hint


def test_image_folder_with_empty_class_folders(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    (tmp_path / "dogs" / "readme.txt").write_text("x")
    assert "contains no images" in data_error(tmp_path).message


def test_broken_image_names_the_file(image_folder):
    root, _ = image_folder
    bad = root / "one" / "999.png"
    bad.write_bytes(b"\x89PNG truncated")
    err = data_error(root)
    assert str(bad) in err.message


# --- module:callable -------------------------------------------------------------------------

def test_callable_yielding_arrays(make_module):
    name = make_module("""
        import numpy as np
        def batches():
            for i in range(3):
                yield np.full((4, 1, 8, 8), i, dtype=np.float64)
    """)
    data = load_data(f"{name}:batches")
    assert data.x.shape == (12, 1, 8, 8) and data.x.dtype == np.float32 and data.y is None
    np.testing.assert_array_equal(data.x[:, 0, 0, 0], np.repeat([0, 1, 2], 4))
    assert data.source == f"{name}:batches" and data.sha256 is None


def test_callable_yielding_tuples_and_dicts(make_module):
    name = make_module("""
        import numpy as np
        def pairs():
            return [(np.zeros((2, 3)), np.array([1, 2])), (np.ones((1, 3)), np.array([[0]]))]
        def dicts():
            return iter([{"x": np.zeros((2, 3)), "y": [4, 5]}, {"x": np.ones((2, 3)), "y": [6, 7]}])
        def dicts_no_y():
            yield {"x": np.zeros((2, 3))}
    """)
    pairs = load_data(f"{name}:pairs")
    assert pairs.x.shape == (3, 3)
    np.testing.assert_array_equal(pairs.y, [1, 2, 0])
    dicts = load_data(f"{name}:dicts")
    np.testing.assert_array_equal(dicts.y, [4, 5, 6, 7])
    assert load_data(f"{name}:dicts_no_y").y is None


def test_callable_yielding_torch_tensors(make_module):
    name = make_module("""
        import torch
        def batches():
            yield torch.ones(2, 1, 8, 8, requires_grad=True), torch.tensor([3, 4])
    """)
    data = load_data(f"{name}:batches")
    assert data.x.shape == (2, 1, 8, 8)
    np.testing.assert_array_equal(data.y, [3, 4])


def test_callable_stops_at_limit(make_module):
    name = make_module("""
        import itertools
        import numpy as np
        def endless():
            for i in itertools.count():
                yield np.full((4, 2), i, dtype=np.float32)
    """)
    data = load_data(f"{name}:endless", limit=10)
    assert len(data) == 12  # three whole batches: stops once the limit is reached


@pytest.mark.parametrize("body, problem", [
    ("yield (np.zeros((2, 3)), np.array([1, 2]))\n    yield np.zeros((2, 3))", "labels for some batches only"),
    ("return []", "yielded no batches"),
    ("yield {'y': np.zeros(2)}", "dict without 'x'"),
    ("yield (np.zeros((2, 3)), np.zeros(2), np.zeros(2))", "3-tuple"),
    ("yield np.zeros((2, 3))\n    yield np.zeros((2, 4))", "different shapes"),
    ("yield np.zeros((2, 3))\n    raise RuntimeError('disk on fire')", "disk on fire"),
    ("raise ValueError('no data today')", "no data today"),
])
def test_callable_errors(make_module, body, problem):
    name = make_module(f"import numpy as np\ndef data():\n    {body}\n")
    err = data_error(f"{name}:data")
    assert problem in err.message and f"{name}:data" in err.message


def test_callable_missing_module_or_attribute(make_module):
    assert "edgekit_no_such_module_xyz" in data_error("edgekit_no_such_module_xyz:data").message
    name = make_module("def data():\n    return []\n")
    err = data_error(f"{name}:nope")
    assert f"{name}:nope" in err.message and "module:callable" in err.hint


# BUG: a callable that returns one (N, C, H, W) array -- an iterable, but of samples, not
# batches -- is iterated sample by sample and concatenated along axis 0, so the channel axis is
# silently eaten: digits (N, 1, 8, 8) come back as (N, 8, 8). It should be taken as one batch or
# refused with a DataError, never reshaped.

def test_callable_returning_a_single_array_is_not_mangled(make_module):
    name = make_module("""
        import numpy as np
        def data():
            return np.zeros((5, 1, 8, 8), dtype=np.float32)
    """)
    try:
        data = load_data(f"{name}:data")
    except DataError:
        return
    assert data.x.shape == (5, 1, 8, 8)


# --- subset / random ---------------------------------------------------------------------------

def test_subset_is_deterministic_and_without_replacement():
    x = np.arange(100, dtype=np.float32).reshape(100, 1)
    data = Dataset(x, np.arange(100) % 7, "src", "abc")
    a, b = data.subset(30, seed=1), data.subset(30, seed=1)
    np.testing.assert_array_equal(a.x, b.x)
    values = a.x[:, 0].astype(int)
    assert len(values) == 30 and len(set(values)) == 30
    assert list(values) == sorted(values)  # original order kept
    np.testing.assert_array_equal(a.y, values % 7)  # labels stay aligned with inputs
    assert (a.source, a.sha256) == ("src", "abc")
    assert not np.array_equal(data.subset(30, seed=2).x, a.x)


def test_subset_larger_than_data_returns_everything():
    data = Dataset(np.zeros((5, 2), np.float32))
    assert data.subset(5, seed=0) is data
    assert data.subset(50, seed=0) is data


def test_random_data_is_flagged():
    data = random_data((1, 3, 4, 4), 6, seed=0)
    assert data.x.shape == (6, 3, 4, 4) and data.x.dtype == np.float32
    assert data.random and data.y is None
    assert data.describe()["random"] is True
    assert any("random" in note for note in data.notes)
    np.testing.assert_array_equal(random_data((1, 3, 4, 4), 6, seed=0).x, data.x)
    assert not np.array_equal(random_data((1, 3, 4, 4), 6, seed=1).x, data.x)
    assert random_data((1, 3, 4, 4), 6, seed=0).subset(3, seed=0).random



def test_unset_image_options_come_from_the_models_preprocessing_then_imagenet() -> None:
    """What the user sets wins; what they leave unset comes from the model's own preprocessing (a Hugging Face
    folder's preprocessor_config.json), and only then from ImageNet's; the source says which."""
    model = ImagePreprocessing(size=(32, 32), mean=(0.5, 0.5, 0.5), source="m/preprocessor_config.json")
    filled = ImagePreprocessing(std=(2.0,)).filled(model)
    assert filled.size == (32, 32) and filled.mean == (0.5, 0.5, 0.5) and filled.std == (2.0,)
    assert filled.source == "size/mean from m/preprocessor_config.json"
    alone = ImagePreprocessing().filled(model)
    assert alone.std == (0.229, 0.224, 0.225) and alone.source == "size/mean from m/preprocessor_config.json, std ImageNet's"
    plain = ImagePreprocessing().filled()
    assert (plain.size, plain.mean, plain.std, plain.source) == ((224, 224), (0.485, 0.456, 0.406),
                                                                 (0.229, 0.224, 0.225), "size/mean/std ImageNet's")


@pytest.mark.parametrize("config, size, mean, std", [
    ({"size": {"height": 32, "width": 48}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
     (32, 48), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ({"size": {"shortest_edge": 40}, "do_center_crop": True, "crop_size": {"height": 36, "width": 36},
      "image_mean": [0.1, 0.2, 0.3], "image_std": [1, 1, 1]}, (36, 36), (0.1, 0.2, 0.3), (1.0, 1.0, 1.0)),
    ({"size": 20, "do_normalize": False}, (20, 20), (0.0,), (1.0,)),
    ({"size": {"shortest_edge": 30}}, (30, 30), None, None),
])
def test_a_hugging_face_preprocessor_config_gives_size_mean_and_std(tmp_path, config, size, mean, std) -> None:
    import json

    from edgekit.hf import preprocessing

    assert preprocessing(tmp_path) is None  # no preprocessor_config.json
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
    prep = preprocessing(tmp_path)
    assert (prep.size, prep.mean, prep.std) == (size, mean, std)
    assert prep.source == str(tmp_path / "preprocessor_config.json")
