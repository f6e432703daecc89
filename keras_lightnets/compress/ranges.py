"""Activation ranges of a quantization-aware model, set from calibration data before fine-tuning.

tfmot's moving-average quantizers (its default 8-bit scheme) start every activation range at
[-6, 6] and move it toward each training batch's range with a fixed decay of 0.999
(``MovingAverageQuantizer`` -> ``quant_ops.MovingAvgQuantize``): after 300 training steps a range
has covered 26% of the way. Linear outputs (inverted residuals' projections, residual sums) of a
trained network span tens of units, so a short quantization-aware fine-tune clips them at about
+-6 and the int8 file loses accuracy. :func:`calibrate_ranges` sets each range to where the moving
average would settle: the mean over calibration batches of each batch's range, measured on the
float network.

What this reads of tfmot (no public API exposes a quantizer's range variables): a wrapper's inner
layer (``QuantizeWrapper.layer``) and its range variables' names, ``output_min`` / ``output_max``
(a layer's output), ``post_activation_min`` / ``_max`` (the output of a layer's own activation)
and ``pre_activation_min`` / ``_max`` (its input). ``tests/test_compress.py`` pins them.
"""

import numpy as np

from keras_lightnets import validation
from keras_lightnets.compress import backend

# Range variable -> which tensor of the wrapped layer it quantizes.
RANGE_ROLES = {"output": "output", "post_activation": "output", "pre_activation": "pre_activation"}


def _range_variables(qat_model):
    """{(inner layer name, role): (min variable, max variable)} of every wrapper's activation ranges."""
    found = {}
    for wrapper in qat_model.layers:
        inner = getattr(wrapper, "layer", None)
        if inner is None:
            continue
        by_name = {variable.name.split("/")[-1].split(":")[0]: variable for variable in wrapper.non_trainable_weights}
        for prefix, role in RANGE_ROLES.items():
            low, high = by_name.get(f"{prefix}_min"), by_name.get(f"{prefix}_max")
            if low is not None and high is not None and tuple(low.shape) == ():
                found[(inner.name, role)] = (low, high)
    return found


def _batch_ranges(model, names, images, batch_size):
    """Mean over batches of (min(batch min, 0), max(batch max, 0)) of each named layer's output."""
    tf_keras = backend.tf_keras()
    probe = tf_keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    lows, highs = np.zeros(len(names)), np.zeros(len(names))
    batches = [images[start:start + batch_size] for start in range(0, len(images), batch_size)]
    for batch in batches:
        outputs = probe(batch, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for index, output in enumerate(outputs):
            values = np.asarray(output)
            lows[index] += min(float(values.min()), 0.0)
            highs[index] += max(float(values.max()), 0.0)
    return lows / len(batches), highs / len(batches)


def calibrate_ranges(qat_model, float_model, images, batch_size=64):
    """Sets the activation ranges of ``qat_model`` to their moving averages' steady state on ``images``.

    Args:
        qat_model: A tf_keras model from tfmot's ``quantize_apply`` (as
            :func:`keras_lightnets.compress.quantize_aware` makes it).
        float_model: The same network in tf_keras before quantization (same layer names).
        images: Calibration inputs, a float array (N, H, W, C) at the model's input scale (N >= 1).
        batch_size: Batch size the ranges are measured at; the fine-tune's batch size (int >= 1):
            a moving average of batch ranges settles at the mean range of batches of that size.

    Returns:
        Number of ranges set (each wrapper's output, and its activation's input where it has one).
    """
    validation.check_number("batch_size", batch_size, minimum=1, integer=True)
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) == 0:
        validation.fail("images", f"an array of shape {images.shape}", "a non-empty batch of images (N, H, W, C)")
    variables = _range_variables(qat_model)
    known = {layer.name for layer in float_model.layers}
    keys = [key for key in variables if key[0] in known]
    outputs = [name for name, role in keys if role == "output"]
    pre = [name for name, role in keys if role == "pre_activation"]
    low, high = _batch_ranges(float_model, outputs, images, batch_size) if outputs else ((), ())
    measured = {(name, "output"): pair for name, pair in zip(outputs, zip(low, high))}
    if pre:
        measured.update({(name, "pre_activation"): pair
                         for name, pair in zip(pre, zip(*_pre_activation_ranges(float_model, pre, images, batch_size)))})
    for key, (minimum, maximum) in measured.items():
        low_variable, high_variable = variables[key]
        low_variable.assign(minimum)
        high_variable.assign(maximum)
    return len(measured)


def _pre_activation_ranges(float_model, names, images, batch_size):
    """Ranges of the named layers' outputs before their own activation (the activation set to linear for the measurement)."""
    tf_keras = backend.tf_keras()
    saved = {name: float_model.get_layer(name).activation for name in names}
    try:
        for name in names:
            float_model.get_layer(name).activation = tf_keras.activations.linear
        return _batch_ranges(float_model, names, images, batch_size)
    finally:
        for name, activation in saved.items():
            float_model.get_layer(name).activation = activation
