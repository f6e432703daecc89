"""Width, depth and resolution scaling rules of the MobileNet/EfficientNet papers."""

import math

from keras_lightnets import validation

# EfficientNet B0-B7 as released: (width, depth, resolution, dropout).
EFFICIENTNET_TABLE = {
    0: (1.0, 1.0, 224, 0.2),
    1: (1.0, 1.1, 240, 0.2),
    2: (1.1, 1.2, 260, 0.3),
    3: (1.2, 1.4, 300, 0.3),
    4: (1.4, 1.8, 380, 0.4),
    5: (1.6, 2.2, 456, 0.4),
    6: (1.8, 2.6, 528, 0.5),
    7: (2.0, 3.1, 600, 0.5),
}
# The paper's grid-searched compound coefficients (depth, width, resolution).
COMPOUND_ALPHA, COMPOUND_BETA, COMPOUND_GAMMA = 1.2, 1.1, 1.15


def make_divisible(value, divisor=8, min_value=None, floor=True):
    """Rounds a channel count to a multiple of ``divisor``, by default never losing more than 10%.

    Args:
        value: Unrounded channel count (> 0).
        divisor: Rounding multiple (int >= 1).
        min_value: Smallest result (defaults to ``divisor``).
        floor: Add one ``divisor`` when rounding lost more than 10%
            (MobileNet, EfficientNet); EfficientNetV2 does not.

    Returns:
        int.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if floor and rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats, depth_coefficient):
    """Number of block repeats after depth scaling (ceil, as in EfficientNet)."""
    return int(math.ceil(depth_coefficient * repeats))


def compound_scaling(phi, alpha=COMPOUND_ALPHA, beta=COMPOUND_BETA, gamma=COMPOUND_GAMMA, base_resolution=224):
    """The paper's formula: depth alpha^phi, width beta^phi, resolution gamma^phi.

    Args:
        phi: Compound coefficient (real >= 0; fractional values allowed).
        alpha: Depth base (> 1 typical; > 0).
        beta: Width base (> 0).
        gamma: Resolution base (> 0).
        base_resolution: Resolution at phi = 0 (int >= 32).

    Returns:
        (width_coefficient, depth_coefficient, resolution) with the
        resolution rounded to the nearest integer.
    """
    validation.check_number("phi", phi, minimum=0.0, maximum=20.0)
    for argument, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        validation.check_number(argument, value, minimum=0.0, exclusive_minimum=True)
    validation.check_number("base_resolution", base_resolution, minimum=32, integer=True)
    return beta**phi, alpha**phi, int(round(base_resolution * gamma**phi))


def efficientnet_coefficients(phi):
    """Released B0-B7 coefficients for integer ``phi`` in 0..7.

    Returns:
        (width, depth, resolution, dropout).
    """
    validation.check_number("phi", phi, minimum=0, maximum=7, integer=True)
    return EFFICIENTNET_TABLE[phi]
