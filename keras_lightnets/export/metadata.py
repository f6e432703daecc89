"""TFLite metadata for classifiers, so that MediaPipe Tasks' ImageClassifier (Android, iOS, web, Python) runs the file.

MediaPipe refuses a ``.tflite`` without metadata: it must know how to turn
an image into the input tensor (normalization, color space) and what the
output means (probabilities over named classes). :func:`add_classifier_metadata`
writes that with MediaPipe's own metadata writer
(``mediapipe.tasks.python.metadata.metadata_writers``, extra ``mediapipe``):
model name and description, the input image's color space and
normalization, the output as probabilities with the class names packed as
the associated file ``labels.txt``.

Our classifiers take raw [0, 255] pixels (their preprocessing is in the
graph), so a float input gets mean 0 and std 1; a uint8 input (int8 files
written with ``int8_io="uint8"``) gets no normalization at all.

The writer needs one function of a compiled module that mediapipe >= 0.10.35
no longer ships (``mediapipe.tasks.cc.metadata.python._pywrap_metadata_version``,
``GetMinimumMetadataParserVersion``). :func:`minimum_parser_version` computes
the same thing in Python from the metadata flatbuffer, following MediaPipe's
``metadata_version.cc``: 1.0.0, raised by each schema member added later
that the metadata uses. It stands in for the missing module only while that
module cannot be imported; ``tests/test_tflite_metadata.py`` fails loudly when
mediapipe changes what this relies on.
"""

import gc
import os
import sys
import types

from keras_lightnets import validation
from keras_lightnets.errors import MissingExtraError
from keras_lightnets.export.atomic import atomic_write_bytes

INSTALL = 'pip install "mediapipe==1.2.3" (tensorflow-model-optimization pins absl-py 1.x and mediapipe needs 2.x: ' \
          'install it in a second pip call, after keras_lightnets\' extras)'
_MISSING_MODULE = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
DEFAULT_VERSION = (1, 0, 0)


def _schema():
    from mediapipe.tasks.metadata import metadata_schema_py_generated as schema

    return schema


def minimum_parser_version(metadata_buffer):
    """The oldest metadata parser version that understands every field a ``ModelMetadata`` flatbuffer uses.

    Args:
        metadata_buffer: The metadata flatbuffer (bytes).

    Returns:
        str "MAJOR.MINOR.PATCH", e.g. "1.0.0" for an image classifier's metadata.
    """
    schema = _schema()
    metadata = schema.ModelMetadataT.InitFromObj(schema.ModelMetadata.GetRootAsModelMetadata(bytearray(metadata_buffer), 0))
    found = [DEFAULT_VERSION]
    options, files = schema.ProcessUnitOptions, schema.AssociatedFileType
    unit_versions = {options.BertTokenizerOptions: (1, 1, 0), options.SentencePieceTokenizerOptions: (1, 1, 0),
                     options.RegexTokenizerOptions: (1, 2, 1)}

    def associated(file_list):
        for item in file_list or ():
            if item.type == files.VOCABULARY:
                found.append((1, 0, 1))
            if item.type == files.SCANN_INDEX_FILE:
                found.append((1, 4, 0))
            if item.version is not None:
                found.append((1, 4, 1))

    def units(unit_list):
        for unit in unit_list or ():
            found.append(unit_versions.get(unit.optionsType, DEFAULT_VERSION))

    def tensor(item):
        associated(item.associatedFiles)
        units(item.processUnits)
        if item.content is not None and item.content.contentPropertiesType == schema.ContentProperties.AudioProperties:
            found.append((1, 3, 0))

    for subgraph in metadata.subgraphMetadata or ():
        for item in (subgraph.inputTensorMetadata or []) + (subgraph.outputTensorMetadata or []):
            tensor(item)
        associated(subgraph.associatedFiles)
        for unit_list, version in ((subgraph.inputProcessUnits, (1, 1, 0)), (subgraph.outputProcessUnits, (1, 1, 0))):
            if unit_list is not None:
                found.append(version)
                units(unit_list)
        if subgraph.inputTensorGroups is not None or subgraph.outputTensorGroups is not None:
            found.append((1, 2, 0))
        if subgraph.customMetadata is not None:
            found.append((1, 5, 0))
    associated(metadata.associatedFiles)
    return ".".join(map(str, max(found)))


def _writers():
    """MediaPipe's metadata writer modules, with the stand-in for the missing compiled module when needed."""
    try:
        import mediapipe.tasks.metadata.metadata_schema_py_generated  # noqa: F401
    except ImportError:
        raise MissingExtraError(f"TFLite metadata needs MediaPipe's metadata writers: {INSTALL}") from None
    try:
        __import__(_MISSING_MODULE)
    except ImportError:
        stand_in = types.ModuleType(_MISSING_MODULE)
        stand_in.GetMinimumMetadataParserVersion = minimum_parser_version
        parts = _MISSING_MODULE.split(".")
        for index in range(3, len(parts)):  # mediapipe.tasks.cc, .metadata, .python, the module
            name = ".".join(parts[: index + 1])
            if name not in sys.modules:
                sys.modules[name] = stand_in if name == _MISSING_MODULE else types.ModuleType(name)
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    return metadata_writer


def available():
    """Whether MediaPipe's metadata writers can be imported here (the ``mediapipe`` package is installed)."""
    import importlib.util

    return importlib.util.find_spec("mediapipe") is not None


def describe(name, classes, height, width, channels, kind, uint8_input=False, task="classifier"):
    """The description stored in a classifier's (or, ``task="segmenter"``, a segmenter's) file metadata."""
    pixels = "uint8" if uint8_input else "float32"
    what, out = {"classifier": ("image classifier", "probabilities"),
                 "segmenter": ("semantic segmenter", "per-pixel probabilities"),
                 "detector": ("object detector", "boxes, classes, scores and the number of detections")}[task]
    return (f"{name}: {what} over {classes} classes, {height}x{width} {'RGB' if channels == 3 else 'grayscale'} "
            f"{pixels} pixels in [0, 255] in, {out} out ({kind} TFLite file written by keras_lightnets).")


def _check_labels(labels):
    if labels is not None and not (labels and all(isinstance(label, str) and label.strip() and "\n" not in label
                                                  for label in labels)):
        validation.fail("labels", labels, "None, or a list of non-empty class names without line breaks")


def add_classifier_metadata(path, labels, name, description, channels=3, uint8_input=False):
    """Rewrites a classifier ``.tflite`` file with MediaPipe Tasks' metadata (atomically).

    Args:
        path: The ``.tflite`` file (single image input, one probabilities output).
        labels: Class names, one per output class (list of non-empty str), or None (classes by index only).
        name: Model name stored in the metadata.
        description: Human-readable description stored in the metadata.
        channels: Input channels: 3 (RGB) or 1 (grayscale).
        uint8_input: Whether the input tensor is uint8 (no normalization then).

    Returns:
        ``path``.

    Raises:
        MissingExtraError: mediapipe is not installed.
        LightnetsError: bad labels or channels.
    """
    _check_labels(labels)
    validation.check_choice("channels", channels, [1, 3])
    metadata_writer = _writers()
    color = metadata_writer.metadata_fb.ColorSpaceType

    def writer(model):
        made = metadata_writer.MetadataWriter.create(model)
        made.add_general_info(name, description)
        made.add_image_input([] if uint8_input else [0.0], [] if uint8_input else [1.0],
                             color_space_type=color.RGB if channels == 3 else color.GRAYSCALE,
                             description="Input image: raw pixels in [0, 255]" + ("" if uint8_input else " as float32") + ".")
        made.add_classification_output(metadata_writer.Labels().add(list(labels)) if labels else None, name="probability",
                                       description="Probabilities of the classes" + (" in labels.txt" if labels else "") + ".")
        return made

    return _rewrite(path, writer)


def add_segmenter_metadata(path, labels, name, description, uint8_input=False):
    """Rewrites a segmenter ``.tflite`` file with MediaPipe Tasks' ImageSegmenter metadata (atomically).

    The file's one output is per-pixel probabilities (batch, H, W, classes),
    so the metadata says no activation; MediaPipe's category mask is each
    pixel's most probable class and its confidence masks the probabilities.

    Args:
        path: The ``.tflite`` file (one float32 RGB image input in [0, 255], one probabilities output).
        labels: Class names, one per class (list of non-empty str), or None (classes by index only).
        name: Model name stored in the metadata.
        description: Human-readable description stored in the metadata.
        uint8_input: Whether the input tensor is uint8 (no normalization then).

    Returns:
        ``path``.

    Raises:
        MissingExtraError: mediapipe is not installed.
        LightnetsError: bad labels.
    """
    _check_labels(labels)
    metadata_writer = _writers()
    from mediapipe.tasks.python.metadata.metadata_writers import image_segmenter


    def writer(model):
        made = image_segmenter.MetadataWriter.create(
            model, [] if uint8_input else [0.0], [] if uint8_input else [1.0],
            metadata_writer.Labels().add(list(labels)) if labels else None,
            activation=image_segmenter.Activation.NONE)
        made.writer.add_general_info(name, description)  # replaces the writer's generic "ImageSegmenter"
        return made

    return _rewrite(path, writer)


def add_detector_metadata(path, labels, name, description):
    """Rewrites a detector ``.tflite`` file with MediaPipe Tasks' ObjectDetector metadata (atomically).

    The file ends in LiteRT's ``TFLite_Detection_PostProcess`` op; its four outputs, in
    order, are the metadata's location (normalized ymin, xmin, ymax, xmax), category,
    score and number of detections (MediaPipe's writer for models with NMS).

    Args:
        path: The ``.tflite`` file (one float32 RGB image input in [0, 255]; the four outputs).
        labels: Object class names, one per class without the background (list of non-empty str).
        name: Model name stored in the metadata.
        description: Human-readable description stored in the metadata.

    Returns:
        ``path``.

    Raises:
        MissingExtraError: mediapipe is not installed.
        LightnetsError: bad labels.
    """
    if labels is None:
        validation.fail("labels", labels, "the object class names (MediaPipe's ObjectDetector needs a label file)")
    _check_labels(labels)
    metadata_writer = _writers()
    from mediapipe.tasks.python.metadata.metadata_writers import object_detector

    def writer(model):
        made = object_detector.MetadataWriter.create_for_models_with_nms(
            model, [0.0], [1.0], metadata_writer.Labels().add(list(labels)))
        made.writer.add_general_info(name, description)  # replaces the writer's generic "ObjectDetector"
        return made

    return _rewrite(path, writer)


def _rewrite(path, make_writer):
    """Rewrites ``path`` (atomically) with what ``make_writer(its bytes)``, a MediaPipe metadata writer, populates.

    Returns ``path``.
    """
    with open(path, "rb") as file:
        writer = make_writer(bytearray(file.read()))
    content, _ = writer.populate()
    del writer  # the only reference: its temporary folder goes now, not at interpreter exit (where its __del__ fails)
    gc.collect()
    atomic_write_bytes(os.fspath(path), bytes(content))
    return path


def metadata_json(path):
    """The metadata of a ``.tflite`` file as JSON text (MediaPipe's displayer), or None when it has none."""
    _writers()
    from mediapipe.tasks.python.metadata import metadata

    with open(path, "rb") as file:
        content = file.read()
    try:
        return metadata.MetadataDisplayer.with_model_buffer(content).get_metadata_json()
    except ValueError:
        return None
