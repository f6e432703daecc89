"""tf.distribute strategies by name (TensorFlow's own; nothing home-made)."""

import json
import os

from keras_lightnets import validation
from keras_lightnets.errors import LightnetsError
from keras_lightnets.train.config import STRATEGIES


class StrategyUnavailableError(LightnetsError, RuntimeError):
    """The asked-for strategy cannot run on this machine; the message says why and what to do."""


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError:
        raise StrategyUnavailableError(f"TF_CONFIG is not valid JSON: {raw!r}") from None
    if "cluster" not in config or "task" not in config:
        raise StrategyUnavailableError('TF_CONFIG needs "cluster" and "task" entries (see tf.distribute docs).')
    return config


def make_strategy(name):
    """Creates a tf.distribute strategy. Call it before any other TensorFlow work.

    Args:
        name: "auto" (MirroredStrategy over several GPUs, multi-worker when TF_CONFIG
            is set, else the default), "default" (one device), "mirrored" (all local
            GPUs, or the CPU), "multiworker" (MultiWorkerMirroredStrategy; needs
            TF_CONFIG) or "tpu" (TPUStrategy; needs a TPU).

    Returns:
        ``tf.distribute.Strategy``.

    Raises:
        StrategyUnavailableError: if the strategy cannot run here.
    """
    import tensorflow as tf

    validation.check_choice("strategy", name, STRATEGIES)
    if name == "auto":
        if _tf_config() is not None:
            name = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if _tf_config() is None:
            raise StrategyUnavailableError(
                "strategy 'multiworker' needs TF_CONFIG describing the cluster, e.g. "
                'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\' '
                "set on every worker (index 0 is the chief)."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise StrategyUnavailableError(f"strategy 'tpu': no TPU found ({str(error).splitlines()[0]}).") from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """Whether this process writes the run's outputs (always True outside multi-worker runs)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
