"""Datasets and the input pipeline: IDX files, Fashion-MNIST, tfds (mock data), image folders (real PNGs)."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_lightnets import data
from keras_lightnets.data.fashion_mnist import DEFAULT_DIR
from keras_lightnets.data.idx import read_idx


def _write_idx(path, array):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + payload)


def _digits_as_idx(directory, gz):
    """Writes real digits as a miniature Fashion-MNIST directory (same file names)."""
    (x_train, y_train), (x_test, y_test) = data.load_digits(image_size=28)
    suffix = ".gz" if gz else ""
    for stem, array in [
        ("train-images-idx3-ubyte", x_train[..., 0].astype(np.uint8)), ("train-labels-idx1-ubyte", y_train.astype(np.uint8)),
        ("t10k-images-idx3-ubyte", x_test[..., 0].astype(np.uint8)), ("t10k-labels-idx1-ubyte", y_test.astype(np.uint8)),
    ]:
        _write_idx(directory / (stem + suffix), array)
    return len(x_train), len(x_test)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_fashion_mnist_reader(tmp_path, gz):
    train_size, test_size = _digits_as_idx(tmp_path, gz)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(tmp_path)
    assert x_train.shape == (train_size, 28, 28, 1) and x_train.dtype == np.uint8
    assert x_test.shape == (test_size, 28, 28, 1) and y_train.dtype == np.int32
    assert set(np.unique(y_train)) == set(range(10))
    assert np.array_equal(read_idx(tmp_path / ("t10k-labels-idx1-ubyte" + (".gz" if gz else ""))), y_test)


def test_corrupt_idx_file_is_reported(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x02\x00\x00\x00\x05\x00\x00\x00\x05" + b"\x01" * 7)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(tmp_path / "bad")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "text")


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        data.load_dataset("fashion_mnist", data_dir=str(tmp_path))


@pytest.mark.skipif(not os.path.isdir(DEFAULT_DIR), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package():
    dataset = data.load_dataset("fashion_mnist")
    assert (dataset.train_size, dataset.test_size, dataset.num_classes, dataset.channels) == (60000, 10000, 10, 1)
    assert dataset.class_names[0] == "t-shirt/top" and dataset.class_names[9] == "ankle boot"
    labels = np.concatenate([y.numpy() for _, y in dataset.test.batch(10000)])
    assert np.array_equal(np.bincount(labels), [1000] * 10)


@pytest.mark.parametrize("name, splits", [("cifar10", "test"), ("tf_flowers", "train-only")])
def test_tfds_by_name_with_mock_data(name, splits):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=24):
        dataset = data.load_dataset(name, data_dir="/nonexistent-tfds-dir", image_size=40)
        batches = data.make_batches(dataset.train, 40, 8, dataset.num_classes, training=True)
        images, labels = next(iter(batches))
    assert dataset.channels == 3 and dataset.num_classes == (10 if name == "cifar10" else 5)
    if splits == "test":
        assert (dataset.train_size, dataset.test_size) == (24, 24)
    else:  # no test split: held out from train (mock_data serves num_examples for any slice)
        assert dataset.train_size > 0 and dataset.test_size > 0
    assert images.shape == (8, 40, 40, 3) and images.dtype == tf.float32
    assert labels.shape == (8, dataset.num_classes) and np.allclose(labels.numpy().sum(axis=1), 1.0)


def test_unprepared_or_unknown_tfds_dataset_says_what_to_do(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(data.DatasetNotFoundError, match="download_and_prepare") as error:
        data.load_dataset("tfds:cifar10", data_dir=str(tmp_path))
    assert "No download is attempted" in str(error.value)
    with pytest.raises(data.DatasetNotFoundError, match="no dataset named 'no_such_dataset'"):
        data.load_dataset("no_such_dataset", data_dir=str(tmp_path))


def _png_folder(root, classes=(0, 1, 2), per_class=6):
    """Real digits written as PNG files in <root>/<class>/."""
    (x, y), _ = data.load_digits(image_size=24, channels=3)
    for label in classes:
        (root / f"digit_{label}").mkdir(parents=True)
        for index, image in enumerate(x[y == label][:per_class]):
            png = tf.io.encode_png(tf.cast(image, tf.uint8)).numpy()
            (root / f"digit_{label}" / f"{index}.png").write_bytes(png)
    return root


def test_image_folder_with_hold_out_and_with_train_test_folders(tmp_path):
    single = _png_folder(tmp_path / "single")
    dataset = data.load_dataset(f"folder:{single}", image_size=32, test_fraction=0.5)
    assert dataset.class_names == ("digit_0", "digit_1", "digit_2")
    assert dataset.train_size + dataset.test_size == 18 and dataset.test_size == 9
    image, label = next(iter(dataset.train))
    assert image.shape == (32, 32, 3) and 0 <= int(label) < 3
    split = tmp_path / "split"
    _png_folder(split / "train")
    _png_folder(split / "test", classes=(0, 2), per_class=2)
    dataset = data.load_dataset(str(split), image_size=32, channels=1)
    assert (dataset.train_size, dataset.test_size, dataset.channels) == (18, 4, 1)
    assert next(iter(dataset.test))[0].shape == (32, 32, 1)
    assert sorted(int(y) for _, y in dataset.test) == [0, 0, 2, 2]  # labels follow the train folder's classes


def test_wrong_image_folder_layouts_are_explained(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="does not exist"):
        data.load_dataset(f"folder:{tmp_path / 'missing'}")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.png").write_bytes(b"x")
    with pytest.raises(data.DatasetNotFoundError, match=r"0 class folder\(s\).*Expected layout"):
        data.load_dataset(f"folder:{flat}")
    split = tmp_path / "split"
    _png_folder(split / "train", classes=(0, 1))
    _png_folder(split / "test", classes=(0, 7), per_class=1)
    with pytest.raises(data.DatasetNotFoundError, match="digit_7"):
        data.load_dataset(f"folder:{split}")


def test_an_empty_class_or_a_file_that_is_not_an_image_is_named_before_training(tmp_path):
    one = _png_folder(tmp_path / "one", classes=(0,))
    with pytest.raises(data.DatasetNotFoundError, match=r"1 class folder\(s\) with images \(\['digit_0'\]\)"):
        data.load_dataset(f"folder:{one}")
    empty = _png_folder(tmp_path / "empty", classes=(0, 1))
    (empty / "digit_9").mkdir()
    with pytest.raises(data.DatasetNotFoundError, match=r"Class folder .*digit_9' has no images"):
        data.load_dataset(f"folder:{empty}")
    text = _png_folder(tmp_path / "text", classes=(0, 1))
    (text / "digit_1" / "notes.txt").write_text("labels are folder names")
    (text / "digit_1" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # hidden files are skipped
    with pytest.raises(data.DatasetNotFoundError, match=r"digit_1/notes.txt is not an image: class folders may hold only"):
        data.load_dataset(f"folder:{text}")
    misnamed = _png_folder(tmp_path / "misnamed", classes=(0, 1))
    (misnamed / "digit_0" / "9.jpg").write_bytes(b"<html>not found</html>")
    with pytest.raises(data.DatasetNotFoundError, match=r"digit_0/9.jpg is not a JPEG, PNG, GIF or BMP image"):
        data.load_dataset(f"folder:{misnamed}")
    (misnamed / "digit_0" / "9.jpg").unlink()
    assert data.load_dataset(f"folder:{misnamed}", image_size=32).class_names == ("digit_0", "digit_1")


def test_batch_larger_than_the_data_and_bad_arguments():
    with pytest.raises(ValueError, match=r"Invalid `batch_size`.*at most the training set's size \(1438 images\)"):
        data.check_batch_size(2000, 1438)
    with pytest.raises(ValueError, match="Invalid `augment`"):
        data.make_augmenter("cutout", 3)
    with pytest.raises(ValueError, match="Invalid `translate`"):
        data.make_augmenter("flip_translate", 1, translate=0.6)
    with pytest.raises(ValueError, match="Invalid `random_erasing`"):
        data.make_augmenter("flip", 1, random_erasing=1.5)
    with pytest.raises(ValueError, match="RandAugment needs RGB"):
        data.make_augmenter("randaugment", 1)
    with pytest.raises(ValueError, match="Invalid `channels`"):
        data.load_dataset("digits", channels=2)


@pytest.mark.parametrize("policy, channels", [("translate", 1), ("flip", 1), ("flip_translate", 1), ("randaugment", 3)])
def test_augmentation_changes_images_but_not_their_shape_or_range(policy, channels):
    x = np.repeat(data.load_digits(image_size=32)[0][0][:8], channels, axis=-1)
    augmented = data.make_augmenter(policy, channels, seed=3)(x, training=True).numpy()
    assert augmented.shape == x.shape
    assert augmented.min() >= -1e-3 and augmented.max() <= 255.0 + 1e-3
    assert not np.allclose(augmented, x)


def test_translate_bounds_the_shift_of_flip_translate():
    size = 40
    dot = np.zeros((16, size, size, 1), "float32")
    dot[:, size // 2, size // 2, 0] = 255.0

    def largest_shift(translate):
        augmented = data.make_augmenter("flip_translate", 1, seed=5, translate=translate)(dot, training=True).numpy()
        rows, cols = np.unravel_index(augmented.reshape(len(dot), -1).argmax(axis=1), (size, size))
        return max(np.abs(rows - size // 2).max(), np.abs(cols - size // 2).max())

    assert largest_shift(0.05) <= 0.05 * size + 1  # the flip moves the dot by one column
    assert largest_shift(0.4) > 0.05 * size + 1


def test_random_erasing_erases_one_rectangle_in_the_given_share_of_images():
    gray = np.full((1000, 32, 32, 1), 100.0, "float32")
    assert data.make_augmenter("none", 1, random_erasing=0.0) is None
    erased = data.make_augmenter("none", 1, seed=2, random_erasing=0.3)(gray, training=True).numpy()
    changed = np.abs(erased - 100.0) > 1e-3
    per_image = changed.reshape(len(gray), -1).any(axis=1)
    assert 0.25 < per_image.mean() < 0.35
    for mask in changed[per_image][:50, :, :, 0]:
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        assert mask.sum() <= 0.34 * mask.size
        # everything changed lies in one rectangle (its bounding box)
        assert mask.sum() >= 0.95 * (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert erased.min() >= 0.0 and erased.max() <= 255.0
