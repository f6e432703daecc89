"""Running ``.tflite`` files with LiteRT: CPU (XNNPACK) in process, the GPU accelerator in a subprocess."""

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

from keras_lightnets import validation
from keras_lightnets.export import runtime
from keras_lightnets.export.runtime import LiteRTModel
from keras_lightnets.errors import MissingExtraError

ACCELERATORS = ("cpu", "gpu")
_PROBE_SCRIPT = runtime.__file__
_ADAPTER = re.compile(r"Selected adapter: ([^\n]*)")


def _require_litert():
    try:
        from ai_edge_litert import compiled_model  # noqa: F401
    except ImportError:
        raise MissingExtraError("Running .tflite files needs LiteRT: pip install 'keras_lightnets[lite]'") from None


def load(path, accelerator="cpu", num_threads=2):
    """Compiles a ``.tflite`` file with LiteRT.

    Args:
        path: ``.tflite`` file.
        accelerator: "cpu" (XNNPACK) or "gpu" (in-process: prefer
            :func:`gpu_check`, since an unsupported graph can crash the process).
        num_threads: CPU threads (int >= 1).

    Returns:
        :class:`keras_lightnets.export.runtime.LiteRTModel`.
    """
    validation.check_choice("accelerator", accelerator, ACCELERATORS)
    validation.check_number("num_threads", num_threads, minimum=1, integer=True)
    if not os.path.isfile(path):
        validation.fail("path", path, "an existing .tflite file")
    _require_litert()
    return LiteRTModel(path, accelerator=accelerator, num_threads=num_threads)


@dataclasses.dataclass
class GpuCheck:
    """Outcome of running a ``.tflite`` file on LiteRT's GPU accelerator.

    Attributes:
        ran: The model compiled and ran on the GPU accelerator.
        fully_accelerated: Every op was delegated to the GPU.
        adapter: The GPU adapter LiteRT selected (e.g. "llvmpipe ..."), or "".
        latency_ms: Median latency of one invocation (None if it did not run).
        outputs: {output name: array} for the given images (None if not run).
        error: Why it did not run (crash, no adapter), or "".
    """

    ran: bool
    fully_accelerated: bool
    adapter: str
    latency_ms: float
    outputs: dict
    error: str


def gpu_check(path, images=None, runs=20, timeout=600):
    """Runs ``path`` on LiteRT's GPU accelerator in a subprocess (a crash cannot take this process down).

    Args:
        path: ``.tflite`` file.
        images: Optional batch to run (multiple of the file's batch size).
        runs: Timed invocations for the latency (int >= 1).
        timeout: Seconds before the subprocess is killed.

    Returns:
        :class:`GpuCheck`.
    """
    validation.check_number("runs", runs, minimum=1, integer=True)
    with tempfile.TemporaryDirectory() as work:
        inputs = os.path.join(work, "images.npy")
        result_path = os.path.join(work, "result.json")
        outputs_path = os.path.join(work, "outputs.npz")
        if images is not None:
            np.save(inputs, np.asarray(images, np.float32))
        # -I: isolated, so the script's folder (this package's modules) never shadows a library module.
        command = [sys.executable, "-I", _PROBE_SCRIPT, os.fspath(path), result_path, outputs_path, str(runs)]
        if images is not None:
            command.append(inputs)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return GpuCheck(False, False, "", None, None, f"timed out after {timeout}s")
        _to_native_stderr(f"--- LiteRT GPU accelerator check of {os.fspath(path)}\n{done.stderr}")
        match = _ADAPTER.search(done.stderr)
        adapter = match.group(1).strip() if match else ""
        if done.returncode != 0 or not os.path.exists(result_path):
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            return GpuCheck(False, False, adapter, None, None, f"exit status {done.returncode}: {tail}")
        with open(result_path) as handle:
            result = json.load(handle)
        outputs = dict(np.load(outputs_path)) if images is not None else None
        return GpuCheck(True, result["fully_accelerated"], adapter, result["latency_ms"], outputs, "")


def _to_native_stderr(text):
    """Writes the subprocess's LiteRT logs where this process's own native logs go: file descriptor 2
    (a command's log file, see :mod:`keras_lightnets.quiet`, or the terminal with ``--verbose``)."""
    try:
        os.write(2, text.encode("utf-8", "backslashreplace"))
    except OSError:
        pass


def vulkan_driver_present():
    """Whether a Vulkan loader and at least one driver (ICD) are installed.

    LiteRT's GPU accelerator runs WebGPU over Vulkan; on a machine without a
    GPU, Mesa's lavapipe provides one (``tools/install-software-vulkan.sh``).
    """
    import ctypes.util
    import glob

    icd_dirs = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")
    drivers = [f for d in icd_dirs for f in glob.glob(os.path.join(d, "*.json"))]
    return bool(drivers) and ctypes.util.find_library("vulkan") is not None


def gpu_device_present():
    """Whether the machine has a GPU device node (DRM render node or NVIDIA device).

    Without one, the only Vulkan device is Mesa's software rasterizer (lavapipe, adapter "llvmpipe").
    """
    import glob

    return bool(glob.glob("/dev/dri/renderD*") or glob.glob("/dev/nvidia[0-9]*"))
