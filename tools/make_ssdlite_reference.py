"""Writes tests/data/ssdlite_reference.npz: torchvision's SSDLite320 (MobileNetV3-Large) for the detection tests.

Run once in a side environment (never a dependency of keras_lightnets), the one of
tools/make_segmentation_reference.py (torch 2.14.1 + torchvision 0.29.1: the +cpu 2.13 wheel
cannot import torchvision's compiled ops, which NMS needs):

    /tmp/tvref/bin/python tools/make_ssdlite_reference.py

``ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91)``: the
configuration of torchvision's COCO weights (reduced tail, batch norm eps 0.001 / momentum 0.03).
Every floating state-dict tensor comes from the MobileNetV4 tool's ``synthetic_tensor`` (a
function of its name and shape) and the batch-norm running statistics are measured in one
training-mode pass over a calibration batch (the two reference images and six noise images at
320 px), as for the segmentation reference. Stored:

- ``keys``, ``shapes``, ``statistics_{key}``: the state dict a test rebuilds without torch;
- ``anchors``: the default boxes for a 320 x 320 image (x1, y1, x2, y2 in pixels, 3,234 boxes);
- ``feature_shapes``: the six feature maps (N, C, H, W);
- ``cls_logits`` / ``bbox_regression`` of the head on the two reference images (``reference_inputs``) (normalized as the
  model's transform does: mean 0.5, std 0.5), every ``ANCHOR_STEP``-th box (``anchor_index``), computed in float64
  (the network in ``model.double()``; the 1x1 maps' batch norms, whose measured variance is ~1e-5, amplify float32
  rounding to ~1e-4) and stored as float32;
- ``post_{boxes,scores,labels}_{i}``: ``postprocess_detections`` (score 0.001, IoU 0.55, top 300)
  on raw outputs that ``synthetic_raw_outputs`` makes from numpy alone, image size 320 x 320.

Printed: trainable parameters and multiply-adds of backbone + head at 320 (FlopCounterMode / 2).
"""

import sys

import numpy as np
from make_segmentation_reference import _v4_tool  # tools/ is the script's folder: the same V4 tool loader

OUTPUT = "tests/data/ssdlite_reference.npz"
SIZE = 320
ANCHOR_STEP = 4
NUM_CLASSES = 91


def reference_inputs(size=SIZE):
    """The two uint8 (size, size, 3) images: scikit-image's astronaut, center crop, and seeded noise."""
    from skimage import data

    photo = data.astronaut()
    top, left = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
    noise = np.random.default_rng(2024).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return np.stack([photo[top:top + size, left:left + size], noise])


def synthetic_raw_outputs(tool, anchors):
    """(cls_logits (2, A, 91), bbox_regression (2, A, 4)) from numpy only: every 23rd box confident in one class.

    Neighbouring confident boxes overlap, so NMS has work; the rest stay near the 0.001 score threshold.
    """
    spread = tool.synthetic_tensor("raw.cls_logits", (2, anchors, NUM_CLASSES))
    logits = (spread - spread.mean()) / spread.std() * 1.5
    confident = np.arange(0, anchors, 23)
    logits[:, confident, 1 + confident % (NUM_CLASSES - 1)] += 9.0
    logits[1, confident, 1 + (confident * 7) % (NUM_CLASSES - 1)] += 8.5  # a second class on the second image
    offsets = tool.synthetic_tensor("raw.bbox_regression", (2, anchors, 4))
    regression = (offsets - offsets.mean()) / offsets.std() * 0.8
    return logits.astype(np.float32), regression.astype(np.float32)


def _normalized(torch, images, dtype=np.float32):
    return torch.from_numpy(((images.astype(dtype) / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2).copy())


def main():
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    from torchvision.models.detection.image_list import ImageList

    tool = _v4_tool()
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=NUM_CLASSES).eval()
    state = model.state_dict()
    weights = {key: torch.from_numpy(tool.synthetic_tensor(key, tuple(value.shape)))
               for key, value in state.items() if value.dtype.is_floating_point}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(key.endswith("num_batches_tracked") for key in missing), (missing, unexpected)
    noise = np.random.default_rng(7).integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8)
    calibration = _normalized(torch, np.concatenate([reference_inputs(), noise]))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model.train()
    with torch.no_grad():
        model.head(list(model.backbone(calibration).values()))
    model.eval()
    model.double()  # outputs in float64: the 1x1 maps' batch norms (variance ~1e-5 over the batch) amplify rounding
    stored = {"keys": np.array(list(weights)),
              "shapes": np.array([",".join(map(str, value.shape)) for value in weights.values()])}
    for key, value in model.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            stored[f"statistics_{key}"] = value.numpy().astype(np.float32)
    x = _normalized(torch, reference_inputs(), np.float64)
    with torch.no_grad():
        features = list(model.backbone(x).values())
        head = model.head(features)
        anchors = model.anchor_generator(ImageList(x.float(), [(SIZE, SIZE)] * 2), [f.float() for f in features])
    index = np.arange(0, anchors[0].shape[0], ANCHOR_STEP)
    stored["anchors"] = anchors[0].numpy().astype(np.float32)
    stored["feature_shapes"] = np.array([tuple(f.shape) for f in features])
    stored["anchor_index"] = index
    stored["cls_logits"] = head["cls_logits"].numpy()[:, index].astype(np.float32)
    stored["bbox_regression"] = head["bbox_regression"].numpy()[:, index].astype(np.float32)
    print(f"{anchors[0].shape[0]} anchors; logits std {stored['cls_logits'].std():.3f}, inputs differ by "
          f"{np.abs(stored['cls_logits'][0] - stored['cls_logits'][1]).max():.3f}", file=sys.stderr)
    logits, regression = synthetic_raw_outputs(tool, anchors[0].shape[0])
    model.float()
    detections = model.postprocess_detections(
        {"cls_logits": torch.from_numpy(logits), "bbox_regression": torch.from_numpy(regression)}, anchors,
        [(SIZE, SIZE)] * 2)
    for i, found in enumerate(detections):
        for field in ("boxes", "scores", "labels"):
            stored[f"post_{field}_{i}"] = found[field].numpy()
        print(f"postprocess image {i}: {len(found['boxes'])} detections, top score "
              f"{float(found['scores'].max()) if len(found['scores']) else 0:.3f}", file=sys.stderr)
    params = sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.head(list(model.backbone(torch.zeros(1, 3, SIZE, SIZE)).values()))
    print(f"ssdlite320_mobilenet_v3_large: {params:,} parameters, "
          f"{counter.get_total_flops() / 2 / 1e9:.4f} G multiply-adds (backbone + head) at {SIZE}x{SIZE}", file=sys.stderr)
    np.savez_compressed(OUTPUT, **stored)


if __name__ == "__main__":
    main()
