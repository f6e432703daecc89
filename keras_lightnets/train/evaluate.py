"""Evaluate a saved model on a dataset: accuracy, loss and per-class accuracy."""

import numpy as np

from keras_lightnets import validation
from keras_lightnets.model_files import load_keras_model


def load_classifier_and_data(path, dataset, data_dir=None):
    """Loads a ``.keras`` classifier and its dataset at the model's resolution and channel count.

    Args:
        path: ``.keras`` file (e.g. a run's ``model.keras``).
        dataset: Dataset name (see :func:`keras_lightnets.data.load_dataset`).
        data_dir: Dataset directory or None.

    Returns:
        (model, ``ImageData``); raises ``ValueError`` naming ``model`` or ``dataset`` when
        the file is missing, the input is not a fixed square, or the class counts differ.
    """
    import os


    from keras_lightnets import data as data_lib

    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).endswith(".keras") or not os.path.isfile(path):
        validation.fail("model", path, "the path of an existing .keras file")
    model = load_keras_model(path)
    _, height, width, channels = model.input_shape
    if height is None or height != width:
        validation.fail("model", path, "a model with a fixed square input size")
    data = data_lib.load_dataset(dataset, data_dir, height, channels)
    if model.output_shape[-1] != data.num_classes:
        validation.fail("dataset", dataset, f"a dataset with the model's {model.output_shape[-1]} classes (it has {data.num_classes})")
    return model, data


def evaluate_saved_model(path, dataset, data_dir=None, batch_size=256, tta="none"):
    """Loads a ``.keras`` classifier and measures it on a dataset's test split.

    The dataset is loaded at the model's input resolution and channel count.

    Args:
        path: ``.keras`` file (e.g. a run's ``model.keras``).
        dataset: Dataset name (see :func:`keras_lightnets.data.load_dataset`).
        data_dir: Dataset directory or None.
        batch_size: Evaluation batch size (int >= 1).
        tta: Test-time augmentation: "none", "flip" (the image and its mirror) or
            "flip_shift" (both also moved 1 pixel up, down, left and right: 10 views); see
            :mod:`keras_lightnets.train.test_time_augmentation`. Mirrored views only suit
            data where a mirror image keeps its class.

    Returns:
        dict with ``accuracy``, ``top5_accuracy`` (None under 5 classes), ``images``,
        ``per_class_accuracy`` {class name: accuracy}, ``tta``.
    """
    from keras_lightnets import data as data_lib
    from keras_lightnets.inference import serving_model
    from keras_lightnets.train.test_time_augmentation import POLICIES, predict_batches

    validation.check_number("batch_size", batch_size, minimum=1, integer=True)
    validation.check_choice("tta", tta, POLICIES)
    model, data = load_classifier_and_data(path, dataset, data_dir)
    height = model.input_shape[1]
    batches = data_lib.make_batches(data.test, height, batch_size, data.num_classes, training=False)
    _, probabilities, one_hot = predict_batches(serving_model(model), batches, tta)  # BN folded: same outputs
    labels = np.argmax(one_hot, axis=-1)
    predicted = np.argmax(probabilities, axis=-1)
    top5 = None
    if data.num_classes >= 5:
        top5 = float(np.mean([label in row for label, row in zip(labels, np.argsort(-probabilities, axis=-1)[:, :5])]))
    per_class = {name: float(np.mean(predicted[labels == index] == index))
                 for index, name in enumerate(data.class_names) if np.any(labels == index)}
    return {
        "accuracy": float(np.mean(predicted == labels)), "top5_accuracy": top5, "images": int(len(labels)),
        "per_class_accuracy": per_class, "tta": tta,
    }
