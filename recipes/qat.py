"""Quantization-aware training of a trained model (tfmot), ending in a full-integer TFLite file.

Sets the activation ranges from 16 training batches, fine-tunes the model at a low learning rate
with fake-quantized int8 weights and activations (1e-3 diverged on the digits model), converts it to an int8 TFLite file (no float op left:
checked), and measures it against the fp32 TFLite file of the model before QAT: LiteRT
accuracy on the test set, size, CPU latency. Writes report.md / report.json.

    python recipes/qat.py       # runs/mobilenet_v1_digits/model.keras (trained first if missing) -> .../qat/
    python recipes/qat.py --model runs/mobilenet_v1_fashion_mnist/model.keras --dataset fashion_mnist --epochs 1
    python recipes/qat.py --model runs/finetune/model.keras --dataset fashion_mnist --epochs 1 --steps-per-epoch 300
"""

from keras_lightnets.compress.recipe import recipe_parser, run_qat, session_from_flags
from keras_lightnets.train.flags import run_quietly


def main(argv=None):
    """Parses flags and runs the QAT recipe."""
    args = recipe_parser(__doc__, "qat", epochs=3, learning_rate=1e-4).parse_args(argv)
    return run_quietly("qat", args, argv, lambda: run_qat(session_from_flags(args), args.epochs, args.learning_rate))


if __name__ == "__main__":
    main()
