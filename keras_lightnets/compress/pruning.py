"""Magnitude pruning (tfmot ``prune_low_magnitude``) and stripping back to a Keras 3 model.

tfmot prunes the kernels of ``Conv2D`` and ``Dense``. ``DepthwiseConv2D`` is
in its registry with no prunable weights, so depthwise kernels are never
pruned; :func:`keras_lightnets.compress.sparsity_report` shows this per layer
instead of claiming a sparsity that did not happen.
"""

from keras_lightnets import validation
from keras_lightnets.compress import backend, bridge

SCHEDULES = ("polynomial", "constant")
# Layer classes whose kernels tfmot prunes.
PRUNABLE = ("Conv2D", "Dense")


def pruning_schedule(target_sparsity, schedule="polynomial", begin_step=0, end_step=1000, frequency=100, initial_sparsity=0.0):
    """A tfmot pruning schedule.

    Args:
        target_sparsity: Final fraction of zeros in each pruned kernel, in [0, 1).
        schedule: "polynomial" (``PolynomialDecay``: sparsity grows from
            ``initial_sparsity`` to the target between ``begin_step`` and
            ``end_step``, cubic) or "constant" (``ConstantSparsity`` from ``begin_step``).
        begin_step: First training step that prunes (int >= 0).
        end_step: Step where the polynomial schedule reaches the target (int > begin_step).
        frequency: Steps between mask updates (int >= 1).
        initial_sparsity: Starting sparsity of the polynomial schedule, in [0, target_sparsity].

    Returns:
        A ``tfmot.sparsity.keras.PruningSchedule``.
    """
    validation.check_rate("target_sparsity", target_sparsity)
    validation.check_choice("schedule", schedule, SCHEDULES)
    validation.check_number("begin_step", begin_step, minimum=0, integer=True)
    validation.check_number("frequency", frequency, minimum=1, integer=True)
    sparsity = backend.tfmot().sparsity.keras
    if schedule == "constant":
        return sparsity.ConstantSparsity(target_sparsity, begin_step=begin_step, frequency=frequency)
    validation.check_number("end_step", end_step, minimum=begin_step + 1, integer=True)
    validation.check_number("initial_sparsity", initial_sparsity, minimum=0.0, maximum=target_sparsity)
    return sparsity.PolynomialDecay(
        initial_sparsity=initial_sparsity, final_sparsity=target_sparsity, begin_step=begin_step,
        end_step=end_step, frequency=frequency,
    )


def prune(model, target_sparsity=0.5, schedule="polynomial", begin_step=0, end_step=1000, frequency=100, exclude=()):
    """A copy of a model whose Conv2D/Dense kernels are pruned by magnitude while it trains.

    The Keras 3 model is rebuilt in tf_keras with the same weights and every
    ``Conv2D``/``Dense`` layer (except ``exclude``) is wrapped by tfmot's
    ``prune_low_magnitude``. Fine-tune the result with tf_keras and the
    callbacks of :func:`pruning_callbacks`, then call :func:`strip`.

    Args:
        model: Keras 3 functional model from a keras_lightnets builder (any family).
        target_sparsity: Final fraction of zeros per pruned kernel, in [0, 1).
        schedule: "polynomial" or "constant" (see :func:`pruning_schedule`).
        begin_step: First pruning step (int >= 0).
        end_step: Step where the polynomial schedule reaches the target.
        frequency: Steps between mask updates (int >= 1).
        exclude: Names of layers to leave dense (e.g. the classifier).

    Returns:
        A ``tf_keras`` model with pruning wrappers.
    """
    chosen_schedule = pruning_schedule(target_sparsity, schedule, begin_step, end_step, frequency)
    tf_keras = backend.tf_keras()
    sparsity = backend.tfmot().sparsity.keras
    legacy_model = bridge.to_tf_keras(model)
    names = {layer.name for layer in legacy_model.layers}
    unknown = sorted(set(exclude) - names)
    if unknown:
        validation.fail("exclude", unknown, f"names of layers of {model.name!r}")

    def wrap(layer):
        if type(layer).__name__ in PRUNABLE and layer.name not in exclude:
            return sparsity.prune_low_magnitude(layer, pruning_schedule=chosen_schedule)
        return layer

    return tf_keras.models.clone_model(legacy_model, clone_function=wrap)


def pruning_callbacks(log_dir=None):
    """The tf_keras callbacks a pruning fine-tune needs (mask updates; summaries when ``log_dir`` is given)."""
    sparsity = backend.tfmot().sparsity.keras
    callbacks = [sparsity.UpdatePruningStep()]
    if log_dir is not None:
        callbacks.append(sparsity.PruningSummaries(log_dir=str(log_dir)))
    return callbacks


def is_pruned(model):
    """Whether a tf_keras model still holds pruning wrappers."""
    return any(type(layer).__name__ == "PruneLowMagnitude" for layer in getattr(model, "layers", []))


def strip(model):
    """Removes the pruning wrappers and returns the Keras 3 model with the sparse weights.

    Args:
        model: A model from :func:`prune` (after fine-tuning).

    Returns:
        A Keras 3 functional model with the original layer names: export it,
        save it as ``.keras``, or profile its sparsity.
    """
    if not is_pruned(model):
        validation.fail("model", getattr(model, "name", model), "a model returned by prune()")
    stripped = backend.tfmot().sparsity.keras.strip_pruning(model)
    return bridge.to_keras(stripped)
