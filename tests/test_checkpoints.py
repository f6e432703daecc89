"""Checkpoints from strangers: both readers refuse every malformed field with CheckpointError, and never crash.

The files are written here (tests/checkpoint_writers.py assembles torch's pickles opcode by opcode), so
every field can carry what a crafted file would: negative offsets and strides, sizes that overflow 64 bits,
bools and strings where integers belong. The fuzzer loads a few hundred seeded mutations of small valid
files, each in a forked child (tests/checkpoint_load_driver.py), and accepts only a clean load or a
CheckpointError: a signal, a time-out or any other exception fails it.
"""

import json
import os
import random
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from keras_lightnets import pth, safetensors_reader
from keras_lightnets.checkpoint_fields import CheckpointError
from tests import checkpoint_writers as cw

DRIVER = os.path.join(os.path.dirname(__file__), "checkpoint_load_driver.py")
MUTATIONS_PER_BYTE_KIND = 60  # seeded flips, insertions and deletions per base file


def _weights():
    rng = np.random.default_rng(0)
    return {
        "conv": rng.standard_normal(4 * 3 * 3 * 3 + 6).astype("<f4"),  # conv kernel + a bias view further on
        "half": rng.standard_normal(10).astype("<f2"),
        "count": np.array([7], "<i8"),
        "mask": np.array([True, False, True]),
    }


def _pth_parts():
    """(tensors, storages) of a small valid state dict: views with offsets, several dtypes, a 0-d and an empty tensor."""
    weights = _weights()
    storages = {"0": cw.Storage("<f4", weights["conv"].tobytes()), "1": cw.Storage("<f2", weights["half"].tobytes()),
                "2": cw.Storage("<i8", weights["count"].tobytes()), "3": cw.Storage("?", weights["mask"].tobytes())}
    tensors = {
        "features.0.weight": cw.contiguous("0", (4, 3, 3, 3)),
        "features.0.bias": cw.Tensor("0", 108, (4,), (1,)),
        "head.weight": cw.Tensor("1", 0, (2, 5), (1, 2)),  # a transposed (non-contiguous) view
        "bn.num_batches_tracked": cw.contiguous("2", ()),
        "mask": cw.contiguous("3", (3,)),
        "empty": cw.Tensor("0", 0, (0, 5), (5, 1)),
        "column": cw.Tensor("0", 2, (3, 1), (1, 0)),  # a zero stride on a dimension of 1 is fine
    }
    return tensors, storages


def _expected_pth():
    w = _weights()
    return {"features.0.weight": w["conv"][:108].reshape(4, 3, 3, 3), "features.0.bias": w["conv"][108:112],
            "head.weight": w["half"].reshape(5, 2).T, "bn.num_batches_tracked": np.int64(7), "mask": w["mask"],
            "empty": np.zeros((0, 5), "f4"), "column": w["conv"][2:5].reshape(3, 1)}


def _safetensors_arrays():
    w = _weights()
    return {"conv": w["conv"][:108].reshape(4, 3, 3, 3), "half": w["half"].reshape(2, 5), "count": w["count"],
            "mask": w["mask"], "empty": np.zeros((0, 3), "<f4"), "bytes": np.arange(5, dtype="u1")}


def _write(path, content):
    path.write_bytes(content)
    return path


def _pth_file(tmp_path, tensors=None, storages=None, layout="zip"):
    base_tensors, base_storages = _pth_parts()
    tensors, storages = tensors or base_tensors, storages or base_storages
    content = cw.zip_pth(tensors, storages) if layout == "zip" else cw.legacy_pth(tensors, storages)[0]
    return _write(tmp_path / f"{layout}.pth", content)


def _with(tensor_name, **fields):
    tensors, storages = _pth_parts()
    tensors[tensor_name] = cw.Tensor(**{**vars(tensors[tensor_name]), **fields})
    return tensors, storages


# --- the valid files, as torch writes them ---------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_valid_state_dict_loads_exactly(tmp_path, layout):
    loaded = pth.load_state_dict(_pth_file(tmp_path, layout=layout))
    expected = _expected_pth()
    assert list(loaded) == list(expected)
    for name, array in expected.items():
        assert loaded[name].dtype == np.asarray(array).dtype and loaded[name].shape == np.shape(array), name
        np.testing.assert_array_equal(loaded[name], array)


def test_a_valid_safetensors_file_loads_exactly(tmp_path):
    arrays = _safetensors_arrays()
    loaded = safetensors_reader.load_state_dict(_write(tmp_path / "m.safetensors", cw.safetensors(*cw.safetensors_of(arrays))))
    assert list(loaded) == list(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)
    loaded["conv"][0] = 0  # the arrays are the caller's own, writable


# --- the cases a stranger's file showed, one named test each -------------------------------------------------

@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_negative_stride_is_refused_not_a_segfault(tmp_path, layout):
    # Once: as_strided walked 4 MB before the buffer and the process died by SIGSEGV.
    path = _pth_file(tmp_path, *_with("features.0.bias", size=(1000000,), stride=(-1,)), layout=layout)
    with pytest.raises(CheckpointError, match=r"zip.pth|legacy.pth") as caught:
        pth.load_state_dict(path)
    assert "'features.0.bias'" in str(caught.value) and "stride" in str(caught.value)


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_negative_storage_offset_is_refused(tmp_path, layout):
    # Once: loaded silently, with data from the wrong end of the storage.
    path = _pth_file(tmp_path, *_with("features.0.bias", offset=-4), layout=layout)
    with pytest.raises(CheckpointError, match=r"tensor 'features.0.bias': storage offset -4 is not a non-negative"):
        pth.load_state_dict(path)


def test_a_negative_size_is_a_checkpoint_error(tmp_path):
    # Once: a bare numpy ValueError.
    path = _pth_file(tmp_path, *_with("features.0.weight", size=(4, -3, 3, 3)))
    with pytest.raises(CheckpointError, match=r"tensor 'features.0.weight': size\[1\] -3"):
        pth.load_state_dict(path)


@pytest.mark.parametrize("field, value, message", [
    ("offset", True, "storage offset True"), ("offset", "0", "storage offset '0'"), ("offset", 1.0, "storage offset 1.0"),
    ("offset", 2**64, "reaches element"), ("size", (True, 4), r"size\[0\] True"), ("size", "44", "size '44' is not a list"),
    ("size", (2**62, 2**62), "more than"), ("size", (5,) * 40, "40 dimensions"),
    ("stride", (1, 1), "different lengths"), ("stride", (0,), r"stride\[0\] is 0 on a dimension of 4"),
    ("stride", (2**62,), "reaches element"), ("size", (40,), "reaches element"),
])
def test_every_view_field_is_checked(tmp_path, field, value, message):
    path = _pth_file(tmp_path, *_with("features.0.bias", **{field: value}))
    with pytest.raises(CheckpointError, match=message):
        pth.load_state_dict(path)


def test_storage_element_counts_must_match_the_bytes(tmp_path):
    tensors, storages = _pth_parts()
    for numel, layout in ((-1, "zip"), (10**6, "zip"), (True, "zip"), (-1, "legacy"), (10**6, "legacy"), (113, "legacy")):
        storages["0"].numel = numel
        with pytest.raises(CheckpointError):
            pth.load_state_dict(_pth_file(tmp_path, tensors, storages, layout))


@pytest.mark.parametrize("shape, offsets, message", [
    ([2**62, 4], [0, 0], "more than"),  # once: a bare numpy ValueError
    ([-2, 3], [0, 24], r"shape\[0\] -2"),  # once: a bare numpy ValueError
    ("23", [0, 24], "shape '23' is not a list"),  # once: loaded as (2, 3)
    ([2, True], [0, 8], r"shape\[1\] True"), ([2.0, 3], [0, 24], r"shape\[0\] 2.0"),
    ([2, 3], [-24, 0], r"data_offsets\[0\] -24"), ([2, 3], [24, 0], "begin <= end"), ([2, 3], [0, 24, 48], "begin <= end"),
    ([2, 3], ["0", 24], r"data_offsets\[0\] '0'"), ([2, 3], [0, 20], "span 20 bytes"),
])
def test_safetensors_fields_are_checked(tmp_path, shape, offsets, message):
    header = {"w": {"dtype": "F32", "shape": shape, "data_offsets": offsets}}
    path = _write(tmp_path / "bad.safetensors", cw.safetensors(header, bytes(24)))
    with pytest.raises(CheckpointError, match=f"bad.safetensors: tensor 'w': .*{message}"):
        safetensors_reader.load_state_dict(path)


@pytest.mark.parametrize("edit, message", [
    (lambda h: h["conv"].update(dtype="BF16"), "dtype 'BF16' is not supported"),
    (lambda h: h["conv"].update(dtype=4), "dtype 4 is not supported"),
    (lambda h: h["conv"].pop("shape"), "not {dtype, shape, data_offsets}"),
    (lambda h: h.update(conv=[1, 2]), "not {dtype, shape, data_offsets}"),
    (lambda h: h.update(__metadata__=[1]), "__metadata__ is not an object"),
    (lambda h: h["half"].update(data_offsets=[0, 20]), "starts at byte 0"),  # overlaps conv
    (lambda h: h["bytes"].update(data_offsets=[h["bytes"]["data_offsets"][0] + 5, h["bytes"]["data_offsets"][1] + 5]),
     "tensor 'bytes' starts at byte 468, the tensors before it end at 463"),
])
def test_safetensors_header_entries_are_checked(tmp_path, edit, message):
    header, data = cw.safetensors_of(_safetensors_arrays())
    edit(header)
    with pytest.raises(CheckpointError, match=message):
        safetensors_reader.load_state_dict(_write(tmp_path / "bad.safetensors", cw.safetensors(header, data)))


def test_a_safetensors_header_declaring_more_than_the_file_holds_is_refused_unread(tmp_path, monkeypatch):
    header, data = cw.safetensors_of({"w": np.zeros((1024, 1024), "<f4")})
    path = _write(tmp_path / "short.safetensors", cw.safetensors(header, data[:100]))
    reads = []
    original = safetensors_reader.np.frombuffer
    monkeypatch.setattr(safetensors_reader.np, "frombuffer", lambda *a, **k: reads.append(1) or original(*a, **k))
    with pytest.raises(CheckpointError, match="declares 4194304 bytes of tensors, the file holds 100"):
        safetensors_reader.load_state_dict(path)
    assert not reads
    duplicated = b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}'
    path = _write(tmp_path / "twice.safetensors", len(duplicated).to_bytes(8, "little") + duplicated + b"\x01")
    with pytest.raises(CheckpointError, match="appears twice"):
        safetensors_reader.load_state_dict(path)
    deep = b"[" * 100000 + b"]" * 100000
    with pytest.raises(CheckpointError, match="corrupt .safetensors header"):
        safetensors_reader.load_state_dict(_write(tmp_path / "deep.safetensors", len(deep).to_bytes(8, "little") + deep))


def _zip_with_storage(tmp_path, storage_bytes, compress_type=zipfile.ZIP_STORED, name="big.pth"):
    tensors, storages = _pth_parts()
    content = cw.zip_pth(tensors, storages)
    source = zipfile.ZipFile(__import__("io").BytesIO(content))
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for info in source.infolist():
            data = storage_bytes if info.filename == "archive/data/0" else source.read(info)
            archive.writestr(info.filename, data, compress_type=compress_type if info.filename == "archive/data/0" else zipfile.ZIP_STORED)
    return path


def test_a_zip_entry_larger_than_its_tensors_or_compressed_is_refused_unread(tmp_path, monkeypatch):
    weights = _weights()["conv"].tobytes()
    larger = _zip_with_storage(tmp_path, weights * 10 + bytes(4))
    # A deflated entry could inflate far past the file (64 MB of zeros compress to 64 KB): PyTorch stores entries.
    bomb = _zip_with_storage(tmp_path, bytes(64 * 1024 * 1024), zipfile.ZIP_DEFLATED, "bomb.pth")
    fine = _zip_with_storage(tmp_path, weights, name="fine.pth")
    opened = []
    original = zipfile.ZipFile.open

    def recording_open(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    with pytest.raises(CheckpointError, match=r"storage 0 holds 4564 bytes, the tensors that use it need 456; refused unread"):
        pth.load_state_dict(larger)
    with pytest.raises(CheckpointError, match="storage 0 is compressed"):
        pth.load_state_dict(bomb)
    assert "archive/data/0" not in opened
    assert pth.load_state_dict(fine)["features.0.bias"].shape == (4,)
    assert "archive/data/0" in opened  # the recording sees reads: the refusals above really read nothing


@pytest.mark.parametrize("module, name", [("os", "system"), ("posix", "system"), ("builtins", "exec"),
                                          ("builtins", "getattr"), ("builtins", "eval"), ("torch", "load")])
def test_a_pickle_naming_anything_else_is_refused_before_it_runs(tmp_path, module, name):
    marker = tmp_path / "ran"
    call = cw.Reduce(cw.Global(module, name), (f"open({str(marker)!r}, 'w')",))
    content = cw.pickle_bytes(cw.OrderedDictOf([("w", call)]))
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", content)
    with pytest.raises(CheckpointError, match=f"names {module}.{name}; only tensors, storages and ordered dicts"):
        pth.load_state_dict(path)
    assert not marker.exists()


def test_a_pickle_cannot_change_the_readers_allow_list(tmp_path):
    # BUILD sets attributes on what a pickle names: renaming the FloatStorage the reader resolves would reach
    # every later load if the allow-list handed out shared objects.
    renamed = cw.Build(cw.Global("torch", "FloatStorage"), {"name": "BFloat16Storage"})
    path = tmp_path / "rename.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", cw.pickle_bytes(cw.OrderedDictOf([("w", renamed)])))
    with pytest.raises(CheckpointError, match="entry 'w' is a _StorageType, not a tensor"):
        pth.load_state_dict(path)
    assert pth.load_state_dict(_pth_file(tmp_path))["features.0.weight"].dtype == np.float32


def test_a_legacy_view_storage_and_a_redeclared_storage_are_refused(tmp_path):
    tensors, storages = _pth_parts()
    pid = ("storage", cw.Global("torch", "FloatStorage"), "0", "cpu", 114, ("0", 0, 4))  # a view of another storage
    state = cw.OrderedDictOf([("w", cw.Reduce(cw.Global("torch._utils", "_rebuild_tensor_v2"),
                                              (cw.PersistentId(pid), 0, (4,), (1,), False, cw.OrderedDictOf([]))))])
    path = tmp_path / "view.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", cw.pickle_bytes(state))
    with pytest.raises(CheckpointError, match="unexpected persistent id"):
        pth.load_state_dict(path)
    tensors["head.weight"] = cw.Tensor("0", 0, (2, 5), (1, 2), storage_type="HalfStorage")  # storage 0 as f4 and f2
    with pytest.raises(CheckpointError, match="storage 0 is declared twice"):
        pth.load_state_dict(_pth_file(tmp_path, tensors, storages))


# --- the fuzzer ---------------------------------------------------------------------------------------------

def _byte_mutations(rng, content, label):
    """Seeded flips, insertions and deletions: the file may stay valid or not (any outcome but a crash)."""
    cases = []
    for index in range(MUTATIONS_PER_BYTE_KIND):
        data = bytearray(content)
        kind = ("flip", "insert", "delete")[index % 3]
        position = rng.randrange(len(data))
        if kind == "flip":
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == "insert":
            data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            del data[position:position + rng.randint(1, 16)]
        cases.append((f"{label} {kind} {index}", bytes(data), "either"))
    return cases


def _truncations(content, boundaries, label):
    cuts = sorted({max(0, min(len(content) - 1, b + d)) for b in boundaries for d in (-1, 0, 1)})
    return [(f"{label} truncated at {cut}", content[:cut], "refuse") for cut in cuts]


def _zip_boundaries(content):
    import io

    archive = zipfile.ZipFile(io.BytesIO(content))
    starts = [info.header_offset for info in archive.infolist()]
    data_starts = [info.header_offset + 30 + len(info.filename.encode()) for info in archive.infolist()]
    directory = content.rfind(b"PK\x01\x02", 0, content.rfind(b"PK\x05\x06"))
    return starts + data_starts + [content.find(b"PK\x01\x02"), directory, content.rfind(b"PK\x05\x06"), len(content) - 10]


def _field_mutations():
    """(label, tensors, storages, expectation) of structured changes to the .pth fields."""
    cases = []
    bad = {
        "offset": [-1, -(2**63), 2**64, 10**6, True, "0", 1.5, None],
        "size": [(-4,), (4000,), (2**62,), (2**64,), (True,), "4", None, (4, 2**62), (), (1,) * 40],
        "stride": [(-1,), (0,), (10**6,), (2**62,), (True,), "1", (1, 1), ()],
    }
    combined = [{"size": (1000000,), "stride": (-1,)}, {"size": (2**40,), "stride": (2**40,)}, {"offset": -108, "size": (200,)}]
    for name in ("features.0.bias", "head.weight"):
        for fields in combined:
            cases.append((f"{name} {fields}", *_with(name, **fields), "refuse"))
        for field, values in bad.items():
            for value in values:
                tensors, storages = _with(name, **{field: value})
                if field == "size" and name == "head.weight" and value == ():
                    continue  # a 0-d view of element 0: valid
                expectation = "refuse"
                if field == "stride" and name == "head.weight" and value == (1, 1):
                    expectation = "load"  # overlapping but in-bounds view: torch writes none, but it is safe
                cases.append((f"{name} {field}={value!r}", tensors, storages, expectation))
    for numel in (-1, 0, 10**6, 2**63, True, "12"):
        tensors, storages = _pth_parts()
        storages["1"].numel = numel
        cases.append((f"storage numel={numel!r}", tensors, storages, "refuse"))
    for storage_type, expectation in (("DoubleStorage", "refuse"), ("HalfStorage", "refuse"), ("IntStorage", "load"),
                                      ("BFloat16Storage", "refuse"), ("EvilStorage", "refuse"), ("ByteStorage", "refuse")):
        tensors, storages = _pth_parts()
        tensors["features.0.weight"].storage_type = storage_type
        tensors["features.0.bias"].storage_type = storage_type
        tensors["empty"].storage_type = storage_type
        tensors["column"].storage_type = storage_type
        cases.append((f"storage type {storage_type}", tensors, storages, expectation))
    tensors, storages = _pth_parts()
    tensors["features.0.weight"].storage = "9"
    cases.append(("missing storage", tensors, storages, "refuse"))
    return cases


def _safetensors_mutations():
    arrays = _safetensors_arrays()
    header, data = cw.safetensors_of(arrays)
    values = {
        "dtype": [("F16", "refuse"), ("I32", "load"), ("BF16", "refuse"), (7, "refuse"), ("f32", "refuse"), (None, "refuse")],
        "shape": [([-4, 27], "refuse"), ("108", "refuse"), ([2**62, 4], "refuse"), ([True, 108], "refuse"),
                  ([4.0, 27], "refuse"), ([108], "load"), ([], "refuse"), ([2**64], "refuse"), ([1] * 40, "refuse")],
        "data_offsets": [([-1, 431], "refuse"), ([0, 433], "refuse"), ([432, 0], "refuse"), ([0, 2**64], "refuse"),
                         ([0], "refuse"), (["0", 432], "refuse"), ([0, 432.0], "refuse"), ([1, 433], "refuse")],
    }
    cases = []
    for field, options in values.items():
        for value, expectation in options:
            edited = json.loads(json.dumps(header))
            edited["conv"][field] = value
            cases.append((f"safetensors conv {field}={value!r}", cw.safetensors(edited, data), expectation))
    content = cw.safetensors(header, data)
    length = int.from_bytes(content[:8], "little")
    for delta, expectation in ((1, "refuse"), (-1, "refuse"), (2**40, "refuse"), (-length, "refuse")):
        cases.append((f"safetensors header length {delta:+d}", (length + delta).to_bytes(8, "little") + content[8:], expectation))
    cases.append(("safetensors header a list", cw.safetensors([1, 2], b""), "refuse"))
    cases.append(("safetensors trailing bytes", content + b"\x00", "refuse"))
    cases.append(("safetensors unknown key", cw.safetensors({**header, "x": {**header["mask"], "extra": 1}}, data), "refuse"))
    boundaries = [0, 4, 8, 8 + length // 2, 8 + length] + [8 + length + entry["data_offsets"][1] for entry in header.values()]
    return cases + _truncations(content, boundaries, "safetensors")


def _fuzz_cases():
    rng = random.Random(20261206)
    cases = []
    for label, tensors, storages, expectation in _field_mutations():
        cases.append((f"zip {label}", cw.zip_pth(tensors, storages), expectation))
        cases.append((f"legacy {label}", cw.legacy_pth(tensors, storages)[0], expectation))
    tensors, storages = _pth_parts()
    zipped = cw.zip_pth(tensors, storages)
    legacy, boundaries = cw.legacy_pth(tensors, storages)
    cases += [("zip valid", zipped, "load"), ("legacy valid", legacy, "load")]
    cases += _truncations(zipped, _zip_boundaries(zipped), "zip") + _truncations(legacy, boundaries, "legacy")
    cases += _byte_mutations(rng, zipped, "zip") + _byte_mutations(rng, legacy, "legacy")
    safetensors_content = cw.safetensors(*cw.safetensors_of(_safetensors_arrays()))
    cases += [("safetensors valid", safetensors_content, "load")] + _safetensors_mutations()
    cases += _byte_mutations(rng, safetensors_content, "safetensors")
    return cases


def test_fuzzed_checkpoints_load_cleanly_or_raise_checkpoint_error_in_a_child(tmp_path):
    cases = _fuzz_cases()
    paths = []
    for index, (label, content, _expectation) in enumerate(cases):
        suffix = ".safetensors" if label.startswith("safetensors") else ".pth"
        paths.append(str(_write(tmp_path / f"case{index:04d}{suffix}", content)))
    (tmp_path / "list.txt").write_text("\n".join(paths))
    start = time.monotonic()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, DRIVER, str(tmp_path / "list.txt")], capture_output=True, text=True,
                          timeout=300, env=env)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == len(cases)
    problems = []
    for (label, _, expectation), result in zip(cases, results):
        outcome = result["outcome"]
        allowed = {"load": {"loaded"}, "refuse": {"CheckpointError"}, "either": {"loaded", "CheckpointError"}}[expectation]
        if outcome not in allowed:
            problems.append(f"{label}: expected {expectation}, got {outcome}: {result.get('message', '')}")
        elif outcome == "CheckpointError" and os.path.basename(result["path"]) not in result["message"]:
            problems.append(f"{label}: the message does not name the file: {result['message']}")
    counts = {kind: sum(r["outcome"] == kind for r in results) for kind in ("loaded", "CheckpointError")}
    print(f"{len(cases)} mutated files in {elapsed:.1f} s: {counts}; slowest child {max(r['seconds'] for r in results):.3f} s")
    assert not problems, "\n".join(problems[:40])
    assert len(cases) >= 300 and elapsed < 60
    assert counts["loaded"] >= 5 and counts["CheckpointError"] >= 250  # both outcomes really occur
