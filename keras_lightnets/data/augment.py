"""Train-time augmentation policies built from Keras preprocessing layers.

Policies (applied to batches of images in [0, 255]):
    "none": no augmentation.
    "translate": random translation and zoom (for data where a mirror image
        is another class, e.g. digits).
    "flip": horizontal flip only (natural images).
    "flip_translate": horizontal flip and a random shift of up to ``translate`` of each
        side (10% by default), the pad-and-crop augmentation of small-image benchmarks
        (Fashion-MNIST, CIFAR).
    "randaugment": horizontal flip plus Keras' ``RandAugment`` (2 operations;
        the EfficientNet recipe). RGB inputs only.

Any policy can be followed by random erasing (Zhong et al., 2017): with probability
``random_erasing`` an image gets one rectangle of 2-33% of its area replaced by noise.
"""

from keras_lightnets import validation

POLICIES = ("none", "translate", "flip", "flip_translate", "randaugment")


def make_augmenter(policy, channels, seed=None, magnitude=0.5, translate=0.1, random_erasing=0.0):
    """Builds the augmentation model of a policy.

    Args:
        policy: One of :data:`POLICIES`.
        channels: Image channels (RandAugment needs 3).
        seed: Seed of the random layers (int or None).
        magnitude: ``factor`` of ``keras.layers.RandAugment`` in (0, 1] (strength of each operation).
        translate: Largest random shift of "translate" and "flip_translate", as a fraction
            of each side, in (0, 0.5].
        random_erasing: Probability in [0, 1] of erasing one random rectangle of each image
            (``keras.layers.RandomErasing``), after the policy's steps; 0 disables it.

    Returns:
        A ``keras.Sequential`` taking and returning float images, or None when nothing
        is applied ("none" without random erasing).
    """
    import keras

    validation.check_choice("augment", policy, POLICIES)
    validation.check_number("magnitude", magnitude, minimum=0.0, maximum=1.0, exclusive_minimum=True)
    validation.check_number("translate", translate, minimum=0.0, maximum=0.5, exclusive_minimum=True)
    validation.check_number("random_erasing", random_erasing, minimum=0.0, maximum=1.0)
    if policy == "randaugment" and channels != 3:
        validation.fail("augment", policy,
                        f"one of {[p for p in POLICIES if p != policy]} for {channels}-channel images (RandAugment needs RGB)")
    steps = []
    if policy in ("flip", "flip_translate", "randaugment"):
        steps.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if policy == "flip_translate":
        steps.append(keras.layers.RandomTranslation(translate, translate, fill_mode="constant", seed=seed))
    elif policy == "randaugment":
        steps.append(keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=magnitude, seed=seed))
    elif policy == "translate":
        steps += [
            keras.layers.RandomTranslation(translate, translate, fill_mode="constant", seed=seed),
            keras.layers.RandomZoom(0.1, fill_mode="constant", seed=seed),
        ]
    if random_erasing > 0:
        # A (p, p) factor erases each image with probability exactly p (a float f would draw p from [0, f]).
        steps.append(keras.layers.RandomErasing(factor=(random_erasing, random_erasing), scale=(0.02, 0.33),
                                                value_range=(0, 255), seed=seed))
    if not steps:
        return None
    return keras.Sequential(steps, name=f"augment_{policy}")
