"""MTCNN face detection and face-geometry features (msa_lib.features.faces).

The detector runs with the real pretrained weights of ``facenet-pytorch==2.6.0`` (fetched once per test session into
``$MSA_CACHE_DIR/mtcnn`` by :func:`mtcnn_weights_dir`, ~2 MB from PyPI) on a real photograph (Grace Hopper, bundled
with matplotlib). Where PyPI is reachable, the parity test runs facenet-pytorch's own ``detect_face`` (with a
brute-force stand-in for torchvision's NMS) on the same images and compares.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import subprocess
import sys
import types
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from msa_lib.features import faces
from msa_lib.features.faces import (
    FACE_GEOMETRY_NAMES,
    MTCNN,
    MTCNN_WEIGHTS_SHA256,
    MTCNN_WHEEL,
    FaceTrack,
    ONet,
    PNet,
    RNet,
    batched_nms,
    crop_faces,
    expression_frames,
    face_features,
    face_geometry,
    mtcnn_weights_dir,
    nms,
)
from msa_lib.features.vision import FrameError

COL = {n: i for i, n in enumerate(FACE_GEOMETRY_NAMES)}

# MTCNN's result on grace_hopper.jpg (512 × 600), checked by eye on a plot: the box runs from the brows to the chin,
# the eyes sit on the glasses' lenses, the mouth corners at the ends of the lips.
HOPPER_BOX = (174.4, 119.6, 355.6, 340.5)
HOPPER_POINTS = ((221.7, 192.2), (309.8, 186.1), (269.4, 239.2), (232.7, 279.6), (306.6, 275.9))


@pytest.fixture(scope="module")
def detector() -> MTCNN:
    try:
        return faces.default_detector()
    except RuntimeError as e:
        if "could not fetch" in str(e):
            pytest.skip(f"MTCNN weights unavailable (offline?): {e}")
        raise


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return faces.sample_face_photo()


def resize(frames: np.ndarray, factor: float) -> np.ndarray:
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, scale_factor=factor, mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def two_faces(photo: np.ndarray) -> np.ndarray:
    """A gray 300 × 500 canvas with the photo at two sizes: a big face on the left, a small one on the right."""
    big = resize(photo[None], 0.4)[0]
    small = resize(photo[None], 0.2)[0]
    canvas = np.full((300, 500, 3), 90, np.uint8)
    canvas[20 : 20 + big.shape[0], 10 : 10 + big.shape[1]] = big
    canvas[100 : 100 + small.shape[0], 300 : 300 + small.shape[1]] = small
    return canvas


# ---------------------------------------------------------------------------------------------- weights
def test_weights_dir_has_checked_files_and_loads_strictly(detector):
    folder = mtcnn_weights_dir()
    for name, digest in MTCNN_WEIGHTS_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    for cls, name in ((PNet, "pnet.pt"), (RNet, "rnet.pt"), (ONet, "onet.pt")):
        state = torch.load(folder / name, map_location="cpu", weights_only=True)
        assert set(state) == set(cls().state_dict())  # the same parameter names, nothing left over
        net = cls(folder / name)
        for key, value in net.state_dict().items():
            assert torch.equal(value, state[key])
        state.pop(next(iter(state)))
        with pytest.raises(RuntimeError, match="Missing key"):
            cls().load_state_dict(state, strict=True)


@pytest.fixture
def no_installed_package(monkeypatch):
    monkeypatch.setattr(faces, "_installed_package_data", lambda: None)


def test_weights_cache_with_a_wrong_file_is_an_error(tmp_path, no_installed_package):
    (tmp_path / "pnet.pt").write_bytes(b"not the weights")
    with pytest.raises(RuntimeError, match="SHA-256") as err:
        mtcnn_weights_dir(tmp_path)
    assert str(tmp_path / "pnet.pt") in str(err.value)


def test_failed_download_says_what_to_copy_where(tmp_path, monkeypatch, no_installed_package):
    def offline(dest):
        raise RuntimeError("pip download failed: no network")

    monkeypatch.setattr(faces, "_pip_download_wheel", offline)
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="could not fetch") as err:
        mtcnn_weights_dir(cache)
    msg = str(err.value)
    assert str(cache) in msg and "pnet.pt" in msg and MTCNN_WHEEL in msg and "offline" in msg


def _fake_wheel(dest: Path, files: dict[str, bytes]) -> Path:
    wheel = dest / "facenet_pytorch-2.6.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"facenet_pytorch/data/{name}", data)
    return wheel


def test_weights_are_extracted_from_the_wheel_and_checked(tmp_path, monkeypatch, no_installed_package, detector):
    real = {n: (mtcnn_weights_dir() / n).read_bytes() for n in MTCNN_WEIGHTS_SHA256}
    monkeypatch.setattr(faces, "_pip_download_wheel", lambda dest: _fake_wheel(dest, real))
    cache = tmp_path / "good"
    assert mtcnn_weights_dir(cache) == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(MTCNN_WEIGHTS_SHA256)  # no partial files left
    tampered = dict(real, **{"rnet.pt": real["rnet.pt"][:-1] + b"x"})
    monkeypatch.setattr(faces, "_pip_download_wheel", lambda dest: _fake_wheel(dest, tampered))
    with pytest.raises(RuntimeError, match="rnet.pt"):
        mtcnn_weights_dir(tmp_path / "bad")
    assert not (tmp_path / "bad" / "rnet.pt").exists()


# ---------------------------------------------------------------------------------------------- detection
def test_detects_the_face_in_a_real_photo(detector, photo):
    everything = detector.detect_all(photo)
    assert len(everything) == 1 and len(everything[0][0]) == 1  # one frame, exactly one face
    track = detector.detect(photo)
    assert isinstance(track, FaceTrack) and track.found.tolist() == [True]
    assert track.boxes.shape == (1, 4) and track.landmarks.shape == (1, 5, 2) and track.frame_size == (600, 512)
    assert track.boxes.dtype == track.probs.dtype == track.landmarks.dtype == np.float32
    assert track.probs[0] > 0.99
    x1, y1, x2, y2 = track.boxes[0]
    assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 600
    assert x1 < 205 and y1 < 175 and x2 > 325 and y2 > 290  # covers eyes to mouth
    assert x1 > 150 and y1 > 90 and x2 < 380 and y2 < 370  # and not much more than the face
    np.testing.assert_allclose(track.boxes[0], HOPPER_BOX, atol=3)
    np.testing.assert_allclose(track.landmarks[0], HOPPER_POINTS, atol=3)
    (lex, ley), (rex, rey), (nx, ny), (lmx, lmy), (rmx, rmy) = track.landmarks[0]
    assert max(ley, rey) < ny < min(lmy, rmy)  # eyes above nose above the mouth corners
    assert lex < rex and lmx < rmx and lex < nx < rex
    pts = track.landmarks[0]
    assert ((pts[:, 0] > x1) & (pts[:, 0] < x2) & (pts[:, 1] > y1) & (pts[:, 1] < y2)).all()


def test_input_forms_agree(detector, photo):
    small = resize(photo[None], 160 / 600)[0]
    as_uint8 = detector.detect(small)
    as_float = detector.detect(small.astype(np.float32) / 255.0)
    as_batch = detector.detect(np.stack([small, small, small]), batch_size=2)
    np.testing.assert_allclose(as_float.boxes, as_uint8.boxes, atol=1e-3)
    assert len(as_batch) == 3 and as_batch.found.all()
    np.testing.assert_allclose(as_batch.boxes, np.repeat(as_uint8.boxes, 3, axis=0), atol=1e-3)
    np.testing.assert_allclose(as_batch.landmarks[2], as_uint8.landmarks[0], atol=1e-3)


def test_one_face_per_frame_largest_or_most_probable(detector, photo):
    img = two_faces(photo)
    boxes, probs, _ = detector.detect_all(img)[0]
    assert len(boxes) == 2
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    largest = detector.detect(img)
    np.testing.assert_array_equal(largest.boxes[0], boxes[np.argmax(area)])
    assert largest.boxes[0, 0] < 250  # the big face is on the left
    detector.select_largest = False
    try:
        likeliest = detector.detect(img)
    finally:
        detector.select_largest = True
    np.testing.assert_array_equal(likeliest.boxes[0], boxes[np.argmax(probs)])
    assert likeliest.probs[0] == probs.max()


# ---------------------------------------------------------------------------------------------- parity
def _brute_batched_nms(boxes, scores, idxs, threshold):
    """torchvision.ops.batched_nms by brute force: IoU with continuous coordinates, suppress when > threshold."""
    b, s, g = boxes.tolist(), scores.tolist(), idxs.tolist()
    keep = []
    for i in sorted(range(len(s)), key=lambda k: -s[k]):
        for j in keep:
            if g[j] != g[i]:
                continue
            iw = max(0.0, min(b[i][2], b[j][2]) - max(b[i][0], b[j][0]))
            ih = max(0.0, min(b[i][3], b[j][3]) - max(b[i][1], b[j][1]))
            union = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]) + (b[j][2] - b[j][0]) * (b[j][3] - b[j][1]) - iw * ih
            if iw * ih / union > threshold:
                break
        else:
            keep.append(i)
    return torch.tensor(keep, dtype=torch.long)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """facenet-pytorch's own ``models/mtcnn.py`` (nets + ``detect_face``), imported under a private name with a
    minimal stand-in ``torchvision``; ``sys.modules`` is restored afterwards."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is not None and spec.submodule_search_locations:
        src = Path(next(iter(spec.submodule_search_locations)))
    else:
        dest = tmp_path_factory.mktemp("fnp")
        res = subprocess.run([sys.executable, "-m", "pip", "download", MTCNN_WHEEL, "--no-deps", "-q", "-d", str(dest)],
                             capture_output=True, text=True, timeout=300, check=False)
        wheels = list(dest.glob("*.whl"))
        if res.returncode != 0 or not wheels:
            pytest.skip(f"cannot download {MTCNN_WHEEL} for the reference source (PyPI unreachable?)")
        with zipfile.ZipFile(wheels[0]) as zf:
            zf.extractall(dest)
        src = dest / "facenet_pytorch"
    stub = {name: types.ModuleType(name) for name in (
        "torchvision", "torchvision.ops", "torchvision.ops.boxes", "torchvision.transforms",
        "torchvision.transforms.functional")}
    stub["torchvision.ops.boxes"].batched_nms = _brute_batched_nms
    stub["torchvision"].ops, stub["torchvision"].transforms = stub["torchvision.ops"], stub["torchvision.transforms"]
    stub["torchvision.ops"].boxes = stub["torchvision.ops.boxes"]
    stub["torchvision.transforms"].functional = stub["torchvision.transforms.functional"]
    package, models = types.ModuleType("_fnp_reference"), types.ModuleType("_fnp_reference.models")
    package.__path__, models.__path__ = [str(src)], [str(src / "models")]  # skips the package __init__
    before = set(sys.modules)
    with pytest.MonkeyPatch.context() as mp:
        for name, module in {**stub, "_fnp_reference": package, "_fnp_reference.models": models}.items():
            mp.setitem(sys.modules, name, module)
        try:
            yield importlib.import_module("_fnp_reference.models.mtcnn")
        finally:
            for name in set(sys.modules) - before:
                if name.startswith("_fnp_reference"):
                    del sys.modules[name]
    assert "_fnp_reference" not in sys.modules


def test_nets_match_facenet_pytorch(reference, detector):
    torch.manual_seed(0)
    with torch.no_grad():
        for ours, theirs, size in ((detector.pnet, reference.PNet(), 37), (detector.rnet, reference.RNet(), 24),
                                   (detector.onet, reference.ONet(), 48)):
            x = torch.randn(5, 3, size, size)
            for a, b in zip(ours(x), theirs.eval()(x)):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_cascade_matches_facenet_pytorch(reference, detector, photo):
    nets = reference.MTCNN()
    clips = [photo, two_faces(photo), expression_frames(3, 3), expression_frames(-3, 2, seed=4)]
    n_faces = 0
    for img in clips:
        with torch.no_grad():
            ref_boxes, ref_points = reference.detect_face(img, 20, nets.pnet, nets.rnet, nets.onet, [0.6, 0.7, 0.7],
                                                          0.709, "cpu")
        ours = detector.detect_all(img)
        assert len(ours) == len(ref_boxes)
        for rb, rp, (boxes, probs, points) in zip(ref_boxes, ref_points, ours):
            rb, rp = np.asarray(rb, np.float32).reshape(-1, 5), np.asarray(rp, np.float32).reshape(-1, 5, 2)
            assert len(rb) == len(boxes)
            order = np.argsort(-rb[:, 4], kind="stable")
            np.testing.assert_allclose(boxes, rb[order, :4], rtol=1e-3, atol=1e-2)
            np.testing.assert_allclose(probs, rb[order, 4], rtol=1e-3)
            np.testing.assert_allclose(points, rp[order], rtol=1e-3, atol=1e-2)
            n_faces += len(boxes)
    assert n_faces == 1 + 2 + 3 + 2


# ---------------------------------------------------------------------------------------------- NMS
def _brute_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str) -> list[int]:
    one = 1.0 if method == "min" else 0.0
    keep = []
    for i in sorted(range(len(scores)), key=lambda k: -scores[k]):
        ok = True
        for j in keep:
            iw = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]) + one)
            ih = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]) + one)
            ai = (boxes[i, 2] - boxes[i, 0] + one) * (boxes[i, 3] - boxes[i, 1] + one)
            aj = (boxes[j, 2] - boxes[j, 0] + one) * (boxes[j, 3] - boxes[j, 1] + one)
            overlap = iw * ih / (min(ai, aj) if method == "min" else ai + aj - iw * ih)
            if overlap > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize("method", ["union", "min"])
@pytest.mark.parametrize("matrix", [True, False])
def test_nms_equals_brute_force(method, matrix, monkeypatch):
    if not matrix:
        monkeypatch.setattr(faces, "_NMS_MATRIX_MAX", 0)  # the O(N)-memory path used for very many boxes
    rng = np.random.default_rng(1)
    for trial in range(6):
        n = int(rng.integers(1, 150))
        xy = rng.uniform(0, 100, (n, 2))
        wh = rng.uniform(2, 40, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        scores = rng.permutation(n).astype(np.float32) / n  # distinct scores: a unique greedy order
        for thr in (0.3, 0.5, 0.7):
            got = nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr, method).tolist()
            assert got == _brute_nms(boxes.astype(np.float64), scores, thr, method), (trial, thr)
        groups = rng.integers(0, 3, n)
        got = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(groups), 0.5, method)
        want = []
        for g in np.unique(groups):
            idx = np.flatnonzero(groups == g)
            want += idx[_brute_nms(boxes[idx].astype(np.float64), scores[idx], 0.5, method)].tolist()
        assert got.tolist() == sorted(want, key=lambda k: -scores[k])
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0


# ---------------------------------------------------------------------------------------------- missing faces
@pytest.fixture(scope="module")
def clip_with_gaps():
    """Six frames: faces at 0, 2, 3, 5; a uniform gray frame at 1 and seeded noise at 4."""
    frames = expression_frames(1, 6, seed=2)
    frames[1] = 128
    frames[4] = np.random.default_rng(0).integers(0, 256, frames[4].shape, dtype=np.uint8)
    return frames


def test_frames_without_a_face_are_nan(detector, clip_with_gaps):
    track = detector.detect(clip_with_gaps)
    assert track.found.tolist() == [True, False, True, True, False, True]
    assert np.isnan(track.boxes[[1, 4]]).all() and np.isnan(track.landmarks[[1, 4]]).all()
    assert np.isnan(track.probs[[1, 4]]).all() and np.isfinite(track.boxes[[0, 2, 3, 5]]).all()
    geometry = face_geometry(track)
    assert geometry.shape == (6, len(FACE_GEOMETRY_NAMES)) and geometry.dtype == np.float32
    assert np.isnan(geometry[[1, 4]]).all() and np.isfinite(geometry[[0, 2, 3, 5]]).all()


def test_face_features_missing_frame_rules(detector, clip_with_gaps):
    feats, found = face_features(clip_with_gaps, detector, name="clip_07")  # default: mask
    assert feats.shape == (6, len(FACE_GEOMETRY_NAMES)) and found.tolist() == [True, False, True, True, False, True]
    assert np.isnan(feats[~found]).all() and np.isfinite(feats[found]).all()

    with pytest.raises(FrameError, match=r"clip_07.*2 of 6 frames.*1, 4"):
        face_features(clip_with_gaps, detector, on_missing="error", name="clip_07")

    with pytest.warns(UserWarning, match=r"clip_07.*2 of 6"):
        dropped, found_d = face_features(clip_with_gaps, detector, on_missing="drop", name="clip_07")
    assert dropped.shape == (4, len(FACE_GEOMETRY_NAMES)) and found_d.all() and np.isfinite(dropped).all()
    np.testing.assert_array_equal(dropped, feats[found])

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when every frame has a face
        full, found_f = face_features(clip_with_gaps[[0, 2]], detector, on_missing="drop")
    assert found_f.all() and len(full) == 2

    with pytest.raises(ValueError, match="on_missing"):
        face_features(clip_with_gaps, detector, on_missing="skip")


@pytest.mark.parametrize("mode", ["mask", "error", "drop"])
def test_no_face_anywhere_is_an_error_in_every_mode(detector, clip_with_gaps, mode):
    with pytest.raises(FrameError, match=r"empty_room: no face in any of the 2 frames"):
        face_features(clip_with_gaps[[1, 4]], detector, on_missing=mode, name="empty_room")


def test_bad_input_names_the_input(detector):
    bad = {
        "no frames": np.zeros((0, 64, 64, 3), np.uint8),
        "four channels": np.zeros((2, 64, 64, 4), np.uint8),
        "no image axes": np.zeros((2, 64), np.uint8),
        "float over 1": np.full((1, 64, 64, 3), 2.0, np.float32),
        "NaN pixel": np.full((1, 64, 64, 3), np.nan, np.float32),
    }
    for frames in bad.values():
        with pytest.raises(FrameError, match="utt_42"):
            detector.detect(frames, name="utt_42")
        with pytest.raises(FrameError, match="utt_42"):
            face_features(frames, detector, name="utt_42")


# ---------------------------------------------------------------------------------------------- geometry
def test_geometry_does_not_depend_on_image_size(detector):
    clip = expression_frames(0, 16, seed=1)
    small, large = face_geometry(detector.detect(clip)), face_geometry(detector.detect(resize(clip, 2.0)))
    assert np.isfinite(small).all() and np.isfinite(large).all()
    shape_cols = [COL[n] for n in ("mouth_width", "mouth_drop", "corner_asymmetry", "nose_to_mouth", "head_yaw",
                                   "head_pitch", "face_scale", "face_x", "face_y")]
    # per frame, MTCNN's landmarks jitter by a few % of the eye distance; over a clip the features agree closely
    np.testing.assert_allclose(large[:, shape_cols].mean(0), small[:, shape_cols].mean(0), atol=0.035)
    assert np.median(np.abs(large[:, shape_cols] - small[:, shape_cols])) < 0.03
    assert abs(large[:, COL["head_roll"]].mean() - small[:, COL["head_roll"]].mean()) < 0.5
    assert 0.3 < small[:, COL["face_scale"]].mean() < 0.8
    assert abs(small[:, COL["head_yaw"]].mean()) < 0.1 and abs(small[:, COL["head_roll"]].mean()) < 10


def test_smile_and_frown_move_the_mouth_features(detector):
    clips = {s: expression_frames(s, 16, seed=0) for s in (-3, 0, 3)}
    geo = {}
    for s, clip in clips.items():
        track = detector.detect(clip)
        assert track.found.all() and (track.probs > 0.95).all()  # the warped face is still a face in every frame
        geo[s] = face_geometry(track)
    late = {s: g[-6:].mean(0) for s, g in geo.items()}  # after the expression has ramped in
    noise = geo[0].std(0)  # frame-to-frame jitter of a neutral clip (head motion + landmark noise)
    for name, direction in (("mouth_width", +1), ("mouth_drop", -1), ("nose_to_mouth", -1)):
        c = COL[name]
        diff = direction * (late[3][c] - late[-3][c])
        assert diff > 4 * noise[c] and diff > 0.1, (name, late[3][c], late[-3][c], noise[c])
        assert direction * (late[3][c] - late[0][c]) > 0 and direction * (late[0][c] - late[-3][c]) > 0, name
    # the expression ramps in: the smile's first frame is close to neutral, its last is not
    c = COL["mouth_width"]
    assert abs(geo[3][0, c] - geo[0][0, c]) < abs(geo[3][-1, c] - geo[0][-1, c])


def test_expression_frames_shape_and_determinism():
    a = expression_frames(2, n_frames=5, size=96, seed=3)
    assert a.shape == (5, 96, 96, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, expression_frames(2, n_frames=5, size=96, seed=3))
    assert not np.array_equal(a, expression_frames(2, n_frames=5, size=96, seed=4))
    assert not np.array_equal(a[-1], expression_frames(-2, n_frames=5, size=96, seed=3)[-1])
    assert expression_frames(0, n_frames=1).shape == (1, 160, 160, 3)
    with pytest.raises(ValueError, match="sentiment"):
        expression_frames(4)


def test_crop_faces(detector, clip_with_gaps):
    track = detector.detect(clip_with_gaps)
    crops = crop_faces(clip_with_gaps, track, size=112)
    assert crops.shape == (6, 112, 112, 3) and crops.dtype == np.uint8
    assert (crops[[1, 4]] == 0).all() and (crops[[0, 2, 3, 5]].reshape(4, -1).max(1) > 0).all()
    again = detector.detect(crops[[0, 5]])  # a crop is a centred, face-filling picture
    assert again.found.all()
    centre = (again.boxes[:, :2] + again.boxes[:, 2:]) / 2
    assert (np.abs(centre - 56) < 15).all()
    with pytest.raises(FrameError, match="frames"):
        crop_faces(clip_with_gaps[:3], track)
