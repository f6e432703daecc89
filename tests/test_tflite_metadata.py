"""Exported classifiers run in MediaPipe Tasks' ImageClassifier (the on-device client) because of their metadata.

MediaPipe runs in a child process that imports only MediaPipe and numpy
(keras_lightnets.export.mediapipe_client), as an app would run the file.
"""

import importlib.util
import json
import shutil

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets.export import litert
from keras_lightnets.export import metadata as tflite_metadata
from keras_lightnets.export.mediapipe_client import classify
from keras_lightnets.export.tflite import float_ops, to_tflite_variants

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                                reason="MediaPipe Tasks is not installed (pip install mediapipe==1.2.3)")
FASHION = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
KINDS = ("fp32", "fp16", "int8", "int8_uint8")


def _export_all(model, folder, calibration, labels):
    """fp32, fp16 and int8 (float interface) in one trace, int8 with uint8 pixels in and out; metadata on each."""
    paths = {kind: str(folder / f"{model.name}_{kind}.tflite") for kind in KINDS}
    to_tflite_variants(model, {None: paths["fp32"], "fp16": paths["fp16"], "int8": paths["int8"]}, representative_data=calibration)
    to_tflite_variants(model, {"int8": paths["int8_uint8"]}, representative_data=calibration, int8_io="uint8")
    bare = str(folder / f"{model.name}_fp32_without_metadata.tflite")
    shutil.copyfile(paths["fp32"], bare)
    height, width, channels = model.input_shape[1:]
    for kind, path in paths.items():
        tflite_metadata.add_classifier_metadata(path, labels, model.name, tflite_metadata.describe(
            model.name, len(labels), height, width, channels, kind, kind == "int8_uint8"), uint8_input=kind == "int8_uint8")
    return paths, bare


def test_the_minimum_parser_version_follows_mediapipes_rules():
    schema = pytest.importorskip("mediapipe.tasks.metadata.metadata_schema_py_generated")
    import flatbuffers

    def version(edit):
        metadata = schema.ModelMetadataT()
        subgraph = schema.SubGraphMetadataT()
        tensor = schema.TensorMetadataT()
        labels = schema.AssociatedFileT()
        labels.name, labels.type = "labels.txt", schema.AssociatedFileType.TENSOR_AXIS_LABELS
        tensor.associatedFiles = [labels]
        normalization = schema.ProcessUnitT()
        normalization.optionsType = schema.ProcessUnitOptions.NormalizationOptions
        tensor.processUnits = [normalization]
        subgraph.inputTensorMetadata, subgraph.outputTensorMetadata = [schema.TensorMetadataT()], [tensor]
        metadata.subgraphMetadata = [subgraph]
        edit(metadata, subgraph, labels)
        builder = flatbuffers.Builder(0)
        builder.Finish(metadata.Pack(builder), b"M001")
        return tflite_metadata.minimum_parser_version(bytes(builder.Output()))

    def unit(kind):
        item = schema.ProcessUnitT()
        item.optionsType = kind
        return item

    assert version(lambda m, s, f: None) == "1.0.0"  # an image classifier's: normalization, axis labels
    assert version(lambda m, s, f: setattr(f, "type", schema.AssociatedFileType.VOCABULARY)) == "1.0.1"
    assert version(lambda m, s, f: setattr(s, "inputProcessUnits", [])) == "1.1.0"
    bert = schema.ProcessUnitOptions.BertTokenizerOptions
    assert version(lambda m, s, f: setattr(s, "outputProcessUnits", [unit(bert)])) == "1.1.0"
    assert version(lambda m, s, f: setattr(s, "inputProcessUnits", [unit(schema.ProcessUnitOptions.RegexTokenizerOptions)])) == "1.2.1"
    assert version(lambda m, s, f: setattr(s, "outputTensorGroups", [])) == "1.2.0"
    assert version(lambda m, s, f: setattr(f, "version", "2")) == "1.4.1"
    assert version(lambda m, s, f: setattr(s, "customMetadata", [])) == "1.5.0"


def test_the_stand_in_is_needed_and_the_writer_still_imports():
    """Fails loudly when MediaPipe changes what the metadata module relies on.

    mediapipe 1.2.3 ships the metadata writers but not the compiled module they call for the
    minimum parser version; the stand-in computes it. If a release brings the module back, the
    stand-in must agree with it (compared here), and if the writer moves, the import fails here.
    """
    pytest.importorskip("mediapipe")
    try:
        real = importlib.import_module("mediapipe.tasks.cc.metadata.python._pywrap_metadata_version")
    except ImportError:
        real = None
    writer = tflite_metadata._writers()
    assert hasattr(writer, "MetadataWriter") and hasattr(writer, "Labels") and hasattr(writer.metadata_fb, "ColorSpaceType")
    if real is not None and real.GetMinimumMetadataParserVersion is not tflite_metadata.minimum_parser_version:
        pytest.fail("mediapipe ships _pywrap_metadata_version again: compare it with minimum_parser_version and "
                    "drop the stand-in")


@pytest.fixture(scope="module")
def fashion_files(tmp_path_factory):
    """EfficientNet-Lite0 fine-tuned (the head phase, from its ImageNet weights) on 2,000 Fashion-MNIST images at
    64 px, exported as every classifier file with metadata; plus 200 held-out test images."""
    from keras_lightnets import data as data_lib
    from keras_lightnets.train.config import TrainConfig
    from keras_lightnets.train.finetune import transfer_model

    data = data_lib.load_dataset("fashion_mnist", None, 64, 3, seed=0)
    train = next(iter(data_lib.make_batches(data.train, 64, 2000, data.num_classes, training=False, cache=False)))
    test = next(iter(data_lib.make_batches(data.test, 64, 200, data.num_classes, training=False, cache=False)))
    config = TrainConfig(model="efficientnet_lite0", image_size=64, channels=3, dataset="fashion_mnist", dropout=0.2)
    keras.utils.set_random_seed(0)
    model = transfer_model(config, 10, 3, "imagenet")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.asarray(train[0]), np.asarray(train[1]), batch_size=50, epochs=2, verbose=0)
    folder = tmp_path_factory.mktemp("fashion_tflite")
    paths, bare = _export_all(model, folder, np.rint(np.asarray(train[0])[:200]), list(data.class_names))
    # Camera frames are integers: the test images are rounded, so MediaPipe (uint8 in) and Keras see the same pixels.
    return model, np.rint(np.asarray(test[0])), np.asarray(test[1]).argmax(1), paths, bare, list(data.class_names)


def _agreements(model, images, paths, names):
    """{kind: (MediaPipe top-1 agreement with Keras, with LiteRT running the same file)}; checks the category names."""
    expected = model.predict(images, verbose=0).argmax(1)
    found = {}
    for kind in KINDS:
        result = classify(paths[kind], images, max_results=3)
        assert "error" not in result, f"{kind}: {result['error']}"
        top = np.array([categories[0][0] for categories in result["categories"]])
        assert all(categories[0][1] == names[categories[0][0]] for categories in result["categories"])
        litert_top = litert.load(paths[kind])(images)["probabilities"].argmax(1)
        found[kind] = (float(np.mean(top == expected)), float(np.mean(top == litert_top)))
        print(f"{kind}: MediaPipe top-1 agreement with Keras {found[kind][0]:.3f}, with LiteRT {found[kind][1]:.3f}")
    return expected, found


@pytest.mark.xdist_group("fashion_tflite")
def test_mediapipe_classifies_fashion_mnist_like_keras_in_every_file(fashion_files):
    model, images, labels, paths, _, names = fashion_files
    assert tuple(names) == FASHION
    expected, found = _agreements(model, images, paths, names)
    print(f"Keras test accuracy on these 200 images: {np.mean(expected == labels):.3f}")
    assert np.mean(expected == labels) > 0.6 and len(set(expected)) >= 8  # a real classifier, varied answers
    for kind, (with_keras, with_litert) in found.items():
        assert with_litert >= 0.99, kind  # MediaPipe runs the file as LiteRT does: the metadata's normalization is right
        # A head trained for two epochs has small margins; int8 against a fine-tuned model: the slow test below.
        assert with_keras >= (0.99 if kind in ("fp32", "fp16") else 0.9), kind


@pytest.mark.slow
@pytest.mark.very_slow  # a training run of several minutes: by hand, not in CI (see pyproject.toml)
def test_mediapipe_agrees_with_a_fine_tuned_fashion_mnist_model(tmp_path):

    from keras_lightnets import data as data_lib
    from keras_lightnets.train.finetune import FineTuneOptions, fine_tune
    from keras_lightnets.train.presets import preset

    config = preset("fashion_mnist_finetune", epochs=1, image_size=64, output_dir=str(tmp_path / "ft"))
    fine_tune(config, FineTuneOptions())
    model = keras.saving.load_model(tmp_path / "ft" / "model.keras")
    data = data_lib.load_dataset("fashion_mnist", None, 64, 3, seed=0)
    calibration = next(iter(data_lib.make_batches(data.train, 64, 200, 10, training=False, cache=False)))[0]
    images, labels = next(iter(data_lib.make_batches(data.test, 64, 200, 10, training=False, cache=False)))
    names = (tmp_path / "ft" / "labels.txt").read_text().split("\n")[:10]
    paths, _ = _export_all(model, tmp_path, np.rint(np.asarray(calibration)), names)
    _, found = _agreements(model, np.rint(np.asarray(images)), paths, names)
    for kind, (with_keras, with_litert) in found.items():
        assert with_litert >= 0.99 and with_keras >= (0.99 if kind in ("fp32", "fp16") else 0.97), kind


@pytest.mark.xdist_group("fashion_tflite")
def test_without_metadata_mediapipe_refuses_the_same_file(fashion_files):
    _, images, _, paths, bare, _ = fashion_files
    refused = classify(bare, images[:2])
    assert "NormalizationOptions" in refused.get("error", ""), refused
    assert "error" not in classify(paths["fp32"], images[:2])


@pytest.mark.xdist_group("fashion_tflite")
def test_the_metadata_holds_name_normalization_and_labels(fashion_files):
    model, _, _, paths, _, names = fashion_files
    for kind in ("fp32", "int8_uint8"):
        shown = json.loads(tflite_metadata.metadata_json(paths[kind]))
        print(f"{kind} metadata:", json.dumps(shown, indent=1)[:3000])
        assert shown["name"] == model.name and "10 classes" in shown["description"] and shown["min_parser_version"] == "1.0.0"
        image, = shown["subgraph_metadata"][0]["input_tensor_metadata"]
        probability, = shown["subgraph_metadata"][0]["output_tensor_metadata"]
        assert image["content"]["content_properties"]["color_space"] == "RGB"
        units = image.get("process_units", [])
        if kind == "fp32":
            assert units[0]["options"] == {"mean": [0.0], "std": [1.0]}  # the model takes [0, 255] itself
        else:
            assert not units  # uint8 pixels go in as they are
        assert probability["associated_files"][0]["name"] == "labels.txt"
    import zipfile

    with zipfile.ZipFile(paths["int8"]) as packed:  # the labels travel inside the file
        assert packed.read("labels.txt").decode().split("\n")[:10] == names


@pytest.mark.xdist_group("fashion_tflite")
def test_int8_files_stay_integer_and_fully_on_the_gpu_accelerator(fashion_files):
    _, images, _, paths, _, _ = fashion_files
    for kind in ("int8", "int8_uint8"):
        assert float_ops(paths[kind]) == []
        runtime = litert.load(paths[kind])
        assert runtime.quantization if kind == "int8_uint8" else not runtime.quantization
        if litert.vulkan_driver_present():
            check = litert.gpu_check(paths[kind], images=images[:2], runs=1)
            assert check.ran and check.fully_accelerated, (kind, check.error)


@pytest.mark.xdist_group("lite0")
def test_mediapipe_names_the_photos_as_keras_does_with_imagenet_weights(tmp_path):
    from tests.test_efficientnet_lite import photo

    lite0 = kl.EfficientNetLite(0, weights="imagenet")
    images = np.stack([np.rint(photo(name, 224)) for name in ("chelsea", "coffee")])
    calibration = np.stack([np.rint(photo(name, 256)[i:i + 224, j:j + 224]) for name in ("chelsea", "coffee", "astronaut", "rocket")
                            for i, j in ((0, 0), (32, 32), (16, 0))])
    paths, _ = _export_all(lite0, tmp_path, calibration, list(kl.data.imagenet_labels()))
    keras_top = kl.data.imagenet_top_classes(lite0.predict(images, verbose=0), top=5)
    for kind in KINDS:
        result = classify(paths[kind], images, max_results=5)
        assert "error" not in result, f"{kind}: {result['error']}"
        print(f"{kind}: MediaPipe top-5", [[name for _, name, _ in found] for found in result["categories"]])
        for found, expected in zip(result["categories"], keras_top):
            assert found[0][1] == expected[0][1], kind  # the same top-1 name as Keras
            if kind == "fp32":
                assert {name for _, name, _ in found} == {name for _, name, _ in expected}
    assert keras_top[0][0][1] == "Egyptian cat" and keras_top[1][0][1] == "espresso"
