"""Named training configurations: the papers' ImageNet recipes and measured small-data recipes.

ImageNet presets follow the published recipes (see REFERENCE in the docs):
MobileNet (TF Model Garden): RMSprop (rho 0.9, momentum 0.9, eps 0.002), lr 0.008 per 128
images, x0.94 (V1) / x0.96 (V2) every 2.5 epochs, 5 warm-up epochs, weight decay 1e-5,
label smoothing 0.1, dropout 0.2, BN momentum 0.997. EfficientNet (TPU reference): RMSprop
(rho 0.9, momentum 0.9, eps 1e-3), lr 0.016 per 256 images, x0.97 every 2.4 epochs,
5 warm-up epochs, EMA 0.9999, weight decay 1e-5, label smoothing 0.1, stochastic depth 0.2,
RandAugment. The papers' L2 penalty is applied here as decoupled weight decay.

Small-data presets (digits, Fashion-MNIST) keep the architecture and change what a few
thousand steps need: SGD with Nesterov momentum, cosine decay, a short warm-up, and
faster batch-norm statistics. Their accuracy is measured (README). Weight decay here is
decoupled (each step shrinks a kernel by lr x weight_decay), so the classic small-image
L2 of 5e-4 under momentum 0.9 corresponds to about 5e-3 at lr 0.05; on Fashion-MNIST
5e-3 gave 93.78% against 93.08% with 5e-4, same 20 epochs (MobileNetV1-1.0 at 48 px).
The Fashion-MNIST preset trains MobileNetV1-0.75 at 64 px, the first size whose last two
stages keep 4x4 and 2x2 maps, for 22 epochs (28.5-29 minutes per run on a 2-core CPU), and
also reports ``flip_shift`` test-time augmentation, which added 0.15-0.71 points on fourteen
models.
"""

from keras_lightnets import validation
from keras_lightnets.train.config import TrainConfig

_MOBILENET_IMAGENET = dict(
    dataset="imagenet2012", image_size=224, epochs=300, batch_size=128, optimizer="rmsprop",
    learning_rate=0.008, base_batch_size=128, schedule="exponential", warmup_epochs=5.0,
    decay_epochs=2.5, momentum=0.9, rmsprop_rho=0.9, epsilon=0.002, weight_decay=1e-5,
    label_smoothing=0.1, dropout=0.2, bn_momentum=0.997, augment="flip",
)
_SMALL_DATA = dict(
    optimizer="sgd", learning_rate=0.1, base_batch_size=128, schedule="cosine", momentum=0.9,
    weight_decay=5e-4, label_smoothing=0.1, dropout=0.2,
)
# Fine-tuning from ImageNet weights (recipes/finetune.py; measured in docs/results/fine_tuning.md): AdamW
# (weight decay spares batch norm, biases and depthwise kernels), cosine decay, label smoothing. The
# head phase's epochs and rate are FineTuneOptions'; these fields are phase 2's. Digits: 20 epochs at 64 px
# (98.61-99.16% over 3 seeds; 10 epochs gave 98.05%, 1e-3 diverged); Fashion-MNIST: 4 epochs at 112 px
# and 4e-4 (94.85%; 96 px and 3e-4: 94.31%).
_FINE_TUNE = dict(
    model="efficientnet_lite0", channels=3, image_size=64, batch_size=64, optimizer="adamw", learning_rate=3e-4,
    base_batch_size=64, schedule="cosine", warmup_epochs=0.0, epsilon=1e-7, weight_decay=0.01, label_smoothing=0.1,
    dropout=0.2,
)

PRESETS = {
    "mobilenet_v1_imagenet": dict(model="mobilenet_v1", decay_rate=0.94, **_MOBILENET_IMAGENET),
    "mobilenet_v2_imagenet": dict(model="mobilenet_v2", decay_rate=0.96, **_MOBILENET_IMAGENET),
    "efficientnet_imagenet": dict(
        model="efficientnet_b0", dataset="imagenet2012", image_size=224, epochs=350, batch_size=256,
        optimizer="rmsprop", learning_rate=0.016, base_batch_size=256, schedule="exponential",
        warmup_epochs=5.0, decay_rate=0.97, decay_epochs=2.4, momentum=0.9, rmsprop_rho=0.9,
        epsilon=1e-3, weight_decay=1e-5, label_smoothing=0.1, ema_momentum=0.9999, dropout=None,
        drop_connect_rate=0.2, augment="randaugment",
    ),
    "digits": dict(
        model="mobilenet_v1", alpha=0.5, dataset="digits", image_size=32, epochs=30, batch_size=64,
        warmup_epochs=2.0, augment="translate", bn_momentum=0.9, **_SMALL_DATA,
    ),
    "fashion_mnist": dict(
        model="mobilenet_v1", alpha=0.75, dataset="fashion_mnist", image_size=64, epochs=22, batch_size=128,
        warmup_epochs=1.0, augment="flip_translate", tta="flip_shift", bn_momentum=0.9,
        **{**_SMALL_DATA, "learning_rate": 0.05, "dropout": 0.1, "weight_decay": 5e-3},
    ),
    "digits_finetune": dict(dataset="digits", epochs=20, augment="translate", **_FINE_TUNE),
    "fashion_mnist_finetune": dict(dataset="fashion_mnist", epochs=7, augment="flip",
                                   **{**_FINE_TUNE, "image_size": 112, "learning_rate": 4e-4}),
}


def preset(name, **overrides):
    """A :class:`TrainConfig` from a named preset.

    Args:
        name: One of :data:`PRESETS`.
        **overrides: Fields to change.

    Returns:
        ``TrainConfig``.
    """
    validation.check_choice("preset", name, sorted(PRESETS))
    return TrainConfig().replace(**{**PRESETS[name], **overrides})
