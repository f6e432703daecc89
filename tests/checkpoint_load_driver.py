"""Loads checkpoint files one by one, each in a forked child, and prints one JSON line of outcome per file.

Usage: ``python tests/checkpoint_load_driver.py LIST`` where LIST holds one path per line (``.safetensors``
files go to the safetensors reader, the rest to the ``.pth`` reader). The child is limited in address
space, so a file that makes the reader allocate far more than it holds fails instead of swapping; the
parent kills a child that runs past the time limit. Outcomes: ``loaded`` (with each tensor's shape and
dtype), ``CheckpointError``, another exception's class name, ``signal <N>`` or ``timeout``.
"""

import json
import os
import resource
import signal
import sys
import time

from keras_lightnets import pth, safetensors_reader
from keras_lightnets.checkpoint_fields import CheckpointError

TIME_LIMIT_S = 5.0
EXTRA_ADDRESS_SPACE = 1024**3  # what a child may allocate beyond what the driver already maps


def _load(path):
    reader = safetensors_reader if path.endswith(".safetensors") else pth
    try:
        arrays = reader.load_state_dict(path)
        return {"outcome": "loaded", "tensors": {name: [list(array.shape), array.dtype.str, float(array.astype("f8").sum())]
                                                 for name, array in list(arrays.items())[:20]}}
    except CheckpointError as error:
        return {"outcome": "CheckpointError", "message": str(error)[:300]}
    except BaseException as error:  # noqa: BLE001 - reported to the test, which fails on it
        return {"outcome": type(error).__name__, "message": str(error)[:300]}


def _address_space():
    with open("/proc/self/statm") as file:
        return int(file.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def run_one(path):
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        limit = _address_space() + EXTRA_ADDRESS_SPACE
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.write(write, json.dumps(_load(path)).encode()[:60000])
        os._exit(0)
    os.close(write)
    start = time.monotonic()
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > TIME_LIMIT_S:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            os.close(read)
            return {"outcome": "timeout", "seconds": round(time.monotonic() - start, 2)}
        time.sleep(0.001)
    payload = b""
    while chunk := os.read(read, 65536):
        payload += chunk
    os.close(read)
    if os.WIFSIGNALED(status):
        return {"outcome": f"signal {os.WTERMSIG(status)}"}
    return json.loads(payload) if payload else {"outcome": f"exit {os.WEXITSTATUS(status)} without a result"}


def main(list_path):
    with open(list_path) as file:
        paths = [line.rstrip("\n") for line in file if line.strip()]
    for path in paths:
        start = time.monotonic()
        result = run_one(path)
        result.update(path=path, seconds=round(time.monotonic() - start, 4))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
