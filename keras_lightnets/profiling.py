"""Cost analysis: parameters and multiply-adds (MACs) per layer and per layer kind.

Also prices the same network with every depthwise + pointwise pair replaced
by one standard k x k convolution (same input channels, output channels and
stride), which measures the MobileNet claim: separable / standard =
1/N + 1/k^2 per pair.

What counts as a multiply-add: every one of convolutions and dense layers,
one accumulate per input element of average pooling, and one multiply per
output element of ``Multiply`` (squeeze-excite gating). Batch norm (folded
into the convolution at inference), activations, additions, padding and
max pooling count zero. With this rule MobileNetV1-224 is 568.8M,
MobileNetV2-224 300.8M, EfficientNet-B0 390.5M and -B1 695.1M, against the
papers' 569M / 300M / 0.39B / 0.70B.
"""

import dataclasses
import math
from typing import Dict, List, Optional, Tuple

import keras

from keras_lightnets import keras_internals, validation
from keras_lightnets.graph import square_input_shape, static_copy

KINDS = ("standard_conv", "depthwise", "pointwise", "separable", "dense", "pooling", "elementwise", "other")
# Layers a depthwise output passes through unchanged in shape on its way to the pointwise conv.
_TRANSPARENT = (keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.ReLU, keras.layers.Multiply,
                keras.layers.Dropout, keras.layers.Identity, keras.layers.LeakyReLU)


@dataclasses.dataclass
class LayerCost:
    """Cost of one layer.

    Attributes:
        name: Layer name (``outer/inner`` inside composite layers).
        kind: One of ``KINDS``.
        output_shape: Output shape without the batch dimension.
        params: All parameters (trainable and not).
        macs: Multiply-adds for one image.
    """

    name: str
    kind: str
    output_shape: Tuple
    params: int
    macs: int


@dataclasses.dataclass
class Profile:
    """Result of :func:`profile`.

    Attributes:
        model_name: Name of the profiled model.
        input_shape: Input shape used (without batch).
        params: Total parameters (trainable + non-trainable).
        trainable_params: Trainable parameters.
        macs: Multiply-adds per image.
        rows: Per-layer :class:`LayerCost` in graph order.
        separable_pairs: Depthwise + pointwise pairs found.
        standard_params: Parameters with every pair replaced by a standard conv.
        standard_macs: MACs with every pair replaced by a standard conv.
    """

    model_name: str
    input_shape: Tuple
    params: int
    trainable_params: int
    macs: int
    rows: List[LayerCost]
    separable_pairs: int
    standard_params: int
    standard_macs: int

    @property
    def by_kind(self) -> Dict[str, Dict[str, int]]:
        """kind -> {"layers", "params", "macs"} for kinds that occur."""
        table = {}
        for row in self.rows:
            entry = table.setdefault(row.kind, {"layers": 0, "params": 0, "macs": 0})
            entry["layers"] += 1
            entry["params"] += row.params
            entry["macs"] += row.macs
        return {kind: table[kind] for kind in KINDS if kind in table}

    @property
    def macs_ratio(self):
        """MACs of this network / MACs of its standard-convolution twin."""
        return self.macs / self.standard_macs if self.standard_macs else 1.0

    @property
    def params_ratio(self):
        """Parameters of this network / parameters of its standard-convolution twin."""
        return self.params / self.standard_params if self.standard_params else 1.0

    def to_dict(self):
        """Plain-Python summary (JSON serializable)."""
        return {
            "model": self.model_name, "input_shape": list(self.input_shape), "params": self.params,
            "trainable_params": self.trainable_params, "macs": self.macs, "by_kind": self.by_kind,
            "separable_pairs": self.separable_pairs, "standard_params": self.standard_params,
            "standard_macs": self.standard_macs, "macs_ratio": self.macs_ratio, "params_ratio": self.params_ratio,
            "layers": [dataclasses.asdict(row) for row in self.rows],
        }

    def summary_lines(self):
        """Summary table (totals, per kind, standard-conv comparison) as text lines."""
        lines = [
            f"{self.model_name}  input {format_shape(self.input_shape)}",
            f"params {self.params:,} (trainable {self.trainable_params:,})   MACs {human(self.macs)}",
            "",
            f"{'kind':<14}{'layers':>7}{'params':>14}{'MACs':>12}{'MACs %':>8}",
        ]
        for kind, entry in self.by_kind.items():
            share = 100.0 * entry["macs"] / self.macs if self.macs else 0.0
            lines.append(f"{kind:<14}{entry['layers']:>7}{entry['params']:>14,}{human(entry['macs']):>12}{share:>7.1f}%")
        lines += [
            "",
            f"same network with standard convolutions ({self.separable_pairs} depthwise+pointwise pairs replaced):",
            f"  params {self.standard_params:,}   MACs {human(self.standard_macs)}",
            f"  separable / standard: MACs {self.macs_ratio:.3f} ({1 / self.macs_ratio:.1f}x fewer), "
            f"params {self.params_ratio:.3f} ({1 / self.params_ratio:.1f}x fewer)",
        ]
        return lines

    def layer_lines(self, top=None):
        """Per-layer table as text lines; ``top`` keeps the N most expensive layers."""
        rows = [r for r in self.rows if r.params or r.macs]
        if top is not None:
            rows = sorted(rows, key=lambda r: r.macs, reverse=True)[:top]
        width = max([len(r.name) for r in rows] + [5])
        lines = [f"{'layer':<{width}}  {'kind':<14}{'output':>16}{'params':>12}{'MACs':>12}"]
        lines += [
            f"{r.name:<{width}}  {r.kind:<14}{format_shape(r.output_shape):>16}{r.params:>12,}{human(r.macs):>12}"
            for r in rows
        ]
        return lines

    def __str__(self):
        return "\n".join(self.summary_lines())

    def _repr_html_(self):
        kinds = "".join(
            f"<tr><td>{k}</td><td>{e['layers']}</td><td>{e['params']:,}</td><td>{human(e['macs'])}</td></tr>"
            for k, e in self.by_kind.items()
        )
        return (
            f"<b>{self.model_name}</b> input {format_shape(self.input_shape)}: "
            f"{self.params:,} params, {human(self.macs)} MACs<br>"
            f"<table><tr><th>kind</th><th>layers</th><th>params</th><th>MACs</th></tr>{kinds}</table>"
            f"Standard-convolution twin: {self.standard_params:,} params, {human(self.standard_macs)} MACs "
            f"(separable/standard MACs {self.macs_ratio:.3f}, params {self.params_ratio:.3f})"
        )


def human(count):
    """Formats a count as 569.4M / 1.02G / 12.3K."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.2f}{unit}"
    return str(count)


def format_shape(shape):
    """Formats a shape without the batch dimension as 7x7x1024."""
    return "x".join("?" if d is None else str(d) for d in shape)


def _shape(tensor):
    return tuple(tensor.shape)


def _spatial(shape, data_format):
    """Product of the spatial dims of a batched 4D shape."""
    dims = shape[1:3] if data_format == "channels_last" else shape[2:4]
    return math.prod(dims)


def _channels(shape, data_format):
    return shape[-1] if data_format == "channels_last" else shape[1]


def _layer_cost(layer, in_shape, out_shape):
    """(kind, macs) of one stock layer from its batched input/output shapes."""
    fmt = getattr(layer, "data_format", "channels_last")
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = _channels(in_shape, fmt) // layer.groups
        kind = "pointwise" if (kh, kw) == (1, 1) and layer.groups == 1 else "standard_conv"
        return kind, _spatial(out_shape, fmt) * kh * kw * cin * layer.filters
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return "depthwise", _spatial(out_shape, fmt) * kh * kw * _channels(out_shape, fmt)
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw = layer.kernel_size
        mid = _channels(in_shape, fmt) * layer.depth_multiplier
        return "separable", _spatial(out_shape, fmt) * (kh * kw * mid + mid * layer.filters)
    if isinstance(layer, keras.layers.Dense):
        return "dense", math.prod(in_shape[1:]) * layer.units
    if isinstance(layer, keras.layers.GlobalAveragePooling2D):
        return "pooling", math.prod(in_shape[1:])
    if isinstance(layer, keras.layers.AveragePooling2D):
        return "pooling", math.prod(out_shape[1:]) * math.prod(layer.pool_size)
    if isinstance(layer, keras.layers.Multiply):
        return "elementwise", math.prod(out_shape[1:])
    return "other", 0


def _record(rows, prefix, layer, in_shape, out_shape):
    kind, macs = _layer_cost(layer, in_shape, out_shape)
    rows.append(LayerCost(prefix + layer.name, kind, tuple(out_shape[1:]), layer.count_params(), int(macs)))


def _composite_rows(layer, in_shape, prefix):
    """Rows of a composite layer that exposes ``_wire(x, call)`` (ours)."""
    rows, shapes = [], {}

    def call(sublayer, x):
        out = sublayer(x)
        first = x[0] if isinstance(x, (list, tuple)) else x
        shapes[id(sublayer)] = (_shape(first), _shape(out))
        _record(rows, f"{prefix}{layer.name}/", sublayer, _shape(first), _shape(out))
        return out

    layer._wire(keras.KerasTensor(tuple(in_shape)), call=call)
    return rows, shapes


@dataclasses.dataclass
class _Pair:
    depthwise_in: Tuple
    depthwise_out: Tuple
    kernel: Tuple
    filters: int
    data_format: str
    separable_params: int
    separable_macs: int

    def standard(self):
        kh, kw = self.kernel
        cin = _channels(self.depthwise_in, self.data_format)
        params = kh * kw * cin * self.filters
        return params, _spatial(self.depthwise_out, self.data_format) * params


def _is_pointwise(conv):
    """A plain 1x1, stride-1, ungrouped convolution."""
    return tuple(conv.kernel_size) == (1, 1) and tuple(conv.strides) == (1, 1) and conv.groups == 1


def _consumers(layer, members):
    return [operation for operation in keras_internals.outbound_operations(layer) if operation in members]


def _find_pointwise(depthwise, members):
    """The 1x1 convolution a depthwise layer feeds, through shape-preserving layers."""
    frontier, seen = _consumers(depthwise, members), set()
    while frontier:
        layer = frontier.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.layers.Conv2D) and _is_pointwise(layer):
            return layer
        if isinstance(layer, _TRANSPARENT):
            frontier += _consumers(layer, members)
    return None


def _kernel_params(layer, slot=0):
    return int(math.prod(layer.weights[slot].shape))


def _walk(model, prefix, rows, pairs):
    members = set(model.layers)
    shapes = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        in_shape = _shape(keras.tree.flatten(layer.input)[0])
        out_shape = _shape(keras.tree.flatten(layer.output)[0])
        shapes[id(layer)] = (in_shape, out_shape)
        if isinstance(layer, keras.Model):
            _walk(static_copy(layer, in_shape[1:]), f"{prefix}{layer.name}/", rows, pairs)
        elif hasattr(layer, "_wire") and getattr(layer, "sublayers", None):
            sub_rows, sub_shapes = _composite_rows(layer, in_shape, prefix)
            rows += sub_rows
            for dw_role, pw_role in getattr(layer, "depthwise_pointwise_pairs", ()):
                if dw_role in layer.sublayers:  # a block may lack an optional depthwise
                    dw, pw = layer.sublayers[dw_role], layer.sublayers[pw_role]
                    pairs.append(_pair(dw, pw, sub_shapes[id(dw)], sub_shapes[id(pw)]))
        else:
            _record(rows, prefix, layer, in_shape, out_shape)
            if isinstance(layer, keras.layers.SeparableConv2D):
                pairs.append(_separable2d_pair(layer, in_shape, out_shape))
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            pointwise = _find_pointwise(layer, members)
            if pointwise is not None:
                pairs.append(_pair(layer, pointwise, shapes[id(layer)], shapes[id(pointwise)]))


def _pair(depthwise, pointwise, dw_shapes, pw_shapes):
    fmt = depthwise.data_format
    dw_macs = _layer_cost(depthwise, *dw_shapes)[1]
    pw_macs = _layer_cost(pointwise, *pw_shapes)[1]
    return _Pair(
        dw_shapes[0], dw_shapes[1], tuple(depthwise.kernel_size), pointwise.filters, fmt,
        _kernel_params(depthwise) + _kernel_params(pointwise), dw_macs + pw_macs,
    )


def _separable2d_pair(layer, in_shape, out_shape):
    fmt = layer.data_format
    mid_shape = (out_shape[:-1] + (in_shape[-1],)) if fmt == "channels_last" else out_shape
    return _Pair(
        in_shape, mid_shape, tuple(layer.kernel_size), layer.filters, fmt,
        _kernel_params(layer, 0) + _kernel_params(layer, 1), _layer_cost(layer, in_shape, out_shape)[1],
    )


def profile(model, input_size: Optional[int] = None):
    """Parameters and multiply-adds of a Keras model, per layer and per kind.

    Args:
        model: A functional or sequential ``keras.Model`` (nested models and
            our composite layers are expanded).
        input_size: Square input resolution (int >= 1) to price a model built
            with ``None`` spatial dimensions, or to re-price a fixed one at
            another size. Required when the model's input size is unknown.

    Returns:
        :class:`Profile`.
    """
    input_shape = tuple(model.inputs[0].shape[1:])
    if input_size is not None:
        validation.check_number("input_size", input_size, minimum=1, integer=True)
        input_shape = square_input_shape(model, input_size)
    elif None in input_shape:
        validation.fail("input_size", input_size, f"an int >= 1 because {model.name!r} has input shape {input_shape}")
    static = static_copy(model, input_shape)
    rows, pairs = [], []
    _walk(static, "", rows, pairs)
    macs = sum(r.macs for r in rows)
    params = model.count_params()
    separable_params = sum(p.separable_params for p in pairs)
    separable_macs = sum(p.separable_macs for p in pairs)
    standard = [p.standard() for p in pairs]
    trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
    return Profile(
        model_name=model.name, input_shape=input_shape, params=params, trainable_params=trainable, macs=macs,
        rows=rows, separable_pairs=len(pairs),
        standard_params=params - separable_params + sum(p for p, _ in standard),
        standard_macs=macs - separable_macs + sum(m for _, m in standard),
    )
