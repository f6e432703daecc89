"""One tf.data input pipeline for every source: resize, cache, shuffle, batch, augment, prefetch."""

from keras_lightnets import validation


def check_batch_size(batch_size, train_size):
    """Checks that a batch fits in the training set.

    Args:
        batch_size: Global batch size (int >= 1).
        train_size: Number of training examples.
    """
    validation.check_number("batch_size", batch_size, minimum=1, integer=True)
    if batch_size > train_size:
        validation.fail("batch_size", batch_size, f"at most the training set's size ({train_size} images)")


def make_batches(dataset, image_size, batch_size, num_classes, training, augmenter=None, seed=0, cache=True):
    """Turns an unbatched (image, label) dataset into model-ready batches.

    Images become float32 in [0, 255] at ``image_size`` (bilinear resize only
    when the size differs); labels become one-hot float32 vectors (so label
    smoothing applies). Decoding and resizing are cached in memory, before
    shuffling and augmentation.

    Args:
        dataset: Unbatched ``tf.data.Dataset`` of (image HxWxC, integer label).
        image_size: Output height and width (int >= 8).
        batch_size: Global batch size (int >= 1).
        num_classes: Number of classes (int >= 2).
        training: If True: shuffle every epoch, drop the last partial batch, augment.
        augmenter: Callable on a batch of images (from :func:`make_augmenter`) or None.
        seed: Shuffle seed (int).
        cache: Keep decoded, resized images in memory (bool).

    Returns:
        A batched, prefetched ``tf.data.Dataset`` with auto-sharding by data (for multi-worker runs).
    """
    import tensorflow as tf

    def prepare(image, label):
        image = tf.cast(image, tf.float32)
        if image.shape[0] != image_size or image.shape[1] != image_size:
            image = tf.image.resize(image, (image_size, image_size), method="bilinear")
        return image, tf.one_hot(tf.cast(label, tf.int32), num_classes)

    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(8192, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=training)
    if training and augmenter is not None:
        dataset = dataset.map(lambda x, y: (augmenter(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)

