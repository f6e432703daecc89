"""What the segmentation heads share: argument checks, torchvision's head batch norm, the final upsampling."""

from keras_lightnets import registry, validation
from keras_lightnets.heads.backbone import TORCHVISION_BACKBONE
from keras_lightnets.models.spec import OUTPUT_STRIDES

# torchvision's segmentation models are trained and counted at 520 x 520.
TORCHVISION_SIZE = 520

# torchvision's heads use nn.BatchNorm2d's defaults (the backbone's are 1e-3 / 0.01).
HEAD_BN_EPSILON = 1e-5
HEAD_BN_MOMENTUM = 0.9
DEFAULT_INPUT_SHAPE = (None, None, 3)
# PyTorch's default convolution initializer (kaiming_uniform with a = sqrt(5)): U(+-1/sqrt(fan_in)), torchvision's heads'.
HEAD_INITIALIZER = {"class_name": "VarianceScaling", "config": {"scale": 1.0 / 3.0, "mode": "fan_in", "distribution": "uniform"}}


def check_common(num_classes, activation, input_shape):
    """Refuses a bad class count, output activation or input shape (before any layer is made)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        validation.fail("num_classes", num_classes, "an int >= 2 (background counts as a class)")
    if activation not in (None, "softmax"):
        validation.fail("activation", activation, 'None (logits) or "softmax" (per-pixel probabilities)')
    shape = DEFAULT_INPUT_SHAPE if input_shape is None else input_shape
    if (not isinstance(shape, (tuple, list)) or len(shape) != 3
            or any(d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1) for d in shape)
            or any(d is not None and d < 32 for d in shape[:2]) or shape[2] is None):
        validation.fail("input_shape", input_shape, "(height, width, channels) with height/width None or >= 32")
    return tuple(shape)


def check_strides(backbone, output_stride, low_stride=None, low_strides=()):
    """Refuses a missing backbone, or an output stride or low-level stride no backbone can give (before anything is built).

    ``output_stride`` may be None only for a given backbone model (its own stride);
    ``low_stride`` (None: the head reads no low-level features) must be one of
    ``low_strides`` and below ``output_stride``.
    """
    from keras_lightnets.heads.backbone import check_given

    check_given(backbone)
    if isinstance(backbone, str) or output_stride is not None:
        validation.check_choice("output_stride", output_stride, list(OUTPUT_STRIDES))
    if low_stride is None:
        return
    validation.check_choice("low_stride", low_stride, list(low_strides))
    if output_stride is not None and low_stride >= output_stride:
        validation.fail("low_stride", low_stride, f"a stride below output_stride={output_stride}")


def register_head(module, builder, generic_name, torchvision_name):
    """Registers a head's names: ``generic_name`` (pass ``backbone=``) and torchvision's configuration."""
    registry.register_family(registry.FamilyEntry(
        f"{module}:{builder}", (generic_name, torchvision_name),
        lambda name: {"backbone": TORCHVISION_BACKBONE} if name == torchvision_name else {},
        lambda name: TORCHVISION_SIZE, exports=(builder,), task="segmentation",
    ))


class Head:
    """Creates a head's stock layers with torchvision's conventions (``layers`` = ``keras.layers``)."""

    def __init__(self, layers, data_format):
        self.layers = layers
        self.data_format = data_format
        self.axis = -1 if data_format == "channels_last" else 1

    def conv(self, filters, kernel, name, use_bias=False, dilation=1):
        return self.layers.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, use_bias=use_bias,
                                  kernel_initializer=HEAD_INITIALIZER, data_format=self.data_format, name=name)

    def depthwise(self, kernel, name, dilation=1):
        return self.layers.DepthwiseConv2D(kernel, padding="same", dilation_rate=dilation, use_bias=False,
                                           depthwise_initializer=HEAD_INITIALIZER, data_format=self.data_format, name=name)

    def batch_norm(self, name):
        return self.layers.BatchNormalization(axis=self.axis, epsilon=HEAD_BN_EPSILON, momentum=HEAD_BN_MOMENTUM,
                                              name=name)

    def conv_bn_relu(self, x, filters, kernel, prefix, dilation=1, separable=False):
        """Conv -> BN -> ReLU named ``{prefix}_0/1/2`` (torchvision's Sequential); separable: depthwise first."""
        if separable and kernel > 1:
            x = self.depthwise(kernel, f"{prefix}_depthwise", dilation=dilation)(x)
            x = self.batch_norm(f"{prefix}_depthwise_bn")(x)
            x = self.layers.ReLU(name=f"{prefix}_depthwise_relu")(x)
            kernel, dilation = 1, 1
        x = self.conv(filters, kernel, f"{prefix}_0", dilation=dilation)(x)
        x = self.batch_norm(f"{prefix}_1")(x)
        return self.layers.ReLU(name=f"{prefix}_2")(x)

    def pool(self, x, name):
        return self.layers.GlobalAveragePooling2D(data_format=self.data_format, keepdims=True, name=name)(x)

    def resize_like(self, x, reference, name, dtype=None):
        from keras_lightnets.layers.resize import ResizeLike

        return ResizeLike(data_format=self.data_format, name=name, dtype=dtype)([x, reference])


def finish(backbone, head, logits, activation, name):
    """Logits upsampled to the input size (+ softmax), as one model sharing the backbone's layers."""
    import keras

    from keras_lightnets.models import blocks

    policy = keras.config.dtype_policy()  # under mixed precision the logits leave in float32 (a stable loss)
    outputs = head.resize_like(logits, backbone.inputs[0], "upsample",
                               dtype="float32" if policy.compute_dtype != policy.variable_dtype else None)
    if activation is not None:
        outputs = head.layers.Activation(activation, dtype="float32", name="probabilities")(outputs)
    model = keras.Model(backbone.inputs, outputs, name=name)
    setattr(model, blocks.ATTRIBUTE, blocks.block_ends(backbone))
    return model
