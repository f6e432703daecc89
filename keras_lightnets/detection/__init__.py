"""Object detection: default boxes, box coding, matching, losses and post-processing.

The network side (feature layers and prediction heads on a zoo backbone) is
:mod:`keras_lightnets.heads.ssdlite`; this package holds what turns its raw
outputs into boxes and ground truth into training targets, in torchvision's
SSD conventions (``torchvision.models.detection.ssd``): labels 1..K with 0 the
background, default boxes from ``DefaultBoxGenerator``, box offsets coded
with weights (10, 10, 5, 5).
"""
