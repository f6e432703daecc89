"""One place that creates every stock layer used by blocks and builders.

Builders and composite layers never instantiate ``keras.layers`` classes
directly: they ask a :class:`BuildContext`.  The context carries the
conventions that decide exactness (batch-norm epsilon and momentum,
initializers, channel axis, padding style for stride-2 convolutions) and the
layers namespace, so the same builder code can emit ``tf_keras`` layers.
"""

import dataclasses
from typing import Any

import keras

from keras_lightnets import validation

CHANNELS_LAST = "channels_last"


def _relu6_name(activation):
    return isinstance(activation, str) and activation == "relu6"


@dataclasses.dataclass
class BuildContext:
    """Conventions and layer factory for one network.

    Attributes:
        data_format: "channels_last" or "channels_first".
        bn_epsilon: Batch-normalization epsilon (> 0).
        bn_momentum: Batch-normalization momentum in (0, 1).
        conv_initializer: Kernel initializer of convolutions.
        dense_initializer: Kernel initializer of the classifier.
        layers: Namespace that provides the layer classes (``keras.layers``).
        convolutions: "separable" (depthwise + pointwise pairs) or "standard"
            (each pair emitted as one full k x k convolution: the network the
            separable one is compared against).
        block_outputs: The output tensor of each block of a stage table, in
            order, as the builder makes them (see :mod:`keras_lightnets.models.blocks`).
    """

    data_format: str = dataclasses.field(default_factory=keras.config.image_data_format)
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99
    conv_initializer: Any = "glorot_uniform"
    dense_initializer: Any = "glorot_uniform"
    layers: Any = keras.layers
    convolutions: str = "separable"
    block_outputs: list = dataclasses.field(default_factory=list)

    @property
    def channel_axis(self):
        """Index of the channel axis of a 4D feature map."""
        return -1 if self.data_format == CHANNELS_LAST else 1

    def channels(self, x):
        """Number of channels of a 4D tensor."""
        return x.shape[self.channel_axis]

    def spatial(self, x):
        """(height, width) of a 4D tensor; entries may be None."""
        return tuple(x.shape[1:3]) if self.data_format == CHANNELS_LAST else tuple(x.shape[2:4])

    def conv(self, filters, kernel_size, name, strides=1, padding="same", use_bias=False, activation=None,
             dilation=1):
        """A ``Conv2D`` layer with the context's initializer (``dilation`` > 1: atrous, stride 1)."""
        return self.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            dilation_rate=dilation,
            use_bias=use_bias,
            activation=activation,
            kernel_initializer=self.conv_initializer,
            data_format=self.data_format,
            name=name,
        )

    def depthwise(self, kernel_size, name, strides=1, padding="same", depth_multiplier=1, use_bias=False,
                  dilation=1):
        """A ``DepthwiseConv2D`` layer with the context's initializer (``dilation`` > 1: atrous, stride 1).

        A stride-1 dilated kernel with "same" padding pads ``dilation * (kernel_size - 1) // 2``
        on every side: TF's "same" and PyTorch's symmetric padding agree there.
        """
        return self.layers.DepthwiseConv2D(
            kernel_size,
            strides=strides,
            padding=padding,
            dilation_rate=dilation,
            depth_multiplier=depth_multiplier,
            use_bias=use_bias,
            depthwise_initializer=self.conv_initializer,
            data_format=self.data_format,
            name=name,
        )

    def batch_norm(self, name):
        """A ``BatchNormalization`` layer over the channel axis."""
        return self.layers.BatchNormalization(
            axis=self.channel_axis, epsilon=self.bn_epsilon, momentum=self.bn_momentum, name=name
        )

    def activation(self, activation, name):
        """An activation layer; "relu6" becomes ``ReLU(6.0)`` (TFLite RELU6)."""
        if _relu6_name(activation):
            return self.layers.ReLU(6.0, name=name)
        return self.layers.Activation(activation, name=name)

    def zero_pad(self, padding, name):
        """A ``ZeroPadding2D`` layer."""
        return self.layers.ZeroPadding2D(padding=padding, data_format=self.data_format, name=name)

    def downsample_padding(self, spatial, kernel_size, style):
        """Explicit padding of a stride-2 "valid" convolution (TF "same" made explicit, or PyTorch's).

        Args:
            spatial: (height, width) of the tensor about to be convolved;
                entries may be None.
            kernel_size: Odd kernel size (int).
            style: "correct" pads like keras.applications' ``correct_pad``
                (depends on the parity of the input size); "bottom_right"
                always pads one row/column at the bottom/right
                (MobileNetV1); "symmetric" pads ``kernel_size // 2`` on
                every side, as PyTorch's convolutions do (timm's MobileNetV4).

        Returns:
            ((top, bottom), (left, right)).
        """
        half = kernel_size // 2

        def correct():
            rows, cols = spatial
            adjust = (1, 1) if rows is None else (1 - rows % 2, 1 - cols % 2)
            return ((half - adjust[0], half), (half - adjust[1], half))

        return validation.lookup("downsample", style, {
            "symmetric": lambda: ((half, half), (half, half)),
            "bottom_right": lambda: ((half - 1, half), (half - 1, half)),
            "correct": correct,
        })()

    def strided_padding(self, spatial, kernel_size, strides, style, name):
        """The explicit padding layer (or None) and the ``padding`` of a convolution with ``strides``.

        Args:
            spatial: (height, width) of the convolution's input; entries may be None.
            kernel_size: Odd kernel size (int).
            strides: 1 or 2.
            style: One of the family's stride-2 paddings ("same" keeps TF "same", no layer).
            name: Name of the ZeroPadding2D layer.

        Returns:
            (ZeroPadding2D or None, "valid" or "same").
        """
        if strides == 2 and style != "same":
            return self.zero_pad(self.downsample_padding(spatial, kernel_size, style), name), "valid"
        return None, "same"

    def global_pool(self, kind, name=None, keepdims=False):
        """Global average ("avg") or max ("max") pooling."""
        cls = validation.lookup("pooling", kind, {"avg": self.layers.GlobalAveragePooling2D,
                                                  "max": self.layers.GlobalMaxPooling2D})
        return cls(data_format=self.data_format, keepdims=keepdims, name=name)
