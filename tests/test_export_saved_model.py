"""SavedModel export for TF Serving: layout, atomicity, signatures, warm-up, fresh-process load."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_lightnets as kl
from helpers import assert_depends_on_input, images, randomize, run, small_models
from keras_lightnets.export import to_saved_model
from keras_lightnets.export.verify import load_in_fresh_process

FAMILIES = small_models()
LABELS = [f"class_{i}" for i in range(10)]


def _tiny_classifier():
    """A small classifier: fast to export, for the layout and argument tests."""
    inputs = keras.Input((32, 32, 3))
    x = kl.SeparableConv(8, strides=2)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(x), name="tiny")


def _decoded(blobs, height, width, method="bilinear"):
    """What the bytes signature must feed the model: decode, then bilinear resize."""
    return np.stack([
        tf.image.resize(tf.cast(tf.io.decode_image(b, channels=3, expand_animations=False), tf.float32),
                        (height, width), method=method).numpy()
        for b in blobs
    ])


def _photos(height, width):
    """Two different pictures, a real PNG and a real JPEG (libpng/libjpeg), of another size than the model input."""
    rows, cols = np.mgrid[0 : height + 17, 0 : width + 9]
    picture = np.stack([rows * 255 / rows.max(), cols * 255 / cols.max(), (rows * 7 + cols * 3) % 256], -1)
    other = np.stack([picture[..., 2], 255 - picture[..., 0], (rows * cols) % 256], -1)
    return [tf.io.encode_png(tf.constant(picture.astype(np.uint8))).numpy(),
            tf.io.encode_jpeg(tf.constant(other.astype(np.uint8)), quality=90).numpy()]


# Serving is family-agnostic: MobileNetV1 by default (and EfficientNet-Lite0's real weights in its own test),
# every other family under -m slow; their ops are converted and run by default in the TFLite tests.
@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f != "mobilenet_v1" else f
                                    for f in sorted(FAMILIES)])
def test_export_loads_in_a_tensorflow_only_process_with_identical_outputs(family, tmp_path):
    model = randomize(FAMILIES[family]())
    height, width = model.input.shape[1:3]
    path = to_saved_model(model, base_dir=tmp_path, top_k=3, class_names=LABELS)
    assert path == os.path.join(tmp_path, model.name, "1")
    batch = images((3, height, width, 3))
    blobs = _photos(height, width)
    report = load_in_fresh_process(path, images=batch, image_bytes=blobs)
    assert report["signatures"] == ["predict_image_bytes", "serving_default"]
    assert "keras_lightnets" not in report["modules"] and "tf_keras" not in report["modules"]
    expected = run(model, batch)
    assert_depends_on_input(expected)
    got = report["outputs"]
    # The export folds BatchNormalization into the convolutions: float32 rounding is relative (measured
    # 1.05e-5 on a probability of 0.22); a wrong layer moves the outputs by > 1e-2.
    np.testing.assert_allclose(got["serving_default/probabilities"], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(got["serving_default/top_k_classes"], np.argsort(-expected, axis=1)[:, :3])
    np.testing.assert_allclose(got["serving_default/top_k_scores"], -np.sort(-expected, axis=1)[:, :3], rtol=1e-4, atol=1e-5)
    from_bytes = run(model, _decoded(blobs, height, width))
    assert_depends_on_input(from_bytes)
    np.testing.assert_allclose(got["predict_image_bytes/probabilities"], from_bytes, rtol=1e-4, atol=1e-5)
    # The check can see a wrong resize or a wrong channel order:
    assert np.abs(run(model, _decoded(blobs, height, width, method="nearest")) - from_bytes).max() > 1e-3
    assert np.abs(run(model, _decoded(blobs, height, width)[..., ::-1]) - from_bytes).max() > 1e-3


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    base = tmp_path_factory.mktemp("repository")
    return to_saved_model(_tiny_classifier(), base_dir=base, class_names=LABELS, warmup=True, warmup_requests=3)


def test_corrupt_bytes_fail_the_request_with_a_clear_error(tiny_export):
    report = load_in_fresh_process(tiny_export, image_bytes=[b"definitely not an image"])
    assert "not a JPEG or PNG image" in report["errors"]["predict_image_bytes"]


def test_warmup_file_holds_real_prediction_logs(tiny_export):
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(os.path.join(tiny_export, "assets.extra", "tf_serving_warmup_requests")))
    assert len(records) == 3
    request = prediction_log_pb2.PredictionLog.FromString(records[0].numpy()).predict_log.request
    assert request.model_spec.name == "tiny" and request.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(request.inputs["images"]).shape == (1, 32, 32, 3)


def test_saved_model_cli_lists_both_signatures(tiny_export):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--all", "--dir", tiny_export], capture_output=True, text=True, check=True).stdout
    assert "signature_def['serving_default']" in shown and "signature_def['predict_image_bytes']" in shown
    assert "inputs['images']" in shown and "inputs['image_bytes']" in shown
    assert "outputs['top_k_labels']" in shown and "outputs['probabilities']" in shown


def test_versions_increment_and_never_overwrite(tmp_path):
    model = _tiny_classifier()
    first = to_saved_model(model, base_dir=tmp_path, name="digits", warmup=False)
    second = to_saved_model(model, base_dir=tmp_path, name="digits", warmup=False)
    assert [os.path.basename(p) for p in (first, second)] == ["1", "2"]
    assert os.path.basename(to_saved_model(model, base_dir=tmp_path, name="digits", version=10, warmup=False)) == "10"
    with pytest.raises(ValueError, match="`version`"):
        to_saved_model(model, base_dir=tmp_path, name="digits", version=2)
    assert sorted(os.listdir(tmp_path / "digits")) == ["1", "10", "2"]


KILLED_EXPORT = textwrap.dedent(
    """
    import sys
    import keras_lightnets as kl
    from keras_lightnets.export import to_saved_model
    to_saved_model(kl.Xception(input_shape=(299, 299, 3)), base_dir=sys.argv[1], name="victim")
    """
)


def test_kill_during_export_leaves_no_visible_version(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(tmp_path)], stderr=subprocess.DEVNULL)
    model_dir = tmp_path / "victim"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if model_dir.exists() and any(".tmp-" in entry for entry in os.listdir(model_dir)):
            time.sleep(0.5)  # let it write part of the export
            break
        time.sleep(0.05)
    assert process.poll() is None, "export finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    leftovers = os.listdir(model_dir)
    assert leftovers and all(entry.startswith(".") for entry in leftovers)  # only the hidden temporary
    path = to_saved_model(_tiny_classifier(), base_dir=tmp_path, name="victim", warmup=False)
    assert os.listdir(model_dir) == ["1"] and path.endswith(os.path.join("victim", "1"))


@pytest.mark.slow
def test_feature_extractor_exports_features(tmp_path):
    model = randomize(kl.MobileNetV2(alpha=0.35, include_top=False, pooling="avg"))
    path = to_saved_model(model, base_dir=tmp_path, image_size=64, warmup=False)
    batch = images((2, 64, 64, 3))
    report = load_in_fresh_process(path, images=batch)
    expected = run(model, batch)
    assert_depends_on_input(expected)
    # The export folds BatchNormalization into the convolutions: float32 rounding of the features measured
    # up to 3.2e-5 on values of ~1 (the parity contract's 1e-4); a wrong layer moves them by > 1e-2.
    np.testing.assert_allclose(report["outputs"]["serving_default/features"], expected, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"name": "bad/name"}, "name"),
        ({"top_k": 11}, "top_k"),
        ({"class_names": ["a", "b"]}, "class_names"),
        ({"version": 0}, "version"),
        ({"image_size": 64}, "image_size"),
    ],
)
def test_bad_export_arguments(kwargs, argument, tmp_path):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        to_saved_model(_tiny_classifier(), base_dir=tmp_path, **kwargs)
    assert not (tmp_path / "tiny").exists() or not os.listdir(tmp_path / "tiny")


def test_dynamic_model_needs_image_size(tmp_path):
    with pytest.raises(ValueError, match="`image_size`"):
        to_saved_model(kl.MobileNetV2(alpha=0.35, include_top=False), base_dir=tmp_path)
