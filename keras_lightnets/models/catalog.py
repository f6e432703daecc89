"""Static facts about the families: published widths and resolutions, default sizes, build options.

Plain data without Keras, so the registry, the training config and the
``lightnets`` command read it without loading TensorFlow; the family modules
take their constants from here.
"""

# keras.applications' published ImageNet files.
MOBILENET_V1_ALPHAS = (0.25, 0.5, 0.75, 1.0)
MOBILENET_V1_SIZES = (128, 160, 192, 224)
MOBILENET_V2_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)
MOBILENET_DEFAULT_SIZE = 224
XCEPTION_DEFAULT_SIZE = 299
# ``convolutions=`` of MobileNetV1 and Xception: depthwise + pointwise pairs, or one full convolution each.
CONVOLUTIONS = ("separable", "standard")
