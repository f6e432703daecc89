"""Semantic segmentation: LR-ASPP (or DeepLabV3) trained on Fashion-MNIST scenes from ImageNet weights.

The scenes (keras_lightnets.data.scenes) put 2-4 real Fashion-MNIST items on a canvas; every
pixel's class is its item's (11 classes with the background). By default the network is LR-ASPP
on EfficientNet-Lite0 (its real ImageNet weights, installed offline by the setup) at output
stride 16, trained with AdamW and per-pixel cross entropy; the report gives the held-out mean IoU.
`--data folder:DIR` trains on your own images and same-named PNG masks instead
(keras_lightnets.data.mask_folder).

    python recipes/segment_scenes.py                         # -> runs/lraspp_efficientnet_lite0_scenes/
    python recipes/segment_scenes.py --head deeplabv3 --backbone mobilenet_v2 --backbone-weights none
    python recipes/segment_scenes.py --data folder:~/labelled --classes 3 --image-size 128
"""

import argparse
import os


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--head", default="lraspp", choices=["lraspp", "deeplabv3", "deeplabv3plus"])
    parser.add_argument("--backbone", default="efficientnet_lite0", help="a registered backbone taking output_stride")
    parser.add_argument("--backbone-weights", default="imagenet", help='"imagenet", "none" or a weights file')
    parser.add_argument("--output-stride", type=int, default=16)
    parser.add_argument("--data", default="scenes", help='"scenes" (Fashion-MNIST scenes) or folder:DIR')
    parser.add_argument("--classes", type=int, default=None, help="classes of a folder's masks (background included)")
    from keras_lightnets.train.flags import add_scene_run_flags, run_quietly

    add_scene_run_flags(parser, image_size=96, epochs=8)
    args = parser.parse_args(argv)
    return run_quietly("segment", args, argv, lambda: run(parser, args))


def run(parser, args):

    import keras_lightnets as kl
    from keras_lightnets.train.segmentation import SegmentationConfig, fit_segmentation

    if args.data == "scenes":
        from keras_lightnets.data import scenes

        train, test = scenes.load_fashion_scenes(size=args.image_size, train_count=args.train_scenes,
                                                 test_count=args.test_scenes, seed=args.seed)
        class_names, data_name = list(scenes.CLASS_NAMES), "scenes"
    elif args.data.startswith("folder:"):
        from keras_lightnets.data import mask_folder

        root = os.path.expanduser(args.data[len("folder:"):])
        if args.classes is None:
            parser.error("--classes is needed with --data folder:DIR")
        train, test = mask_folder.load_mask_folder(root, args.classes, size=args.image_size)
        if test is None:
            parser.error(f"{root} has no test/ or val/ split to measure the model on")
        class_names, data_name = [f"class_{index}" for index in range(args.classes)], os.path.basename(root.rstrip("/"))
    else:
        parser.error(f"--data {args.data!r}: 'scenes' or folder:DIR")
    weights = None if args.backbone_weights == "none" else args.backbone_weights
    common = dict(backbone=args.backbone, num_classes=len(class_names), input_shape=(args.image_size, args.image_size, 3),
                  output_stride=args.output_stride, backbone_weights=weights)

    def build():
        if args.head == "lraspp":
            return kl.LRASPP(**common)
        return kl.DeepLabV3(**common, decoder=args.head == "deeplabv3plus", separable=args.head == "deeplabv3plus")
    run_dir = args.output_dir or os.path.join("runs", f"{args.head}_{args.backbone}_{data_name}")
    config = SegmentationConfig(run_dir=run_dir, epochs=args.epochs, batch_size=args.batch_size,
                                learning_rate=args.learning_rate, ema_momentum=args.ema, precision=args.precision,
                                seed=args.seed)
    return fit_segmentation(build, train, test, config, class_names, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
