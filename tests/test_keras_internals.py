"""Pins every private Keras attribute the library touches (keras_lightnets.keras_internals) on the installed Keras.

A Keras release that renames or reshapes one fails here, naming it. The
package's own code reads none of them anywhere else (checked below).
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_lightnets as kl
from keras_lightnets import keras_internals

PACKAGE = pathlib.Path(kl.__file__).parent


def _attribute(qualified):
    return qualified.split(".", 1)[1]


def _tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    inner = keras.Sequential([keras.layers.Dense(2, name="inner_dense")], name="inner")
    outputs = inner(keras.layers.GlobalAveragePooling2D(name="pool")(x))
    return keras.Model(inputs, outputs, name="outer")


def test_the_list_names_every_function_of_the_module():
    assert set(keras_internals.ATTRIBUTES) == {
        "Layer._flatten_layers", "Layer._outbound_nodes", "KerasTensor._keras_history",
        "Functional._nodes_by_depth", "Model._distribute_strategy", "Layer._trainable_weights",
    }


def test_no_other_module_reads_a_private_keras_attribute():
    private = [_attribute(name) for name in keras_internals.ATTRIBUTES]
    pattern = re.compile(r"\.(" + "|".join(map(re.escape, private)) + r")\b")
    users = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                   if path.name != "keras_internals.py" and pattern.search(path.read_text()))
    assert users == [], f"private Keras attributes read outside keras_internals.py: {users}"


def test_flatten_layers_reaches_nested_models():
    """Layer._flatten_layers(include_self=False, recursive=True): every sublayer, nested models' included."""
    model = _tiny_model()
    assert hasattr(model, "_flatten_layers"), "Keras no longer has Layer._flatten_layers"
    names = [layer.name for layer in keras_internals.flatten_layers(model)]
    assert {"conv", "bn", "pool", "inner", "inner_dense"} <= set(names), names
    assert "outer" not in names


def test_flatten_layers_reaches_the_layers_inside_composite_layers():
    block = kl.InvertedResidual(16, expand_ratio=4)
    inputs = keras.Input((8, 8, 16))
    model = keras.Model(inputs, block(inputs))
    batch_norms = [layer for layer in keras_internals.flatten_layers(model)
                   if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batch_norms) == 3  # expand, depthwise and project: invisible to Model.layers
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_outbound_operations_are_the_consumers():
    """Layer._outbound_nodes: nodes whose .operation is the consuming layer."""
    model = _tiny_model()
    conv = model.get_layer("conv")
    assert hasattr(conv, "_outbound_nodes"), "Keras no longer has Layer._outbound_nodes"
    assert keras_internals.outbound_operations(conv) == [model.get_layer("bn")]
    assert keras_internals.outbound_operations(model.get_layer("inner")) == []


def test_keras_history_names_the_producer():
    """KerasTensor._keras_history: (layer, node index, tensor index)."""
    model = _tiny_model()
    output = model.get_layer("bn").output
    assert hasattr(output, "_keras_history"), "Keras no longer has KerasTensor._keras_history"
    layer, node_index, tensor_index = keras_internals.keras_history(output)
    assert layer is model.get_layer("bn") and (node_index, tensor_index) == (0, 0)
    assert isinstance(keras_internals.keras_history(model.inputs[0])[0], keras.layers.InputLayer)


def test_nodes_by_depth_orders_a_functional_model():
    """Functional._nodes_by_depth: {depth: [nodes]}, the input at the largest depth, the output at 0."""
    model = _tiny_model()
    assert hasattr(model, "_nodes_by_depth"), "Keras no longer has Functional._nodes_by_depth"
    nodes = keras_internals.nodes_by_depth(model)
    order = [node.operation.name for depth in sorted(nodes, reverse=True) for node in nodes[depth]]
    assert order.index("conv") < order.index("bn") < order.index("pool") < order.index("inner")
    assert nodes[0][0].operation.name == "inner"


def test_the_tf_keras_tensors_the_bridge_reads_have_the_same_attributes():
    """The compression bridge reads _keras_history and _nodes_by_depth on tf_keras models too."""
    tf_keras = pytest.importorskip("tf_keras")
    inputs = tf_keras.Input((4,))
    outputs = tf_keras.layers.Dense(2, name="dense")(inputs)
    model = tf_keras.Model(inputs, outputs)
    layer, node_index, tensor_index = keras_internals.keras_history(outputs)
    assert layer is model.get_layer("dense") and (node_index, tensor_index) == (0, 0)
    nodes = keras_internals.nodes_by_depth(model)
    assert nodes[0][0].layer.name == "dense"


def test_a_frozen_layers_quantize_wrapper_trains_nothing_once_its_weights_are_moved():
    """tfmot's QuantizeWrapper lists a frozen layer's quantized kernel as trainable; freeze_wrapped_weights takes it out."""
    tf_keras = pytest.importorskip("tf_keras")
    from keras_lightnets.compress import backend

    tfmot = backend.tfmot()
    inputs = tf_keras.Input((8, 8, 3))
    frozen = tf_keras.layers.Conv2D(4, 3, name="frozen", trainable=False)(inputs)
    outputs = tf_keras.layers.Conv2D(2, 3, name="trained")(frozen)
    qat = tfmot.quantization.keras.quantize_model(tf_keras.Model(inputs, outputs))
    wrapper = qat.get_layer("quant_frozen")
    assert not wrapper.layer.trainable
    assert any(weight.name.startswith("frozen/kernel") for weight in wrapper.trainable_weights), \
        "tfmot no longer lists a frozen layer's kernel as trainable: freeze_wrapped_weights may be unneeded"
    before = len(qat.trainable_weights)
    assert keras_internals.freeze_wrapped_weights(wrapper) >= 1
    assert wrapper.trainable_weights == [] and len(qat.trainable_weights) < before
    assert any(weight.name.startswith("frozen/kernel") for weight in wrapper.non_trainable_weights)
    kernel = [weight for weight in wrapper.non_trainable_weights if weight.name.startswith("frozen/kernel")][0]
    start = kernel.numpy().copy()
    qat.compile(tf_keras.optimizers.SGD(0.1), "mse")
    qat.fit(np.random.default_rng(0).normal(size=(8, 8, 8, 3)), np.zeros((8, 4, 4, 2)), verbose=0)
    np.testing.assert_array_equal(kernel.numpy(), start)


def test_the_distribute_strategy_is_forgotten_inside_and_given_back():
    """Model._distribute_strategy: the strategy fit reads before the enclosing scope's."""
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        pytest.skip("a TensorFlow trainer attribute")
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = _tiny_model()
    assert "_distribute_strategy" in vars(model), "Keras no longer records Model._distribute_strategy"
    assert model.distribute_strategy is strategy
    with keras_internals.forgotten_distribute_strategy(model):
        assert model._distribute_strategy is None
        assert model.distribute_strategy is tf.distribute.get_strategy()  # what fit then reads: the scope's
    assert model.distribute_strategy is strategy


MULTI_WORKER_FIT = """
import json, os, sys
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # one local worker: the engine's multi-worker path
import keras
import numpy as np
import numpy as np
from keras_lightnets.train import engine
with strategy.scope():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
before = {name: value for name, value in vars(model).items()}
patched = []
with engine._fit_workarounds(model, strategy):
    patched = sorted(name for name in ("train_step", "test_step") if name in vars(model))
    forgotten = model._distribute_strategy is None
    with engine._fit_strategy_scope(strategy):
        model.fit(np.zeros((8, 4)), np.zeros((8, 2)), batch_size=4, epochs=1, verbose=0)
print(json.dumps({
    "patched_inside": patched, "forgotten_inside": forgotten,
    "left_after": sorted(name for name in ("train_step", "test_step") if name in vars(model)),
    "strategy_back": model._distribute_strategy is before["_distribute_strategy"] is strategy,
}))
"""


def test_multi_worker_fit_gives_the_model_back_as_received():
    """The engine's multi-worker workarounds (forgotten strategy, rank-1 step logs) are undone after fit."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the training engine is TensorFlow's")
    done = subprocess.run([sys.executable, "-c", MULTI_WORKER_FIT], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"patched_inside": ["test_step", "train_step"], "forgotten_inside": True, "left_after": [],
                      "strategy_back": True}
