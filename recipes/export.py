"""Export a trained model for serving and phones, and check every artifact.

    python recipes/export.py model.keras --calibration-dir images/ --quantization fp32 fp16 int8
    python recipes/export.py mobilenet_v2_0.35_96 --classes 10        # architecture with random weights

Writes a versioned SavedModel (TF Serving layout, atomic) under --base-dir and
TFLite files under --tflite-dir, loads the SavedModel in a TensorFlow-only
process, runs every TFLite file with LiteRT on the CPU and on the GPU
accelerator, and prints size, parity with Keras and latency. Same flags as
`lightnets export --help`.
"""

import sys

from keras_lightnets.cli import console

if __name__ == "__main__":
    console(["export", *sys.argv[1:]])
