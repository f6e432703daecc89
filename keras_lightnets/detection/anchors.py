"""Default boxes (anchors) of an SSD detector, as torchvision's ``DefaultBoxGenerator`` makes them.

For feature map k of n (size f_k), scale s_k = min + (max - min) * k / (n - 1)
and s_n = 1; each cell's center ((i + 0.5) / f_k) gets the boxes
(s_k, s_k), (s'_k, s'_k) with s'_k = sqrt(s_k * s_{k+1}), and for every
aspect ratio a: (s_k sqrt(a), s_k / sqrt(a)) and its transpose, widths and
heights clipped to [0, 1]. Order: map, then row, column, then box (the order
of the heads' outputs). Numpy only: the boxes are constants of a model.
"""

import dataclasses
import math
from typing import Tuple

import numpy as np

from keras_lightnets import validation


@dataclasses.dataclass(frozen=True)
class DefaultBoxes:
    """The default-box configuration of a detector (torchvision's ``DefaultBoxGenerator`` arguments).

    Attributes:
        aspect_ratios: Per feature map, the aspect ratios beyond 1 (each adds two boxes per cell).
        min_ratio: Scale of the first feature map's boxes, relative to the image (0 < min_ratio < max_ratio).
        max_ratio: Scale of the last feature map's boxes (max_ratio <= 1).
    """

    aspect_ratios: Tuple[Tuple[float, ...], ...] = ((2.0, 3.0),) * 6
    min_ratio: float = 0.2
    max_ratio: float = 0.95

    def __post_init__(self):
        if not self.aspect_ratios or any(not ratios or any(r <= 0 for r in ratios) for ratios in self.aspect_ratios):
            validation.fail("aspect_ratios", self.aspect_ratios, "one non-empty tuple of ratios > 0 per feature map")
        if not 0 < self.min_ratio < self.max_ratio <= 1:
            validation.fail("min_ratio/max_ratio", (self.min_ratio, self.max_ratio), "0 < min_ratio < max_ratio <= 1")

    @property
    def boxes_per_cell(self):
        """Boxes per feature-map cell, per map (2 + 2 per aspect ratio)."""
        return tuple(2 + 2 * len(ratios) for ratios in self.aspect_ratios)

    def scales(self):
        """s_0 .. s_{n-1}, then 1.0 (torchvision's ``scales``)."""
        n = len(self.aspect_ratios)
        span = self.max_ratio - self.min_ratio
        return [self.min_ratio + span * k / (n - 1.0) for k in range(n)] + [1.0] if n > 1 else [self.min_ratio, 1.0]

    def sizes(self):
        """Per feature map, the (width, height) pairs of its boxes relative to the image, float32 like torchvision's."""
        scales = self.scales()
        pairs = []
        for k, ratios in enumerate(self.aspect_ratios):
            prime = math.sqrt(scales[k] * scales[k + 1])
            sizes = [[scales[k], scales[k]], [prime, prime]]
            for ratio in ratios:
                root = math.sqrt(ratio)
                sizes += [[scales[k] * root, scales[k] / root], [scales[k] / root, scales[k] * root]]
            pairs.append(np.clip(np.asarray(sizes, np.float32), 0.0, 1.0))
        return pairs

    def centered(self, grid_sizes):
        """(A, 4) boxes as (center x, center y, width, height) relative to the image, float32.

        Args:
            grid_sizes: (rows, cols) of each feature map, in order.
        """
        if len(grid_sizes) != len(self.aspect_ratios):
            validation.fail("feature maps", len(grid_sizes), f"{len(self.aspect_ratios)}, one per aspect-ratio entry")
        boxes = []
        for (rows, cols), sizes in zip(grid_sizes, self.sizes()):
            ys = ((np.arange(rows) + 0.5) / rows).astype(np.float32)
            xs = ((np.arange(cols) + 0.5) / cols).astype(np.float32)
            cy, cx = np.meshgrid(ys, xs, indexing="ij")
            centers = np.repeat(np.stack([cx.ravel(), cy.ravel()], -1), len(sizes), axis=0)
            boxes.append(np.concatenate([centers, np.tile(sizes, (rows * cols, 1))], 1))
        return np.concatenate(boxes, 0).astype(np.float32)

    def corners(self, grid_sizes, image_size):
        """(A, 4) boxes as (x1, y1, x2, y2) in pixels of an image of ``image_size`` (height, width), float32.

        The same arithmetic as torchvision's ``DefaultBoxGenerator.forward`` (not clipped to the image).
        """
        boxes = self.centered(grid_sizes)
        scale = np.asarray([image_size[1], image_size[0]], np.float32)
        return np.concatenate([(boxes[:, :2] - 0.5 * boxes[:, 2:]) * scale,
                               (boxes[:, :2] + 0.5 * boxes[:, 2:]) * scale], 1).astype(np.float32)
