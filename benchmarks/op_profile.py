"""Where inference time goes, per TensorFlow op type, after Grappler has optimised the graph.

For one family, graph mode on this CPU: keras.applications' network and ours as inference model
(``kl.inference_model``: batch norm folded). Each graph is frozen, run under a v1 session with
full tracing, and the traced kernels (the ops that actually ran, so fused ones such as
``_FusedConv2D`` show under their fused name) are summed per op type. The tracing adds its own
overhead, so the shares matter, not the absolute milliseconds; the benchmark of record is
``benchmarks/inference.py``.

    python benchmarks/op_profile.py --family mobilenet_v2 --batch 32 --runs 5
"""

import argparse
import collections
import statistics

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import keras_lightnets as kl
from inference import FAMILIES, trained_like_batch_norm  # benchmarks/inference.py, beside this script


def frozen_graph(model, batch, size):
    """The model's inference graph with variables as constants (what Grappler sees at serving time)."""
    function = tf.function(lambda images: model(images, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec((batch, size, size, 3), tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    return frozen.graph.as_graph_def(), frozen.inputs[0].name, frozen.outputs[0].name


def op_times(graph_def, input_name, output_name, images, runs):
    """Median per-op-type milliseconds over ``runs`` traced runs, and the op counts, of a frozen graph."""
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    totals = collections.defaultdict(list)
    counts = {}
    with tf.compat.v1.Session(graph=graph) as session:
        feed = {input_name: images}
        session.run(output_name, feed)  # warm-up: Grappler runs here
        for _ in range(runs):
            metadata = tf.compat.v1.RunMetadata()
            session.run(output_name, feed, options=tf.compat.v1.RunOptions(trace_level=3), run_metadata=metadata)
            per_type, per_type_count = collections.Counter(), collections.Counter()
            for device in metadata.step_stats.dev_stats:
                for node in device.node_stats:
                    kind = node.timeline_label.split("= ")[-1].split("(")[0] if "= " in node.timeline_label else node.node_name
                    if kind in ("_SOURCE", "_Arg", "_Retval", "Const", "NoOp") or node.node_name in ("_SOURCE",):
                        continue
                    per_type[kind] += (node.all_end_rel_micros or node.op_end_rel_micros) / 1e3
                    per_type_count[kind] += 1
            for kind, value in per_type.items():
                totals[kind].append(value)
            counts = per_type_count
    return {kind: statistics.median(values) for kind, values in totals.items()}, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=sorted(FAMILIES), default="mobilenet_v2")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    ours_builder, ka_builder, size = FAMILIES[args.family]
    reference = trained_like_batch_norm(ka_builder(weights=None, input_shape=(size, size, 3)))
    ours = ours_builder(weights=None, input_shape=(size, size, 3), include_preprocessing=False)
    kl.port_weights(reference, ours)
    images = np.random.default_rng(0).uniform(-1, 1, (args.batch, size, size, 3)).astype("float32")
    rows = {}
    for label, model in (("keras.applications", reference), ("ours, inference model", kl.inference_model(ours))):
        rows[label] = op_times(*frozen_graph(model, args.batch, size), images, args.runs)
    kinds = sorted({k for times, _ in rows.values() for k in times}, key=lambda k: -max(t.get(k, 0) for t, _ in rows.values()))
    labels = list(rows)
    print(f"{args.family}, batch {args.batch}, {size} px: traced kernel ms per op type (count), median of {args.runs}")
    print("| op type | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels))
    for kind in kinds:
        cells = []
        for label in labels:
            times, counts = rows[label]
            cells.append(f"{times[kind]:.1f} ({counts.get(kind, 0)})" if kind in times else "-")
        print(f"| `{kind}` | " + " | ".join(cells) + " |")
    print("| total | " + " | ".join(f"{sum(rows[label][0].values()):.1f}" for label in labels) + " |")


if __name__ == "__main__":
    main()
