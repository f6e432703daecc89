"""What each family is checked against: reference parameter counts and reference outputs, as data.

The family-contract suite (``test_family_contract.py``) runs every row here; a new family joins by
adding its rows. Three kinds of reference:

- ``Twin``: keras.applications' own model. Random signal-keeping weights are drawn into it and
  ported into ours (:func:`helpers.assert_ported`); the outputs agree within 1e-4.
- ``TimmLogits``: timm's MobileNetV4 with name-derived weights, logits stored in
  ``tests/data/mobilenet_v4_reference.npz`` by ``tools/make_mobilenet_v4_reference.py`` (torch side
  environment, measured once); the same state dict is converted into ours.
- ``TorchvisionLogits``: torchvision's MobileNetV3-Large with name-derived weights and measured
  batch-norm statistics, logits stored in ``tests/data/segmentation_reference.npz`` by
  ``tools/make_segmentation_reference.py`` (torch side environment, measured once).
- ``LiteLogits``: efficientnet-lite-pytorch with its real ImageNet checkpoints, logits stored in
  ``tests/data/efficientnet_lite_reference.npz`` by ``tools/make_lite_reference.py``; ours loads the
  same checkpoint from the installed package.
"""

import dataclasses
import importlib.util

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from helpers import assert_depends_on_input, assert_ported, images

TIMM_REFERENCE = "tests/data/mobilenet_v4_reference.npz"
TORCHVISION_REFERENCE = "tests/data/segmentation_reference.npz"
LITE_REFERENCE = "tests/data/efficientnet_lite_reference.npz"
LITE_SIZES = {0: 224, 1: 240, 2: 260}
SLOW = pytest.mark.slow
ZOO = pytest.mark.zoo
SIZE_224 = (224, 224, 3)


@dataclasses.dataclass(frozen=True)
class Counts:
    """A network's parameters as its reference counts them, and optionally its multiply-adds.

    ``total`` is Keras' ``count_params()`` (batch-norm statistics included), ``trainable`` torch's
    ``parameters()`` or Keras' trainable weights; either may be None where the reference gives one only.
    ``macs`` is the reference's count at the network's default resolution, within ``macs_tolerance``
    (relative); ``published_macs``, where given, is a published figure the network does not compute:
    ours must differ from it by more than the tolerance (docs/models.md says why). ``published_total``: a
    rounded published parameter count (batch-norm statistics included), within 1.5%. ``resolution``: the
    default input size the builder must pick.
    """

    builder: str
    arguments: dict
    total: int | None
    trainable: int | None = None
    macs: float | None = None
    macs_tolerance: float = 0.02
    published_macs: float | None = None
    published_total: float | None = None
    resolution: int | None = None
    marks: tuple = ()

    @property
    def id(self):
        return f"{self.builder}-" + "-".join(f"{key}={value}" for key, value in self.arguments.items())


@dataclasses.dataclass(frozen=True)
class Twin:
    """keras.applications' ``twin`` with random signal-keeping weights, ported into ours: same outputs.

    ``theirs`` and ``ours`` are each side's arguments (both get ``input_shape`` and
    ``classifier_activation=None``; keras.applications ``weights=None``). ``inputs``: "unit" images in
    [-1, 1], "pixels" in [0, 255], "normal" N(0, 1). ``calibration``: the batch the batch-norm statistics
    are set on: None (random images at the model's scale), "inputs" (the compared batch) or "pixels_normal"
    (255 * N(0, 1), EfficientNet's x / 255 rescale without ImageNet statistics). ``reference_input_layer``:
    compare from that layer of keras.applications' model (its own preprocessing skipped).
    """

    builder: str
    twin: str
    size: int
    theirs: dict = dataclasses.field(default_factory=dict)
    ours: dict = dataclasses.field(default_factory=dict)
    inputs: str = "unit"
    calibration: str | None = None
    reference_input_layer: str | None = None
    seed: int = 3
    marks: tuple = ()

    @property
    def id(self):
        arguments = "-".join(f"{key}={value}" for key, value in self.ours.items() if key != "include_preprocessing")
        return f"{self.twin}-{self.size}" + (f"-{arguments}" if arguments else "")

    def check(self):
        shape = (self.size, self.size, 3)
        reference = getattr(keras.applications, self.twin)(
            input_shape=shape, weights=None, classifier_activation=None, **self.theirs)
        ours = getattr(kl, self.builder)(input_shape=shape, classifier_activation=None, **self.ours)
        if self.inputs == "normal":
            x = np.random.default_rng(2).normal(0, 1, (2,) + shape).astype("float32")
        else:
            x = images((2,) + shape, **({"low": -1, "high": 1} if self.inputs == "unit" else {}))
        calibration = {
            None: None, "inputs": x,
            "pixels_normal": 255 * np.random.default_rng(3).normal(0, 1, (32,) + shape).astype("float32"),
        }[self.calibration]
        assert_ported(reference, ours, x, seed=self.seed, reference_input_layer=self.reference_input_layer,
                      calibration=calibration)


def _timm_tool():
    """tools/make_mobilenet_v4_reference.py: its synthetic_tensor and reference_inputs are numpy only."""
    spec = importlib.util.spec_from_file_location("mobilenet_v4_reference", "tools/make_mobilenet_v4_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


timm_tool = _timm_tool()


def timm_state_dict(case, output="logits"):
    """(name-derived timm state dict, timm's ``output`` on ``timm_tool.reference_inputs``) of a stored case.

    ``output`` is "logits", or "features" for the output-stride cases (the last feature map's first channels).
    """
    data = np.load(TIMM_REFERENCE)
    keys = [str(key) for key in data[f"{case}_keys"]]
    shapes = [tuple(int(d) for d in shape.split(",")) for shape in data[f"{case}_shapes"]]
    state = {key: timm_tool.synthetic_tensor(key, shape) for key, shape in zip(keys, shapes)}
    return state, data[f"{case}_{output}"]


@dataclasses.dataclass(frozen=True)
class TimmLogits:
    """timm's MobileNetV4 ``variant`` at ``size`` with name-derived weights: its stored logits = ours."""

    builder: str
    variant: str
    size: int
    marks: tuple = ()

    @property
    def id(self):
        return f"timm-{self.variant}-{self.size}"

    def check(self):
        from keras_lightnets.models import timm_weights

        state, expected = timm_state_dict(f"{self.variant}_{self.size}")
        assert_depends_on_input(expected)
        model = kl.MobileNetV4(self.variant, input_shape=(self.size, self.size, 3), classifier_activation=None)
        timm_weights.load_timm_state_dict(model, state)
        got = model.predict(timm_tool.reference_inputs(self.size).astype("float32"), verbose=0)
        assert np.abs(got - expected).max() < 1e-4


def torchvision_state_dict(model_name):
    """The name-derived state dict of a stored torchvision model, its measured running statistics included."""
    data = np.load(TORCHVISION_REFERENCE)
    keys = [str(key) for key in data[f"{model_name}_keys"]]
    shapes = [tuple(int(d) for d in shape.split(",")) for shape in data[f"{model_name}_shapes"]]
    state = {key: timm_tool.synthetic_tensor(key, shape) for key, shape in zip(keys, shapes)}
    prefix = f"{model_name}_statistics_"
    state.update({key[len(prefix):]: data[key] for key in data.files if key.startswith(prefix)})
    return state


def torchvision_outputs(model_name, size):
    """torchvision's stored outputs of ``model_name`` on ``timm_tool.reference_inputs(size)``."""
    return np.load(TORCHVISION_REFERENCE)[f"{model_name}_{size}_logits"]


@dataclasses.dataclass(frozen=True)
class TorchvisionLogits:
    """torchvision's ``mobilenet_v3_large`` at ``size`` with name-derived weights: its stored logits = ours."""

    builder: str
    size: int
    marks: tuple = ()

    @property
    def id(self):
        return f"torchvision-mobilenet_v3_large-{self.size}"

    def check(self):
        from keras_lightnets.models.torchvision_weights import load_torchvision_state_dict

        expected = torchvision_outputs("mobilenet_v3_large", self.size)
        assert_depends_on_input(expected)
        model = kl.TorchvisionMobileNetV3Large(input_shape=(self.size, self.size, 3), classifier_activation=None)
        load_torchvision_state_dict(model, torchvision_state_dict("mobilenet_v3_large"))
        got = model.predict(timm_tool.reference_inputs(self.size).astype("float32"), verbose=0)
        assert np.abs(got - expected).max() < 1e-4


@dataclasses.dataclass(frozen=True)
class LiteLogits:
    """The reference implementation's logits with the real Lite``phi`` checkpoint = ours with the same file."""

    builder: str
    phi: int
    marks: tuple = ()

    @property
    def id(self):
        return f"lite{self.phi}-checkpoint"

    def check(self):
        pytest.importorskip("skimage", reason="the reference photo comes from scikit-image (dev extra)")
        stored = np.load(LITE_REFERENCE)[f"lite{self.phi}"]
        assert np.abs(stored[0] - stored[1]).max() > 1.0  # the reference depends on its input
        model = kl.EfficientNetLite(self.phi, weights="imagenet", classifier_activation=None)
        # tools/make_lite_reference.py's two images are the timm tool's: chelsea's center crop and seeded noise.
        got = model.predict(timm_tool.reference_inputs(LITE_SIZES[self.phi]).astype("float32"), verbose=0)
        assert np.abs(got - stored).max() < 1e-4


def _timm(variant, resolution, trainable, macs, marks=()):
    return Counts("MobileNetV4", {"variant": variant}, None, trainable, macs=macs, macs_tolerance=5e-3,
                  resolution=resolution, marks=marks)


def _lite(phi, published_total, trainable, macs, marks=()):
    return Counts("EfficientNetLite", {"phi": phi}, None, trainable, macs=macs, macs_tolerance=1e-3,
                  published_total=published_total, marks=marks)


# keras 3.15.1, weights=None, 1000 classes: (total, trainable), read from keras.applications' own models
# (../shared/REFERENCE.md); timm 1.0.31 and efficientnet-lite-pytorch 0.1.0 (torch 2.13 CPU, measured once):
# sum(p.numel() for p in model.parameters()) and multiply-adds at the default resolution (FlopCounterMode / 2).
COUNTS = [
    Counts("MobileNetV1", {}, 4_253_864, 4_231_976),
    Counts("MobileNetV1", {"alpha": 0.75}, 2_601_976),
    Counts("MobileNetV1", {"alpha": 0.5}, 1_342_536),
    Counts("MobileNetV1", {"alpha": 0.25}, 475_544),
    Counts("MobileNetV2", {}, 3_538_984, 3_504_872),
    Counts("MobileNetV2", {"alpha": 0.35}, 1_691_208),
    Counts("MobileNetV2", {"alpha": 1.4}, 6_156_712),
    Counts("Xception", {}, 22_910_480, 22_855_952),
    Counts("EfficientNet", {"phi": 0}, 5_330_571, 5_288_548),
    Counts("EfficientNet", {"phi": 1}, 7_856_239, 7_794_184),
    Counts("EfficientNet", {"phi": 2}, 9_177_569, 9_109_994),
    Counts("EfficientNet", {"phi": 3}, 12_320_535, 12_233_232),
    Counts("EfficientNet", {"phi": 4}, 19_466_823, 19_341_616),
    Counts("EfficientNet", {"phi": 5}, 30_562_527, 30_389_784),
    Counts("EfficientNet", {"phi": 6}, 43_265_143, 43_040_704),
    Counts("EfficientNet", {"phi": 7}, 66_658_687, 66_347_960),
    # MobileNetV3 (dynamic input size by default): keras.applications' table of multiply-adds at 224; for Small
    # (66M / 65M) the architecture it builds computes 57.1M / 52.3M (timm: 56.5M / 52.3M).
    Counts("MobileNetV3Small", {"alpha": 0.75, "input_shape": SIZE_224}, 2_051_552, macs=44e6),
    Counts("MobileNetV3Small", {"alpha": 0.75, "minimalistic": True}, 1_742_192),
    Counts("MobileNetV3Small", {"input_shape": SIZE_224}, 2_554_968, 2_542_856, macs=57.1e6, published_macs=66e6),
    Counts("MobileNetV3Small", {"minimalistic": True, "input_shape": SIZE_224}, 2_056_848, macs=52.3e6, published_macs=65e6),
    Counts("MobileNetV3Large", {"alpha": 0.75, "input_shape": SIZE_224}, 4_012_616, macs=155e6),
    Counts("MobileNetV3Large", {"alpha": 0.75, "minimalistic": True}, 3_069_400),
    Counts("MobileNetV3Large", {"input_shape": SIZE_224}, 5_507_432, 5_483_032, macs=217e6),
    Counts("MobileNetV3Large", {"minimalistic": True, "input_shape": SIZE_224}, 3_948_688, macs=209e6),
    # EfficientNetV2: the paper's multiply-adds (arXiv 2104.00298 Tables 4 and 7); S, M, L compute 8.39B / 24.6B /
    # 56.2B, not the published 8.8B / 24B / 53B (timm: 8.37 / 24.6 / 56.1).
    Counts("EfficientNetV2", {"variant": "b0"}, 7_200_312, 7_139_704, macs=0.72e9),
    Counts("EfficientNetV2", {"variant": "b1"}, 8_212_124, 8_141_052, macs=1.2e9, marks=(SLOW,)),
    Counts("EfficientNetV2", {"variant": "b2"}, 10_178_374, 10_096_086, macs=1.7e9, marks=(SLOW,)),
    Counts("EfficientNetV2", {"variant": "b3"}, 14_467_622, 14_358_406, macs=3.0e9, marks=(SLOW,)),
    Counts("EfficientNetV2", {"variant": "s"}, 21_612_360, 21_458_488, macs=8.39e9, published_macs=8.8e9),
    Counts("EfficientNetV2", {"variant": "m"}, 54_431_388, 54_139_356, macs=24.6e9, published_macs=24e9, marks=(SLOW,)),
    Counts("EfficientNetV2", {"variant": "l"}, 119_027_848, 118_515_272, macs=56.2e9, published_macs=53e9, marks=(SLOW,)),
    # MobileNetV4: timm's trainable parameters and multiply-adds.
    _timm("small", 224, 3_774_024, 186.0e6, marks=(ZOO,)),
    _timm("medium", 256, 9_715_512, 1.08e9, marks=(SLOW,)),
    _timm("large", 384, 32_590_864, 6.38e9, marks=(SLOW,)),
    # EfficientNet-Lite: the reference implementation's; ours counts the global pooling too, which torch's
    # counter leaves out (0.1%). Published: rounded, batch-norm statistics included.
    _lite(0, 4.7e6, 4_652_008, 385.19e6), _lite(1, 5.4e6, 5_416_680, 600.19e6, marks=(SLOW,)),
    _lite(2, 6.1e6, 6_092_072, 859.74e6), _lite(3, 8.2e6, 8_197_096, 1383.32e6, marks=(SLOW,)),
    _lite(4, 13.0e6, 13_006_568, 2553.03e6, marks=(SLOW,)),
    # torchvision 0.29.1's mobilenet_v3_large (torch 2.14.1 CPU, tools/make_segmentation_reference.py): 5,483,032
    # parameters, 0.2166 G multiply-adds at 224 (FlopCounterMode / 2; ours counts the pooling layers too).
    Counts("TorchvisionMobileNetV3Large", {}, None, 5_483_032, macs=216.6e6, macs_tolerance=0.01, resolution=224),
]


def _twin(builder, twin, size, marks=(), **arguments):
    """keras.applications' convention for V1, V2 and Xception: our preprocessing off, inputs in [-1, 1]."""
    return Twin(builder, twin, size, theirs=arguments, ours={**arguments, "include_preprocessing": False}, marks=marks)


def _efficientnet(phi, size, marks=()):
    # With weights=None keras.applications' preprocessing is x / 255: raw images 255 * N(0, 1) put the batch-norm
    # statistics at the scale of the N(0, 1) tensors fed past it.
    return Twin("EfficientNet", f"EfficientNetB{phi}", size, ours={"phi": phi, "include_preprocessing": False},
                inputs="normal", calibration="pixels_normal", reference_input_layer="stem_conv_pad", marks=marks)


def _mobilenet_v3(kind, alpha, minimalistic, size, marks=()):
    arguments = {"alpha": alpha, "minimalistic": minimalistic}
    return Twin(f"MobileNetV3{kind}", f"MobileNetV3{kind}", size, theirs=arguments, ours=arguments, inputs="pixels",
                calibration="inputs", seed=5, marks=marks)


def _efficientnet_v2(variant, size, marks=()):
    return Twin("EfficientNetV2", f"EfficientNetV2{variant.upper()}", size, ours={"variant": variant}, inputs="pixels",
                calibration="inputs", seed=5, marks=marks)


PARITY = [
    _twin("MobileNetV1", "MobileNet", 160, alpha=1.0), _twin("MobileNetV1", "MobileNet", 128, alpha=0.5, marks=(ZOO,)),
    _twin("MobileNetV1", "MobileNet", 224, alpha=0.25), _twin("MobileNetV1", "MobileNet", 97, alpha=0.75),
    _twin("MobileNetV2", "MobileNetV2", 96, alpha=1.0), _twin("MobileNetV2", "MobileNetV2", 128, alpha=0.35, marks=(ZOO,)),
    _twin("MobileNetV2", "MobileNetV2", 113, alpha=1.4), _twin("MobileNetV2", "MobileNetV2", 160, alpha=0.75),
    _efficientnet(0, 96), _efficientnet(1, 113, marks=(SLOW,)), _efficientnet(3, 64, marks=(SLOW,)),
    _twin("Xception", "Xception", 131), _twin("Xception", "Xception", 150),
    # The published input sizes (EfficientNet from past keras.applications' rescale and normalization).
    _twin("MobileNetV1", "MobileNet", 224, marks=(SLOW,)), _twin("MobileNetV2", "MobileNetV2", 224, marks=(SLOW,)),
    _twin("Xception", "Xception", 299, marks=(SLOW,)),
    Twin("EfficientNet", "EfficientNetB0", 224, ours={"phi": 0, "include_preprocessing": False},
         reference_input_layer="stem_conv_pad", marks=(SLOW,)),
    _mobilenet_v3("Small", 1.0, False, 96, marks=(ZOO,)), _mobilenet_v3("Small", 0.75, True, 113),
    _mobilenet_v3("Small", 1.25, False, 128), _mobilenet_v3("Large", 1.0, True, 96),
    _mobilenet_v3("Large", 0.75, False, 131), _mobilenet_v3("Large", 1.5, False, 64),
    _efficientnet_v2("b0", 96, marks=(ZOO,)), _efficientnet_v2("s", 64, marks=(SLOW,)),
    _efficientnet_v2("b3", 113, marks=(SLOW,)), _efficientnet_v2("b1", 67, marks=(SLOW,)),
    _efficientnet_v2("b2", 80, marks=(SLOW,)), _efficientnet_v2("m", 64, marks=(SLOW,)),
    _efficientnet_v2("l", 64, marks=(SLOW,)),
    # Without the top and without preprocessing: the feature extractor alone.
    Twin("EfficientNetV2", "EfficientNetV2B0", 72, theirs={"include_top": False, "include_preprocessing": False},
         ours={"variant": "b0", "include_top": False, "include_preprocessing": False}, calibration="inputs", seed=5),
    TimmLogits("MobileNetV4", "small", 96, marks=(ZOO,)), TimmLogits("MobileNetV4", "small", 97, marks=(ZOO,)),
    TimmLogits("MobileNetV4", "medium", 64), TimmLogits("MobileNetV4", "large", 64, marks=(SLOW,)),
    LiteLogits("EfficientNetLite", 0), LiteLogits("EfficientNetLite", 1, marks=(SLOW,)),
    LiteLogits("EfficientNetLite", 2, marks=(SLOW,)),
    TorchvisionLogits("TorchvisionMobileNetV3Large", 48, marks=(ZOO,)), TorchvisionLogits("TorchvisionMobileNetV3Large", 51),
]
