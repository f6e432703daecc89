"""Cost report: parameters and multiply-adds of registered models against their published figures,
and the cost of each network rebuilt with standard convolutions.

    python recipes/cost_report.py                       # the papers' reference models
    python recipes/cost_report.py efficientnet_b3 xception --markdown
"""

import argparse
import sys

import keras_lightnets as kl
from keras_lightnets.profiling import human
from keras_lightnets.registry import default_resolution, published_macs

DEFAULT_MODELS = ("mobilenet_v1_1.0_224", "mobilenet_v1_0.5_224", "mobilenet_v1_1.0_160", "mobilenet_v2_1.0_224",
                  "mobilenet_v2_1.4_224", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0",
                  "efficientnet_b1", "efficientnet_v2_b0", "xception")
COLUMNS = ("model", "input", "params", "MACs", "published MACs", "vs published", "standard-conv MACs",
           "standard-conv params", "MACs saved", "params saved")


def report_row(name):
    """One row of the report for a registered model name."""
    size = default_resolution(name)
    result = kl.profile(kl.create_model(name, input_shape=(size, size, 3)))
    paper = published_macs(name)
    return (
        name, f"{size}", f"{result.params:,}", human(result.macs), human(int(paper)) if paper else "-",
        f"{100 * (result.macs / paper - 1):+.1f}%" if paper else "-", human(result.standard_macs),
        f"{result.standard_params:,}", f"{1 / result.macs_ratio:.1f}x", f"{1 / result.params_ratio:.1f}x",
    )


def main(argv=None):
    """Prints the report; returns the exit status (2 on an unknown model name)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=DEFAULT_MODELS, help="names from `lightnets list`")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    try:
        rows = []
        for name in args.models:
            print(f"profiling {name} ...", file=sys.stderr, flush=True)
            rows.append(report_row(name))
    except kl.LightnetsError as error:
        print(f"cost_report: error: {error}", file=sys.stderr)
        return 2
    if args.markdown:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(str(r[i])) for r in rows + [COLUMNS]) for i in range(len(COLUMNS))]
        for row in [COLUMNS] + rows:
            print("  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
    return 0


if __name__ == "__main__":
    from keras_lightnets.quiet import native_logs_to_file

    with native_logs_to_file("cost_report", keep_until_exit=True):
        status = main()
    sys.exit(status)
