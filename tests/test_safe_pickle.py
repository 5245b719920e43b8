"""Loading a downloaded data file must not run code: msa_lib.data.safe_pickle and its use in the readers."""

import builtins
import collections
import io
import os
import pickle
import subprocess
import zipfile

import numpy as np
import pytest

from msa_lib.data import load_mertools, load_mmsa, save_mertools, save_mmsa, synthetic_mosei
from msa_lib.data.mertools import _read_labels
from msa_lib.data.safe_pickle import UnsafePickleError, safe_load, safe_load_npz_member, safe_loads


# ------------------------------------------------------------------------------------ crafted files


class _Payload:
    """Unpickles to a call of ``func(*args)``: what a malicious file does."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    cmd = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    return {
        "system": _Payload(os.system, (cmd,)),
        "check_call": _Payload(subprocess.check_call, (["touch", str(marker)],)),
        "Popen": _Payload(subprocess.Popen, (["touch", str(marker)],)),
        "eval": _Payload(builtins.eval, (code,)),
        "exec": _Payload(builtins.exec, (code,)),
        "__import__": _Payload(builtins.__import__, ("os",)),
    }


def _mmsa_dict(n=4, extra=None, rng=None):
    rng = rng or np.random.default_rng(0)
    split = {
        "text": rng.standard_normal((n, 5, 6)).astype(np.float32),
        "audio": rng.standard_normal((n, 7, 3)).astype(np.float32),
        "vision": rng.standard_normal((n, 6, 4)).astype(np.float32),
        "regression_labels": rng.uniform(-3, 3, n).astype(np.float32),
        "audio_lengths": [7] * n,
        "vision_lengths": [6] * n,
        "id": np.array([f"vid{i}$_$0" for i in range(n)], dtype=object),
    }
    if extra:
        split.update(extra)
    return {s: dict(split) for s in ("train", "valid", "test")}


PAYLOAD_NAMES = ["system", "check_call", "Popen", "eval", "exec", "__import__"]
SHOWN_AS = {"system": "system", "check_call": "subprocess.check_call", "Popen": "subprocess.Popen",
            "eval": "builtins.eval", "exec": "builtins.exec", "__import__": "builtins.__import__"}


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("payload", PAYLOAD_NAMES)
def test_load_mmsa_refuses_code_and_runs_nothing(tmp_path, payload, protocol):
    marker = tmp_path / "pwned"
    data = _mmsa_dict()
    data["train"]["id"] = _payloads(marker)[payload]
    path = tmp_path / "unaligned_50.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    with pytest.raises(UnsafePickleError) as info:
        load_mmsa(path)
    msg = str(info.value)
    assert str(path) in msg and SHOWN_AS[payload] in msg and "refusing to load" in msg
    assert isinstance(info.value, ValueError) and isinstance(info.value, pickle.UnpicklingError)
    assert "is not a readable pickle" not in msg  # not swallowed by the generic handler
    assert not marker.exists()


def test_load_mmsa_refuses_a_bare_payload(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_payloads(marker)["system"]))
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl: refusing to load '(posix|nt)\.system'"):
        load_mmsa(path)
    assert not marker.exists()


def test_load_mmsa_unreadable_file_keeps_its_message(tmp_path):
    path = tmp_path / "truncated.pkl"
    path.write_bytes(pickle.dumps(_mmsa_dict(), protocol=4)[:100])
    with pytest.raises(ValueError, match="truncated.pkl is not a readable pickle"):
        load_mmsa(path)


def _evil_npz(path, payload, key="train_corpus", good=None):
    """A label.npz whose ``key`` is an object array wrapping ``payload`` (the rest well-formed)."""
    good = good or {f"v{i}": {"emo": 0, "val": 0.5} for i in range(2)}
    corpora = {k: np.array(good, dtype=object) for k in ("train_corpus", "val_corpus", "test_corpus")}
    corpora[key] = np.array({"v0": {"emo": 0, "val": payload}}, dtype=object)
    np.savez_compressed(path, **corpora)


@pytest.mark.parametrize("payload", PAYLOAD_NAMES)
def test_load_mertools_refuses_code_in_label_npz(tmp_path, payload):
    marker = tmp_path / "pwned"
    label_file = tmp_path / "label.npz"
    _evil_npz(label_file, _payloads(marker)[payload], key="val_corpus")
    (tmp_path / "feats").mkdir()
    with pytest.raises(UnsafePickleError) as info:
        load_mertools(label_file, tmp_path / "feats", audio="a", text="t", vision="v")
    msg = str(info.value)
    assert str(label_file) in msg and "val_corpus" in msg and SHOWN_AS[payload] in msg
    assert not marker.exists()
    with pytest.raises(UnsafePickleError):
        _read_labels(label_file)
    assert not marker.exists()


def test_load_mertools_refuses_a_payload_as_the_whole_member(tmp_path):
    """An object .npy whose pickle is not even an array (the payload at top level)."""
    marker = tmp_path / "pwned"
    label_file = tmp_path / "label.npz"
    _evil_npz(label_file, 0.5)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": ()})
    with zipfile.ZipFile(label_file, "a") as z:
        z.writestr("evil.npy", header.getvalue() + pickle.dumps(_payloads(marker)["system"]))
    with np.load(label_file, allow_pickle=False) as npz:
        with pytest.raises(UnsafePickleError, match="evil"):
            safe_load_npz_member(npz, "evil", source=str(label_file))
    assert not marker.exists()


def test_load_mertools_corrupt_member_is_a_clear_value_error(tmp_path):
    label_file = tmp_path / "label.npz"
    _evil_npz(label_file, 0.5)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": ()})
    good = {k: np.array({"v": {"emo": 0, "val": 0.5}}, dtype=object) for k in ("val_corpus", "test_corpus")}
    np.savez(label_file, **good)
    with zipfile.ZipFile(label_file, "a") as z:
        z.writestr("train_corpus.npy", header.getvalue() + b"\x80\x04garbage")
    with pytest.raises(ValueError, match="'train_corpus' is not a readable array"):
        _read_labels(label_file)


# ------------------------------------------------------------------------------------ real layouts still load


@pytest.fixture(scope="module")
def tiny():
    return synthetic_mosei(n_train=8, n_valid=4, n_test=4)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_save_mmsa_round_trip(tmp_path, tiny, protocol):
    path = save_mmsa(tiny, tmp_path / "tiny.pkl", protocol=protocol)
    ds = load_mmsa(path)
    for s in ("train", "valid", "test"):
        assert list(ds[s].ids) == list(tiny[s].ids)
        np.testing.assert_allclose(ds[s].labels, tiny[s].labels, rtol=1e-6)


def test_save_mertools_round_trip(tmp_path, tiny):
    root = save_mertools(tiny, tmp_path / "mer")
    ds = load_mertools(root / "label.npz", root, audio="audio", text="text", vision="vision",
                       simulated_text="text_sim" if (root / "text_sim").is_dir() else None)
    for s in ("train", "valid", "test"):
        assert list(ds[s].ids) == list(tiny[s].ids)
        np.testing.assert_allclose(ds[s].labels, tiny[s].labels, rtol=1e-6)


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize(
    "variant", ["object_str_ids", "bytes_ids", "list_ids", "float64", "int_lengths_array", "text_bert"]
)
def test_hand_made_mmsa_pickles_load(tmp_path, protocol, variant):
    n = 4
    extra = {}
    if variant == "bytes_ids":
        extra["id"] = np.array([f"vid{i}".encode() for i in range(n)])
    elif variant == "list_ids":
        extra["id"] = [f"vid{i}" for i in range(n)]
    elif variant == "float64":
        rng = np.random.default_rng(1)
        extra.update(text=rng.standard_normal((n, 5, 6)), audio=rng.standard_normal((n, 7, 3)),
                     vision=rng.standard_normal((n, 6, 4)), regression_labels=rng.uniform(-3, 3, n))
    elif variant == "int_lengths_array":
        extra.update(audio_lengths=np.full(n, 5, np.int64), vision_lengths=np.full(n, 4, np.int32))
    elif variant == "text_bert":
        bert = np.zeros((n, 3, 5), np.float64)
        bert[:, 1, :3] = 1
        extra["text_bert"] = bert
    data = _mmsa_dict(n, extra)
    path = tmp_path / "hand.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    ds = load_mmsa(path)
    assert len(ds["train"]) == n
    np.testing.assert_allclose(ds["train"].labels, np.asarray(data["train"]["regression_labels"], np.float32))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_mult_style_pickle_loads(tmp_path, protocol):
    rng = np.random.default_rng(2)
    n = 5
    split = {
        "text": rng.standard_normal((n, 6, 300)).astype(np.float32),
        "audio": rng.standard_normal((n, 6, 74)).astype(np.float32),
        "vision": rng.standard_normal((n, 6, 35)).astype(np.float32),
        "labels": rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32),
        "id": np.array([[f"v{i}".encode(), b"0", b"1"] for i in range(n)]),  # MulT: byte-string fields
    }
    path = tmp_path / "mosi_data.pkl"
    path.write_bytes(pickle.dumps({s: split for s in ("train", "valid", "test")}, protocol=protocol))
    ds = load_mmsa(path)
    np.testing.assert_allclose(ds["test"].labels, split["labels"].reshape(-1))
    assert list(ds["test"].ids)[0] == "v0$_$0$_$1"


def test_numpy1_style_pickle_loads(tmp_path):
    """numpy 1.x writes numpy.core.* globals (numpy 2 writes numpy._core.*): both are admitted."""
    raw = pickle.dumps(_mmsa_dict(), protocol=2)
    assert b"numpy._core" in raw
    path = tmp_path / "old.pkl"
    path.write_bytes(raw.replace(b"numpy._core", b"numpy.core"))  # protocol 2: newline-terminated names
    assert len(load_mmsa(path)["valid"]) == 4


# ------------------------------------------------------------------------------------ safe_load itself


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
@pytest.mark.parametrize(
    "obj",
    [
        np.float32(1.5),
        np.float64(-2.25),
        np.int64(7),
        np.bool_(True),
        np.str_("abc"),
        np.dtype("float32"),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.asfortranarray(np.ones((2, 3))),
        np.array([True, False]),
        np.array(["a", "bc"], dtype=object),
        np.array([b"a", b"bc"]),
        np.array(["x", "yz"]),
        np.zeros(2, dtype=[("a", "f4"), ("b", "i8")]),
        {"a": {"b": [1, 2.5, "c", None, True], "t": (1, 2), "s": {3, 4}}, "bytes": b"\x00\xff", "c": 1 + 2j},
        collections.OrderedDict([("z", 1), ("a", [np.float32(2)])]),
        frozenset({1, 2}),
        bytearray(b"ab"),
    ],
    ids=lambda o: type(o).__name__,
)
def test_safe_load_round_trips(obj, protocol):
    back = safe_loads(pickle.dumps(obj, protocol=protocol), source="test")
    assert type(back) is type(obj)
    if isinstance(obj, np.ndarray):
        assert back.dtype == obj.dtype and back.shape == obj.shape
        np.testing.assert_array_equal(back, obj)
    else:
        assert back == obj


def test_safe_load_refuses_other_globals():
    for obj in (os.getcwd, collections.Counter(a=1), np.load, zipfile.ZipFile):
        with pytest.raises(UnsafePickleError, match="somefile: refusing to load"):
            safe_load(io.BytesIO(pickle.dumps(obj)), source="somefile")


def test_codecs_encode_is_limited_to_text_codecs():
    # protocol-2 bytes: _codecs.encode("...", "latin1"); another codec is refused
    raw = pickle.dumps(b"ab", protocol=2)
    assert safe_loads(raw, source="t") == b"ab"
    evil = raw.replace(b"latin1", b"rot_13")
    assert evil != raw
    with pytest.raises(UnsafePickleError, match="rot_13"):
        safe_loads(evil, source="t")


def test_the_crafted_files_are_really_dangerous(tmp_path):
    """Guard against the tests above passing vacuously: plain pickle / allow_pickle=True run the payload."""
    marker = tmp_path / "pwned"
    data = _mmsa_dict()
    data["train"]["id"] = _payloads(marker)["eval"]
    pickle.loads(pickle.dumps(data, protocol=4))
    assert marker.exists()
    marker.unlink()
    label_file = tmp_path / "label.npz"
    _evil_npz(label_file, _payloads(marker)["eval"])
    with np.load(label_file, allow_pickle=True) as npz:
        npz["train_corpus"]
    assert marker.exists()
