"""keras_lightnets: lightweight convolutional networks built on depthwise separable convolution.

Layers (``SeparableConv``, ``SqueezeExcite``, ``InvertedResidual``,
``FusedInvertedResidual``, ``UniversalInvertedResidual``), exact drop-in
builders for keras.applications' MobileNet, MobileNetV2/V3, EfficientNet-B0..B7,
EfficientNetV2 and Xception, EfficientNet-Lite and MobileNetV4, a model registry, cost analysis,
weight porting and the inference graph (BatchNormalization folded).
Subpackages: ``compress`` (tfmot pruning and QAT), ``export`` (SavedModel,
TFLite, LiteRT), ``train`` (the training engine), ``data`` (datasets).

Every name loads on first use (PEP 562), so ``import keras_lightnets`` does
not import Keras or TensorFlow; our serializable classes are registered as
soon as Keras is imported, so saved ``.keras`` files load after
``import keras_lightnets`` in either import order.
"""

from keras_lightnets import registry as _registry
from keras_lightnets import serializables as _serializables
from keras_lightnets.errors import LightnetsError  # noqa: F401 (public: kl.LightnetsError)
from keras_lightnets.lazy import attach as _attach

__version__ = "0.1.0"

_ATTRIBUTES = {
    "FoldReport": "keras_lightnets.inference",
    "FusedInvertedResidual": "keras_lightnets.layers.fused_inverted_residual",
    "InvertedResidual": "keras_lightnets.layers.inverted_residual",
    "Stage": "keras_lightnets.models.spec",
    "Profile": "keras_lightnets.profiling",
    "SeparableConv": "keras_lightnets.layers.separable",
    "SqueezeExcite": "keras_lightnets.layers.squeeze_excite",
    "UniversalInvertedResidual": "keras_lightnets.layers.universal_inverted_residual",
    "WarmupDecay": "keras_lightnets.train.schedule",
    "WeightsUnavailableError": "keras_lightnets.weights",
    "compound_scaling": "keras_lightnets.scaling",
    "create_model": "keras_lightnets.registry",
    "endpoint_names": "keras_lightnets.features",
    "feature_extractor": "keras_lightnets.features",
    "fold_batch_norms": "keras_lightnets.inference",
    "inference_model": "keras_lightnets.inference",
    "list_models": "keras_lightnets.registry",
    "port_weights": "keras_lightnets.weights",
    "profile": "keras_lightnets.profiling",
}
_SUBPACKAGES = ("compress", "data", "detection", "export", "heads", "train")
_ATTRIBUTES.update(_registry.exports())  # each family's builders: MobileNetV1, EfficientNet, MobileNetV3Small...

__getattr__, __dir__, _lazy_all = _attach(__name__, _ATTRIBUTES, _SUBPACKAGES)
__all__ = sorted(["LightnetsError", *_lazy_all])

_serializables.install()
