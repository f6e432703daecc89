"""LiteRT runtime wrapper that imports only numpy and ai_edge_litert.

Kept free of TensorFlow and of this package so that it also runs as a
standalone script in a subprocess (the GPU accelerator can crash a process
on an unsupported graph):

    python runtime.py MODEL.tflite RESULT.json OUTPUTS.npz RUNS [IMAGES.npy]
"""

import json
import sys
import time

import numpy as np

from keras_lightnets.errors import LightnetsError

SIGNATURE = "serving_default"


class LiteRTModel:
    """A ``.tflite`` file compiled by LiteRT, called like a function.

    Args:
        path: ``.tflite`` file (its ``serving_default`` signature, else the first).
        accelerator: "cpu" (XNNPACK) or "gpu" (LiteRT's GPU accelerator).
        num_threads: CPU threads (int >= 1).
    """

    def __init__(self, path, accelerator="cpu", num_threads=2):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options

        # The GPU set includes the CPU so that unsupported ops fall back instead of failing
        # the compilation; `fully_accelerated` then tells whether anything fell back.
        hardware = HardwareAccelerator.CPU
        if accelerator == "gpu":
            hardware = HardwareAccelerator.GPU | HardwareAccelerator.CPU
        options = Options(hardware_accelerators=hardware, cpu_options=CpuOptions(num_threads=num_threads))
        self.model = CompiledModel.from_file(str(path), options=options)
        signatures = list(self.model.get_signature_list())
        self.signature = SIGNATURE if SIGNATURE in signatures else signatures[0]
        self.input_details = self.model.get_input_tensor_details(self.signature)
        self.output_details = self.model.get_output_tensor_details(self.signature)
        self._inputs = {n: self.model.create_input_buffer_by_name(self.signature, n) for n in self.input_details}
        self._outputs = {n: self.model.create_output_buffer_by_name(self.signature, n) for n in self.output_details}
        self.quantization = self._integer_interface(path)

    def _integer_interface(self, path):
        """{tensor name: (scale, zero point)} of integer inputs and outputs (uint8 pixels in, uint8 probabilities out)."""
        details = [*self.input_details.items(), *self.output_details.items()]
        if all(np.dtype(d["dtype"]).kind == "f" for _, d in details):
            return {}
        from ai_edge_litert.interpreter import Interpreter

        reader = Interpreter(model_path=str(path))
        runner = reader.get_signature_runner(self.signature)
        found = {**runner.get_input_details(), **runner.get_output_details()}
        return {name: tuple(found[name]["quantization"]) for name, d in details if np.dtype(d["dtype"]).kind != "f"}

    @property
    def fully_accelerated(self):
        """Whether every op runs on the chosen accelerator."""
        return bool(self.model.is_fully_accelerated())

    @property
    def input_shape(self):
        """Static shape of the (single) input, batch included."""
        return tuple(next(iter(self.input_details.values()))["shape"])

    def run_batch(self, batch):
        """One invocation on exactly ``input_shape``; returns {output name: float array}.

        An integer input takes the images quantized with its scale and zero point (uint8 pixels:
        scale 1, so the same integers); an integer output is returned dequantized.
        """
        name, details = next(iter(self.input_details.items()))
        dtype = np.dtype(details["dtype"])
        if name in self.quantization:
            scale, zero = self.quantization[name]
            limits = np.iinfo(dtype)
            batch = np.clip(np.rint(np.asarray(batch, np.float32) / scale + zero), limits.min, limits.max)
        self._inputs[name].write(np.ascontiguousarray(batch, dtype=dtype))
        self.model.run_by_name(self.signature, self._inputs, self._outputs)
        outputs = {}
        for out, d in self.output_details.items():
            value = self._outputs[out].read(int(np.prod(d["shape"])), np.dtype(d["dtype"])).reshape(d["shape"])
            if out in self.quantization:
                scale, zero = self.quantization[out]
                value = (value.astype(np.float32) - zero) * scale
            outputs[out] = value
        return outputs

    def __call__(self, images):
        """Runs over a batch whose size is a multiple of the file's batch size."""
        images = np.asarray(images, np.float32)
        step = self.input_shape[0]
        if len(images) % step:
            raise LightnetsError(
                f"Invalid `images`: received {len(images)} images; allowed: a multiple of the file's batch size {step}."
            )
        chunks = [self.run_batch(images[i : i + step]) for i in range(0, len(images), step)]
        return {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}

    def latency_ms(self, runs=50, warmup=5):
        """Median milliseconds of one invocation on a constant input."""
        batch = np.full(self.input_shape, 127.0, np.float32)
        for _ in range(warmup):
            self.run_batch(batch)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.run_batch(batch)
            times.append(time.perf_counter() - start)
        return 1000.0 * float(np.median(times))


def probe(model_path, result_path, outputs_path, runs, images_path=None):
    """GPU run for :func:`keras_lightnets.export.litert.gpu_check`: writes JSON and outputs."""
    model = LiteRTModel(model_path, accelerator="gpu")
    latency = model.latency_ms(runs=runs, warmup=1)
    outputs = model(np.load(images_path)) if images_path else {}
    np.savez(outputs_path, **outputs)
    with open(result_path, "w") as handle:
        json.dump({"fully_accelerated": model.fully_accelerated, "latency_ms": latency}, handle)


if __name__ == "__main__":
    probe(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None)
