"""Dense-prediction heads on the zoo's backbones: LR-ASPP and DeepLabV3 (segmentation), SSDLite (detection).

Each head is one module: its layers composed on a backbone's feature
endpoints (:mod:`keras_lightnets.heads.backbone`), its public builder
(``kl.LRASPP``, ``kl.DeepLabV3``) and its registry entries
(``lraspp_mobilenet_v3_large``, ``deeplabv3_mobilenet_v3_large`` in
torchvision's configuration, and the backbone-generic ``lraspp`` /
``deeplabv3``; ``kl.SSDLite``: ``ssdlite320_mobilenet_v3_large`` and ``ssdlite``).
Modules here import Keras only inside their builders, so the
registry lists them without loading TensorFlow.
"""
