"""The inference graph: BatchNormalization folded into the layer before it, dropout removed,
zero padding merged into the convolution that follows it.

Keras 3's ``BatchNormalization`` is a composition of ops, so TensorFlow's graph optimizer
cannot fuse it into the preceding convolution as it fuses its own ``FusedBatchNorm``; at
inference time each one is a separate pass over its tensor. Folded, it costs nothing:

    y = gamma * (W x + b - mean) / sqrt(var + eps) + beta  =  (s W) x + (s (b - mean) + beta),
    s = gamma / sqrt(var + eps), one factor per output channel.

The new model is a plain functional model of stock Keras layers (it saves to ``.keras``,
converts to TFLite and exports to SavedModel), rebuilt from the original's configuration with
the same layer names; only the folded BNs and the dropout layers are gone. The zoo's rule
holds: backend-agnostic Keras 3.
"""

import copy
import dataclasses
from typing import List, Tuple

import keras
import numpy as np

from keras_lightnets import validation
from keras_lightnets.weights import set_layer_weights

# Layers that compute the identity at inference time.
IDENTITY_AT_INFERENCE = (
    keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D, keras.layers.GaussianDropout, keras.layers.GaussianNoise,
    keras.layers.AlphaDropout,
)
# Layers a following BatchNormalization folds into: (kind, the kernel attribute scaled per output channel).
FOLDABLE = (
    (keras.layers.DepthwiseConv2D, "kernel"),
    (keras.layers.SeparableConv2D, "pointwise_kernel"),
    (keras.layers.Conv2D, "kernel"),
    (keras.layers.Dense, "kernel"),
)


@dataclasses.dataclass
class FoldReport:
    """What :func:`fold_batch_norms` did.

    Attributes:
        folded: Names of the BatchNormalization layers folded into their producer.
        left: (BatchNormalization name, why it stays) for those that could not be folded.
        removed: Names of the dropout-like layers removed (identity at inference).
        padding_merged: Names of the ZeroPadding2D layers merged into the convolution after
            them (the convolution pads itself, "same", which is the same zeros).
    """

    folded: List[str]
    left: List[Tuple[str, str]]
    removed: List[str]
    padding_merged: List[str] = dataclasses.field(default_factory=list)

    def __str__(self):
        text = f"{len(self.folded)} BatchNormalization layers folded, {len(self.left)} left"
        if self.left:
            text += " (" + "; ".join(f"{name}: {why}" for name, why in self.left[:3])
            text += ", ..." if len(self.left) > 3 else ""
            text += ")"
        text += f", {len(self.removed)} dropout layers removed"
        return text + (f", {len(self.padding_merged)} paddings merged into their convolution" if self.padding_merged else "")


@dataclasses.dataclass
class FoldResult:
    """The inference model and its :class:`FoldReport`."""

    model: keras.Model
    report: FoldReport


def _tensor_refs(structure):
    """Every serialized tensor reference (dicts of class ``__keras_tensor__``) inside a node's args/kwargs."""
    if isinstance(structure, dict):
        if structure.get("class_name") == "__keras_tensor__":
            return [structure]
        return [ref for value in structure.values() for ref in _tensor_refs(value)]
    if isinstance(structure, (list, tuple)):
        return [ref for value in structure for ref in _tensor_refs(value)]
    return []


def _history(ref):
    name, node, index = ref["config"]["keras_history"]
    return name, node, index


def _channel_axis(layer):
    """The output channel axis of a foldable layer, as a positive index of its 4-D (or 2-D) output."""
    if isinstance(layer, keras.layers.Dense):
        return len(layer.output.shape) - 1
    return 1 if layer.data_format == "channels_first" else 3


def _kernel_attribute(layer):
    """The kernel a following BN scales, or None if ``layer`` is not one BN folds into."""
    return next((attribute for kind, attribute in FOLDABLE if isinstance(layer, kind)), None)


def _why_not_foldable(bn, ref, live, entries, consumers):
    """None if ``bn`` (whose single input is ``ref``, or None) folds into its producer, else why not."""
    if ref is None:
        return "it has several inputs or is called more than once"
    producer_name, node, index = _history(ref)
    producer = live.get(producer_name)
    if _kernel_attribute(producer) is None:
        return "its input is not a Conv2D, DepthwiseConv2D, SeparableConv2D or Dense output"
    if len(entries[producer_name]["inbound_nodes"]) != 1 or (node, index) != (0, 0):
        return f"{producer_name} is called more than once"
    if len(consumers[producer_name]) != 1:
        return f"{producer_name}'s output also feeds {', '.join(sorted(set(consumers[producer_name]) - {bn.name}))}"
    if keras.activations.serialize(producer.activation) != "linear":
        return f"{producer_name} has a built-in activation before the BN"
    axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
    if axis is None or axis % len(producer.output.shape) != _channel_axis(producer):
        return f"its axis {bn.axis} is not {producer_name}'s channel axis"
    return None


def _same_padding(size, kernel, stride):
    """(before, after) zeros TensorFlow's "same" padding adds on one axis of ``size`` pixels."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pads_like_same(padding_layer, consumer):
    """Whether ``padding_layer``'s zeros are exactly what ``consumer`` (a "valid" convolution) would add
    itself with padding="same", at the static input size the padding layer sees."""
    if not isinstance(consumer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
        return False
    if consumer.padding != "valid" or tuple(consumer.dilation_rate) != (1, 1):
        return False
    if padding_layer.data_format != consumer.data_format:
        return False
    shape = padding_layer.input.shape
    sizes = shape[2:4] if padding_layer.data_format == "channels_first" else shape[1:3]
    if any(size is None for size in sizes):
        return False
    wanted = tuple(_same_padding(size, k, s) for size, k, s in zip(sizes, consumer.kernel_size, consumer.strides))
    return tuple(tuple(p) for p in padding_layer.padding) == wanted


def _folded_weights(producer, bn):
    """The producer's weights with ``bn`` folded in: kernels scaled per output channel, a bias added."""
    variance = np.asarray(bn.moving_variance.numpy(), np.float64)
    scale = 1.0 / np.sqrt(variance + bn.epsilon)
    if bn.scale:
        scale = scale * np.asarray(bn.gamma.numpy(), np.float64)
    shift = -np.asarray(bn.moving_mean.numpy(), np.float64) * scale
    if bn.center:
        shift = shift + np.asarray(bn.beta.numpy(), np.float64)
    values = {}
    for weight in producer.weights:
        values[weight.path.rsplit("/", 1)[-1]] = np.asarray(weight.numpy(), np.float64)
    kernel = values[_kernel_attribute(producer)]
    if isinstance(producer, keras.layers.DepthwiseConv2D):  # (kh, kw, C, M): output channel c * M + m
        kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * scale
    bias = values.get("bias", np.zeros_like(scale)) * scale + shift
    dtype = producer.weights[0].dtype
    if isinstance(producer, keras.layers.SeparableConv2D):
        return [values["depthwise_kernel"].astype(dtype), kernel.astype(dtype), bias.astype(dtype)]
    return [kernel.astype(dtype), bias.astype(dtype)]


def _functional_config(model):
    """A deep copy of the configuration of functional ``model``; ValueError for any other kind of model."""
    config = None
    if isinstance(model, keras.Model):
        try:
            config = model.get_config()
        except NotImplementedError:
            pass
    if not isinstance(config, dict) or "output_layers" not in config or "layers" not in config:
        validation.fail("model", type(model).__name__, "a built functional or Sequential Keras model")
    return copy.deepcopy(config)


def fold_batch_norms(model, name=None):
    """A new inference model: each foldable BatchNormalization folded into its producer, dropout removed.

    A BatchNormalization folds when its only input is the output of a Conv2D, DepthwiseConv2D,
    SeparableConv2D or Dense layer (called once, linear activation, feeding nothing else) and it
    normalizes that layer's channel axis. The others stay, each with its reason in the report.
    A ZeroPadding2D whose only consumer is a "valid" Conv2D / DepthwiseConv2D, and whose zeros
    are exactly TensorFlow's "same" padding for that convolution at the static input size (as
    keras.applications pads before strided convolutions), is dropped and the convolution pads
    itself: the same zeros without a separate pass over the tensor (measured in
    ``benchmarks/op_profile.py``). Layers inside composite layers (e.g. ``kl.InvertedResidual``)
    are not looked into.

    Args:
        model: A functional (or Sequential) Keras 3 model, e.g. a builder's output after training.
        name: Name of the new model (default: the model's own).

    Returns:
        :class:`FoldResult`: ``model`` (a new functional model; the original is unchanged) and ``report``.

    Raises:
        ValueError: ``model`` is not a built functional or Sequential Keras model.
    """
    if isinstance(model, keras.Sequential) and model.built and model.inputs:
        model = keras.Model(model.inputs, model.outputs, name=model.name)  # its functional twin
    config = _functional_config(model)
    live = {layer.name: layer for layer in model.layers}
    plan = _plan_folds(config, live)
    _rewire_config(config, plan)
    config["name"] = name or model.name
    config.pop("settings", None)  # a detector's: given back to the folded graph below
    folded = keras.Model.from_config(config)
    for layer in folded.layers:
        if layer.name in plan.producers:
            layer.set_weights(_folded_weights(live[layer.name], plan.producers[layer.name]))
        elif layer.weights:
            set_layer_weights(layer, live[layer.name].get_weights())
    from keras_lightnets.detection.detector import Detector, is_detector

    if is_detector(model):  # the same detector (settings, predict) on the folded layers
        folded = Detector(inputs=folded.inputs[0], outputs=folded.output, name=folded.name, settings=model.settings)
    return FoldResult(folded, plan.report)


@dataclasses.dataclass
class _FoldPlan:
    """What :func:`fold_batch_norms` changes in a model's configuration.

    Attributes:
        redirect: Removed layer name -> the tensor reference that replaces its output.
        producers: Producer name -> the BatchNormalization folded into it.
        same_padding: Convolutions that take over the ZeroPadding2D before them.
        report: The :class:`FoldReport`.
    """

    redirect: dict
    producers: dict
    same_padding: set
    report: "FoldReport"


def _plan_folds(config, live):
    """Decides, layer by layer, what is removed (dropout), merged (padding) or folded (batch norms)."""
    entries = {entry["name"]: entry for entry in config["layers"]}
    consumers = {name: [] for name in entries}
    for entry in config["layers"]:
        for node in entry["inbound_nodes"]:
            for ref in _tensor_refs(node):
                consumers[_history(ref)[0]].append(entry["name"])

    def single_input(entry):
        refs = [ref for node in entry["inbound_nodes"] for ref in _tensor_refs(node)]
        return refs[0] if len(entry["inbound_nodes"]) == 1 and len(refs) == 1 else None

    plan = _FoldPlan({}, {}, set(), FoldReport([], [], []))
    for entry in config["layers"]:
        layer = live[entry["name"]]
        ref = single_input(entry)
        if isinstance(layer, IDENTITY_AT_INFERENCE) and ref is not None:
            plan.redirect[layer.name] = ref
            plan.report.removed.append(layer.name)
        elif (isinstance(layer, keras.layers.ZeroPadding2D) and ref is not None and len(consumers[layer.name]) == 1
              and len(entries[consumers[layer.name][0]]["inbound_nodes"]) == 1
              and _pads_like_same(layer, live[consumers[layer.name][0]])):
            plan.redirect[layer.name] = ref
            plan.same_padding.add(consumers[layer.name][0])
            plan.report.padding_merged.append(layer.name)
        elif isinstance(layer, keras.layers.BatchNormalization):
            why = _why_not_foldable(layer, ref, live, entries, consumers)
            if why is None:
                plan.redirect[layer.name] = ref
                plan.producers[_history(ref)[0]] = layer
                plan.report.folded.append(layer.name)
            else:
                plan.report.left.append((layer.name, why))
    return plan


def _rewire_config(config, plan):
    """Drops the planned layers from ``config`` and points their consumers (and the outputs) past them."""
    redirect = plan.redirect

    def resolve(ref):
        while _history(ref)[0] in redirect:
            ref = redirect[_history(ref)[0]]
        return ref

    def rewire(structure):
        if isinstance(structure, dict):
            if structure.get("class_name") == "__keras_tensor__":
                return copy.deepcopy(resolve(structure))
            return {key: rewire(value) for key, value in structure.items()}
        if isinstance(structure, (list, tuple)):
            return type(structure)(rewire(value) for value in structure)
        return structure

    kept = []
    for entry in config["layers"]:
        if entry["name"] in redirect:
            continue
        entry["inbound_nodes"] = rewire(entry["inbound_nodes"])
        if entry["name"] in plan.producers:
            entry["config"]["use_bias"] = True
        if entry["name"] in plan.same_padding:
            entry["config"]["padding"] = "same"
        kept.append(entry)
    config["layers"] = kept

    def resolve_endpoint(endpoint):
        ref = resolve({"class_name": "__keras_tensor__", "config": {"keras_history": list(endpoint)}})
        return list(_history(ref))

    outputs = config["output_layers"]
    if isinstance(outputs, dict):  # named outputs (a detector's cls_logits / bbox_regression)
        config["output_layers"] = {key: resolve_endpoint(o) for key, o in outputs.items()}
    else:
        config["output_layers"] = [resolve_endpoint(o) for o in outputs] if isinstance(outputs[0], list) \
            else resolve_endpoint(outputs)


def inference_model(model, name=None):
    """The model for serving: :func:`fold_batch_norms`' model (BN folded, dropout removed).

    Outputs equal ``model(x, training=False)`` up to float32 rounding; training keeps the
    original model (folded BNs have no statistics left to update).

    Args:
        model: A functional (or Sequential) Keras 3 model.
        name: Name of the new model (default: the model's own).

    Returns:
        A new functional Keras model of stock layers.
    """
    return fold_batch_norms(model, name=name).model


def serving_model(model):
    """The model an export or an evaluation runs: :func:`inference_model` of a functional or Sequential
    model, the model itself for any other kind (a subclassed model has no graph to fold).

    Args:
        model: A Keras 3 model.

    Returns:
        A Keras model computing what ``model(x, training=False)`` computes.
    """
    try:
        return inference_model(model)
    except ValueError:
        return model
