"""Static build options shared by families and the training config, without Keras."""

# ``convolutions=`` of MobileNetV1 and Xception: depthwise + pointwise pairs, or one full convolution each.
CONVOLUTIONS = ("separable", "standard")
