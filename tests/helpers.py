"""Helpers the tests share: weights that keep the signal, comparisons that prove their power, small models.

Imported as ``from helpers import ...`` (the tests directory is on ``sys.path`` under pytest);
``conftest.py`` keeps only fixtures and the test session's set-up.
"""

import keras
import numpy as np

from keras_lightnets.train.model_factory import find_layers, is_batch_norm

# Two different inputs must move the reference output by more than this, or a comparison proves nothing.
INPUT_DEPENDENCE = 1e-2


def _short_efficientnet_v2():
    import keras_lightnets as kl

    # B0's conventions with one block of each kind B0 has: Fused-MBConv without expansion, with expansion, MBConv + SE.
    return [
        kl.Stage("fused_inverted_residual", 16), kl.Stage("fused_inverted_residual", 32, stride=2, expansion=4, repeats=2),
        kl.Stage("inverted_residual", 48, stride=2, expansion=4, se_ratio=0.25, repeats=2),
    ]


SHORT_EFFICIENTNET_V2 = _short_efficientnet_v2()


def _short_mobilenet_v3():
    import keras_lightnets as kl

    # MobileNetV3-Small's conventions with one block of each kind it has: ReLU with and without the
    # hard-sigmoid squeeze-excite gate, hard-swish with it, a fractional expansion, a residual block.
    return [
        kl.Stage("inverted_residual", 16, stride=2, se_ratio=0.25, activation="relu"),
        kl.Stage("inverted_residual", 24, stride=2, expansion=72 / 16, activation="relu"),
        kl.Stage("inverted_residual", 40, stride=2, kernel=5, expansion=4, se_ratio=0.25, activation="hard_swish"),
        kl.Stage("inverted_residual", 40, kernel=5, expansion=6, se_ratio=0.25, activation="hard_swish"),
    ]


SHORT_MOBILENET_V3 = _short_mobilenet_v3()


def _short_mobilenet_v4():
    import keras_lightnets as kl

    # MobileNetV4's layer kinds once each: a strided plain conv, a fused block, the four universal
    # inverted bottlenecks (ExtraDW strided, IB, ConvNeXt-like, FFN) and the final 1x1 conv.
    uib = "universal_inverted_residual"
    return [
        kl.Stage("conv", 16, stride=2), kl.Stage("fused_inverted_residual", 24, stride=2, expansion=4),
        kl.Stage(uib, 32, start_kernel=5, kernel=5, stride=2, expansion=3), kl.Stage(uib, 32, kernel=3, expansion=2),
        kl.Stage(uib, 32, start_kernel=3, kernel=0, expansion=4), kl.Stage(uib, 32, kernel=0, expansion=2),
        kl.Stage("conv", 96, kernel=1),
    ]


SHORT_MOBILENET_V4 = _short_mobilenet_v4()


def _short_efficientnet_lite():
    import keras_lightnets as kl

    # Lite's conventions (ReLU6, no squeeze-excite, (x - 127) / 128, TF "same" stride 2) on three of its stages.
    return [
        kl.Stage("inverted_residual", 16, scale_repeats=False), kl.Stage("inverted_residual", 24, stride=2, expansion=6),
        kl.Stage("inverted_residual", 40, kernel=5, stride=2, expansion=6, repeats=2, scale_repeats=False),
    ]


SHORT_EFFICIENTNET_LITE = _short_efficientnet_lite()


def small_models():
    """One small classifier per family (10 classes) for the export, compression and inference tests.

    The EfficientNet has half B0's depth and width, with every kind of block B0 has, the
    EfficientNetV2 a 5-block table of B0's block kinds, MobileNetV4 and EfficientNet-Lite short
    tables with each layer kind of theirs once: tfmot, the TFLite converter and LiteRT's
    GPU accelerator take time in proportion to the layer count.
    """
    import keras_lightnets as kl

    return {
        "mobilenet_v1": lambda: kl.MobileNetV1(alpha=0.25, input_shape=(96, 96, 3), classes=10),
        "mobilenet_v2": lambda: kl.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), classes=10),
        "efficientnet": lambda: kl.EfficientNet(
            1, scaling="compound", compound_coefficients=(0.5, 0.5, 1.0), input_shape=(32, 32, 3), classes=10),
        "xception": lambda: kl.Xception(input_shape=(71, 71, 3), classes=10),
        "mobilenet_v3": lambda: kl.MobileNetV3Small(alpha=0.75, input_shape=(96, 96, 3), classes=10),
        "efficientnet_v2": lambda: kl.EfficientNetV2("b0", input_shape=(64, 64, 3), classes=10, stages=SHORT_EFFICIENTNET_V2),
        "mobilenet_v4": lambda: kl.MobileNetV4("small", input_shape=(64, 64, 3), classes=10, stages=SHORT_MOBILENET_V4),
        "efficientnet_lite": lambda: kl.EfficientNetLite(0, input_shape=(64, 64, 3), classes=10, stages=SHORT_EFFICIENTNET_LITE),
    }


def _fan_in(layer, weight):
    """Inputs summed into one output of ``weight``: k*k for a depthwise kernel, k*k*c_in for a convolution."""
    shape = tuple(weight.shape)
    depthwise = isinstance(layer, keras.layers.DepthwiseConv2D) or weight.path.endswith("depthwise_kernel")
    return int(np.prod(shape[:-2] if depthwise else shape[:-1]))


def randomize(model, seed=0, calibration=None):
    """Random weights under which the model's output depends on its input (for comparison tests).

    Drawing every kernel and BatchNorm gamma from N(0, 0.1) shrinks the input-dependent part of the
    signal at every BN until the logits no longer depend on the input at all. Here instead: kernels
    N(0, 1/fan_in) (variance-preserving), biases N(0, 0.1), BN gamma U(0.5, 1.5) and beta N(0, 0.2),
    then every BN's moving mean and variance are set to the batch statistics of its own input in one
    training-mode pass at momentum 0 over ``calibration``, so inference normalizes each activation to
    about unit scale, as a trained network does. Normalization layers (EfficientNet's ImageNet
    mean/std) keep their values.

    Args:
        model: A built Keras 3 model.
        seed: Seed of the draw (int).
        calibration: Input batch at the scale the test feeds (default: 16 random images of the
            model's input shape, in [0, 255] when the model rescales its input itself (a
            ``Rescaling`` layer), else in [-1, 1], what keras.applications' MobileNets see).

    Returns:
        The same model.
    """
    rng = np.random.default_rng(seed)
    owner = {}  # weight -> the innermost layer holding it (layers come before the composites they sit in)
    for layer in reversed(find_layers(model, lambda layer: True)):
        for weight in layer.weights:
            owner.setdefault(id(weight), layer)
    values = []
    for weight in model.weights:
        layer, name = owner.get(id(weight)), weight.path.rsplit("/", 1)[-1]
        if isinstance(layer, keras.layers.Normalization):
            values.append(np.asarray(weight.numpy()))
        elif name == "gamma":
            values.append(rng.uniform(0.5, 1.5, weight.shape))
        elif name == "beta":
            values.append(rng.normal(0.0, 0.2, weight.shape))
        elif name in ("moving_mean", "moving_variance"):
            values.append(np.asarray(weight.numpy()))  # set by the calibration pass below
        elif name.endswith("kernel"):
            values.append(rng.normal(0.0, 1.0 / np.sqrt(_fan_in(layer, weight)), weight.shape))
        else:
            values.append(rng.normal(0.0, 0.1, weight.shape))
    model.set_weights([np.asarray(v, dtype=w.dtype) for v, w in zip(values, model.weights)])
    batch_norms = find_layers(model, is_batch_norm)
    if batch_norms:
        if calibration is None:
            shape = [16] + [d or 64 for d in model.inputs[0].shape[1:]]
            raw = any(isinstance(layer, keras.layers.Rescaling) for layer in model.layers)
            calibration = images(shape, seed=seed + 1000, low=0.0 if raw else -1.0, high=255.0 if raw else 1.0)
        momenta = [layer.momentum for layer in batch_norms]
        try:
            for layer in batch_norms:
                layer.momentum = 0.0
            model(calibration, training=True)
        finally:
            for layer, momentum in zip(batch_norms, momenta):
                layer.momentum = momentum
    return model


def images(shape, seed=1, low=0.0, high=255.0):
    """A batch of random images in [low, high]."""
    return np.random.default_rng(seed).uniform(low, high, shape).astype("float32")


def assert_depends_on_input(outputs, minimum=INPUT_DEPENDENCE):
    """Fails when a batch's outputs are (nearly) the same for every input: the comparison would be blind.

    Args:
        outputs: Array (batch, ...) with at least two inputs' outputs, or a dict of such arrays.
        minimum: Smallest max |y_i - y_0| that counts as depending on the input.
    """
    arrays = outputs.values() if isinstance(outputs, dict) else [outputs]
    for array in arrays:
        array = np.asarray(array, dtype=np.float64)
        assert array.shape[0] >= 2, "needs outputs of at least two different inputs"
        spread = float(np.abs(array[1:] - array[:1]).max())
        assert spread > minimum, f"the reference output does not depend on the input (max |y_i - y_0| = {spread:.2e})"


def first_convolution(model):
    """The first Conv2D / DepthwiseConv2D / SeparableConv2D layer of a model, in graph order."""
    convolutions = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    return find_layers(model, lambda layer: isinstance(layer, convolutions))[0]


def assert_same_outputs(expected, ours, x, atol):
    """``ours(x)`` equals ``expected`` within ``atol``, and the comparison proves it could see a bug.

    Power checks: ``expected`` depends on the input (:func:`assert_depends_on_input`), and scaling
    the kernel of ``ours``' first convolution by 10% moves its output by more than 100x ``atol``.

    Args:
        expected: The reference implementation's output for ``x``.
        ours: Keras model under test (its first convolution is perturbed, then restored).
        x: Input batch (at least two different inputs).
        atol: Allowed max |difference|.

    Returns:
        The output of ``ours``.
    """
    assert_depends_on_input(expected)
    got = run(ours, x)
    diff = float(np.abs(expected - got).max())
    assert diff < atol, f"max |ours - reference| = {diff:.3e} >= {atol}"
    layer = first_convolution(ours)
    kernel = layer.weights[0]
    original = kernel.numpy()
    kernel.assign(original * 1.1)
    try:
        moved = float(np.abs(run(ours, x) - got).max())
    finally:
        kernel.assign(original)
    assert moved > 100 * atol, f"a 10% change of {layer.name}'s kernel moved the output by only {moved:.2e}"
    return got


def run(model, x):
    """One inference pass, eagerly (no tf.function tracing: faster for one-off calls)."""
    return keras.ops.convert_to_numpy(model(x, training=False))


def trainable_count(model):
    """Number of trainable parameters (``sum(p.numel() for p in model.parameters() if p.requires_grad)`` in torch)."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def assert_ported(reference, ours, x, seed, reference_input_layer=None, calibration=None):
    """Random signal-keeping weights into ``reference``, ported into ``ours``: the outputs agree (1e-4), and a planted change shows.

    Args:
        reference: The model whose weights are drawn (e.g. keras.applications').
        ours: The same architecture built here.
        x: Input batch.
        seed: Seed of the weights.
        reference_input_layer: Compare from this layer of ``reference`` on (its own preprocessing skipped).
        calibration: Batch the batch-norm statistics are set on (default: see :func:`randomize`).
    """
    import keras_lightnets as kl

    randomize(reference, seed=seed, calibration=calibration)
    report = kl.port_weights(reference, ours)
    assert report.unused_source == []
    if reference_input_layer is not None:
        reference = keras.Model(reference.get_layer(reference_input_layer).input, reference.output)
    assert_same_outputs(run(reference, x), ours, x, atol=1e-4)


def training_step(model, images, labels):
    """(outputs, gradients, every weight after the forward pass) of one training-mode call (TensorFlow)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        outputs = model(images, training=True)
        loss = keras.losses.categorical_crossentropy(labels, outputs)
    gradients = tape.gradient(loss, model.trainable_weights)
    return outputs.numpy(), [g.numpy() for g in gradients], [w.numpy() for w in model.weights]
