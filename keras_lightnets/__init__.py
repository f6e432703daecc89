"""keras_lightnets: lightweight convolutional networks built on depthwise separable convolution.

Layers (``SeparableConv``, ``SqueezeExcite``, ``InvertedResidual``), exact
drop-in builders for keras.applications' MobileNet, MobileNetV2,
EfficientNet-B0..B7 and Xception, a model registry, cost analysis,
weight porting and the inference graph (BatchNormalization folded).
"""

from keras_lightnets.features import endpoint_names, feature_extractor
from keras_lightnets.inference import FoldReport, fold_batch_norms, inference_model
from keras_lightnets.layers.inverted_residual import InvertedResidual
from keras_lightnets.layers.separable import SeparableConv
from keras_lightnets.layers.squeeze_excite import SqueezeExcite
from keras_lightnets.models.efficientnet import EfficientNet
from keras_lightnets.models.mobilenet_v1 import MobileNetV1
from keras_lightnets.models.mobilenet_v2 import MobileNetV2
from keras_lightnets.models.xception import Xception
from keras_lightnets.profile import Profile, profile
from keras_lightnets.registry import create_model, list_models
from keras_lightnets.scaling import compound_scaling
from keras_lightnets.train.schedule import WarmupDecay  # registered: trained .keras files load after `import keras_lightnets`
from keras_lightnets.weights import WeightsUnavailableError, port_weights

__version__ = "0.1.0"

__all__ = [
    "EfficientNet", "FoldReport", "InvertedResidual", "MobileNetV1", "MobileNetV2", "Profile", "SeparableConv",
    "SqueezeExcite", "WarmupDecay", "WeightsUnavailableError", "Xception", "compound_scaling", "create_model",
    "endpoint_names", "feature_extractor", "fold_batch_norms", "inference_model", "list_models", "port_weights",
    "profile",
]
