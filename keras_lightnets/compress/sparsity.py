"""Measured sparsity of a model's weights: per layer and in total, nothing assumed."""

import dataclasses

import numpy as np

# Weights that count as "kernels": what pruning can zero (depthwise kernels included, so they show as dense).
KERNEL_NAMES = ("kernel", "depthwise_kernel")


@dataclasses.dataclass(frozen=True)
class LayerSparsity:
    """Zeros in one layer's kernel.

    Attributes:
        name: Layer name.
        kind: Layer class ("Conv2D", "DepthwiseConv2D", "Dense").
        size: Kernel elements.
        zeros: Elements exactly 0.
    """

    name: str
    kind: str
    size: int
    zeros: int

    @property
    def sparsity(self):
        """Fraction of zeros in [0, 1]."""
        return self.zeros / self.size if self.size else 0.0


@dataclasses.dataclass(frozen=True)
class SparsityReport:
    """Sparsity of every kernel of a model.

    Attributes:
        layers: One :class:`LayerSparsity` per layer with a kernel, in model order.
        total_params: All weights of the model (kernels, biases, BN, ...).
        total_zeros: Weights exactly 0 over the whole model.
    """

    layers: tuple
    total_params: int
    total_zeros: int

    @property
    def kernel_sparsity(self):
        """Fraction of zeros over all kernels."""
        size = sum(layer.size for layer in self.layers)
        return sum(layer.zeros for layer in self.layers) / size if size else 0.0

    @property
    def model_sparsity(self):
        """Fraction of zeros over every weight of the model."""
        return self.total_zeros / self.total_params if self.total_params else 0.0

    def by_kind(self):
        """dict layer class -> (kernel elements, zeros)."""
        totals = {}
        for layer in self.layers:
            size, zeros = totals.get(layer.kind, (0, 0))
            totals[layer.kind] = (size + layer.size, zeros + layer.zeros)
        return totals

    def format(self, per_layer=False):
        """A plain-text table: per layer class (and per layer when asked), then totals."""
        lines = [f"{'layer class':<18}{'kernel weights':>16}{'zeros':>12}{'sparsity':>10}"]
        for kind, (size, zeros) in self.by_kind().items():
            lines.append(f"{kind:<18}{size:>16,}{zeros:>12,}{zeros / size:>10.1%}")
        if per_layer:
            lines.append("")
            lines.extend(f"{layer.name:<34}{layer.kind:<18}{layer.sparsity:>8.1%}" for layer in self.layers)
        lines.append(f"kernels: {self.kernel_sparsity:.1%} zeros; whole model: {self.total_zeros:,} of "
                     f"{self.total_params:,} weights ({self.model_sparsity:.1%})")
        return "\n".join(lines)


def _walk(model):
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            yield from _walk(layer)
        else:
            yield layer


def sparsity_report(model):
    """Counts the zeros in a model's weights.

    Args:
        model: Keras 3 or tf_keras model (e.g. the output of
            :func:`keras_lightnets.compress.strip`).

    Returns:
        :class:`SparsityReport`.
    """
    layers = []
    total_params = total_zeros = 0
    for layer in _walk(model):
        for weight in layer.weights:
            values = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight)
            total_params += values.size
            total_zeros += int(np.count_nonzero(values == 0))
            short_name = weight.name.split("/")[-1].split(":")[0]
            if short_name in KERNEL_NAMES:
                layers.append(LayerSparsity(layer.name, type(layer).__name__, values.size,
                                            int(np.count_nonzero(values == 0))))
    return SparsityReport(tuple(layers), total_params, total_zeros)
