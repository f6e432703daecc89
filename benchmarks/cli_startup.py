"""How long the ``lightnets`` command takes to answer ``--help``, ``list`` and ``<command> --help``.

Peer in the same run: ``python -c "import tensorflow"`` (what every command cost before the
registry and the package imports became lazy). Median of ``--rounds`` fresh processes each.

    python benchmarks/cli_startup.py --rounds 5
"""

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "lightnets --help": ["-m", "keras_lightnets.cli", "--help"],
    "lightnets list": ["-m", "keras_lightnets.cli", "list"],
    "lightnets export --help": ["-m", "keras_lightnets.cli", "export", "--help"],
    "lightnets train --help": ["-m", "keras_lightnets.cli", "train", "--help"],
    "python -c 'import tensorflow' (peer)": ["-c", "import tensorflow"],
}


def seconds(arguments):
    started = time.perf_counter()
    subprocess.run([sys.executable, *arguments], check=True, capture_output=True)
    return time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per case (default 5)")
    args = parser.parse_args(argv)
    times = {name: [] for name in CASES}
    for _ in range(args.rounds):  # interleaved, so a busy moment hits every case alike
        for name, arguments in CASES.items():
            times[name].append(seconds(arguments))
    peer = statistics.median(times["python -c 'import tensorflow' (peer)"])
    print(f"| command | median s ({args.rounds} runs) | / import tensorflow |\n|---|---|---|")
    for name, values in times.items():
        print(f"| `{name}` | {statistics.median(values):.2f} | {statistics.median(values) / peer:.2f} |")


if __name__ == "__main__":
    main()
