"""tensorflow-datasets by name, offline: data must already be prepared in ``data_dir``."""

from keras_lightnets.data.errors import DatasetNotFoundError
from keras_lightnets.errors import MissingExtraError

TEST_SPLITS = ("test", "validation")


def _prepare_hint(name, data_dir):
    where = data_dir or "~/tensorflow_datasets"
    return (
        f"Prepare it once on a machine with internet access: python -c \"import tensorflow_datasets as tfds; "
        f"tfds.builder('{name}', data_dir='{where}').download_and_prepare()\" and copy {where} here "
        f"(datasets with manual downloads, e.g. imagenet2012, need their archives in {where}/downloads/manual first), "
        "then pass --data-dir. No download is attempted here."
    )


def _size(info, split, dataset):
    """Number of examples in a split: from the dataset's metadata, else by counting."""
    try:
        return info.splits[split].num_examples
    except KeyError:
        count = int(dataset.cardinality())
        return count if count >= 0 else int(dataset.reduce(0, lambda total, _: total + 1))


def load_tfds(name, data_dir=None, test_fraction=0.2):
    """Loads a prepared tensorflow-datasets dataset as unbatched (image, label) datasets.

    Args:
        name: tfds name, e.g. ``"tf_flowers"``, ``"cifar10"``, ``"imagenette"``.
        data_dir: Where tfds keeps prepared data (None: tfds' default).
        test_fraction: Share of ``train`` held out when the dataset has no test/validation split (0 < f < 1).

    Returns:
        (train, test, class names, train size, test size, channels).

    Raises:
        ImportError: if tensorflow-datasets is not installed (names the extra).
        DatasetNotFoundError: if the dataset is unknown or not prepared (says how to prepare it).
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise MissingExtraError('tfds datasets need tensorflow-datasets: pip install "keras_lightnets[data]"') from None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise DatasetNotFoundError(f"tfds has no dataset named {name!r}: {str(error).splitlines()[0]}") from None
    splits = builder.info.splits
    test_split = next((s for s in TEST_SPLITS if s in splits), None)
    if test_split is None:
        percent = int(round(100 * (1 - test_fraction)))
        split_names = [f"train[:{percent}%]", f"train[{percent}%:]"]
    else:
        split_names = ["train", test_split]
    try:
        (train, test), info = tfds.load(
            name, split=split_names, data_dir=data_dir, download=False, try_gcs=False,
            as_supervised=True, shuffle_files=True, with_info=True,
        )
    except AssertionError:
        raise DatasetNotFoundError(
            f"tfds dataset {name!r} is not prepared in {builder.data_dir!r}. {_prepare_hint(name, data_dir)}"
        ) from None
    label = info.features["label"]
    image = info.features["image"]
    sizes = [_size(info, split, dataset) for split, dataset in zip(split_names, (train, test))]
    return train, test, tuple(label.names), sizes[0], sizes[1], image.shape[-1]
