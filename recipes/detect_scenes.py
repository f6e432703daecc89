"""Object detection: SSDLite trained on Fashion-MNIST detection scenes from ImageNet weights.

The scenes (keras_lightnets.data.detection) put 2-4 real Fashion-MNIST items on a canvas; every
item at least half visible is a ground-truth box of its class (10 classes). By default the
detector is SSDLite on EfficientNet-Lite0 (its real ImageNet weights, installed offline by the
setup) at 128 px, trained with AdamW, SSD's matching and loss and box-moving augmentation; the
report gives the held-out COCO AP, AP50 and AP75 (pycocotools). `--data folder:DIR` trains on
your own images with COCO-format annotations instead (keras_lightnets.data.coco_folder).

    python recipes/detect_scenes.py                            # -> runs/ssdlite_efficientnet_lite0_scenes/
    python recipes/detect_scenes.py --backbone mobilenet_v2 --backbone-weights none
    python recipes/detect_scenes.py --data folder:~/boxes --classes 4 --image-size 320
"""

import argparse
import os


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite0", help="a registered classification backbone")
    parser.add_argument("--backbone-weights", default="imagenet", help='"imagenet", "none" or a weights file')
    parser.add_argument("--data", default="scenes", help='"scenes" (Fashion-MNIST scenes) or folder:DIR')
    parser.add_argument("--classes", type=int, default=None, help="classes of a folder (background included: max id + 1)")
    parser.add_argument("--loss", default="hard_negative", choices=["hard_negative", "focal"])
    from keras_lightnets.train.flags import add_scene_run_flags, run_quietly

    add_scene_run_flags(parser, image_size=128, epochs=10)
    args = parser.parse_args(argv)
    return run_quietly("detect", args, argv, lambda: run(parser, args))


def run(parser, args):
    import keras_lightnets as kl
    from keras_lightnets.train.detection import DetectionConfig, fit_detection

    if args.data == "scenes":
        from keras_lightnets.data import detection

        train, test = detection.load_detection_scenes(size=args.image_size, train_count=args.train_scenes,
                                                      test_count=args.test_scenes, seed=args.seed)
        class_names, data_name = list(detection.CLASS_NAMES), "scenes"
    elif args.data.startswith("folder:"):
        from keras_lightnets.data import coco_folder

        root = os.path.expanduser(args.data[len("folder:"):])
        if args.classes is None:
            parser.error("--classes is needed with --data folder:DIR (the largest category id + 1)")
        train, test = coco_folder.load_coco_folder(root, args.classes, args.image_size)
        class_names, data_name = coco_folder.category_names(root, args.classes), os.path.basename(root.rstrip("/"))
    else:
        parser.error(f"--data {args.data!r}: 'scenes' or folder:DIR")
    weights = None if args.backbone_weights == "none" else args.backbone_weights

    def build():
        return kl.SSDLite(args.backbone, num_classes=len(class_names) + 1, image_size=args.image_size,
                          backbone_weights=weights, classification_loss=args.loss, class_names=class_names)
    run_dir = args.output_dir or os.path.join("runs", f"ssdlite_{args.backbone}_{data_name}")
    config = DetectionConfig(run_dir=run_dir, epochs=args.epochs, batch_size=args.batch_size,
                             learning_rate=args.learning_rate, ema_momentum=args.ema, precision=args.precision,
                             seed=args.seed)
    return fit_detection(build, train, test, config, class_names, overwrite=args.overwrite)


if __name__ == "__main__":
    main()
