r"""Faces: a real, offline face detector (MTCNN) and per-frame face-geometry features.

**The detector.** :class:`MTCNN` is the Multi-task Cascaded Convolutional Network of Zhang, Zhang, Li & Qiao
(2016), "Joint Face Detection and Alignment using Multitask Cascaded Convolutional Networks", *IEEE Signal
Processing Letters* 23(10), re-implemented here in plain ``torch`` for inference only. It follows, step for step
and number for number, the inference code of the ``facenet-pytorch`` package (Tim Esler,
``facenet_pytorch/models/utils/detect_face.py`` and ``models/mtcnn.py``, version 2.6.0), and it uses that package's
pretrained weights (``pnet.pt``, ``rnet.pt``, ``onet.pt``: the authors' Caffe models converted, ~2 MB). The
package itself is not a dependency: it pins old torch / numpy / Pillow and imports ``torchvision``, whose PyPI
wheels do not load beside the CPU torch of this project. :func:`mtcnn_weights_dir` finds or fetches the three
weight files (checked by SHA-256).

The cascade (paper §II.A, networks in §II.B, Fig. 2):

1. **P-Net** (proposal network), a 12×12 fully convolutional net, runs over an *image pyramid* (the frame
   rescaled by ``12 / min_face_size × factor^k`` until the short side is below 12 px). Every 12×12 window (stride 2)
   with face probability ≥ ``thresholds[0]`` becomes a candidate box, corrected by its *bounding-box regression*
   offsets; *non-maximum suppression* (NMS) merges overlapping candidates, within each scale (IoU 0.5) and then
   across scales (IoU 0.7).
2. **R-Net** (refine network) re-scores each candidate on a 24×24 crop, rejects those below ``thresholds[1]``,
   regresses the box again; NMS (IoU 0.7).
3. **O-Net** (output network) re-scores on a 48×48 crop (``thresholds[2]``), regresses the box a last time and
   outputs the **five facial landmarks**: the two eyes, the nose tip and the two mouth corners. A last NMS uses
   the *"Min"* overlap (intersection over the smaller box, as in the authors' MATLAB code), which removes a small
   box lying inside a bigger one.

Between stages the boxes are made square around their centre (``rerec``) and clipped to the frame (``pad``).
On two CPU cores a 160×160 frame takes a few tens of milliseconds.

**Face geometry** (:func:`face_geometry`, :data:`FACE_GEOMETRY_NAMES`). Eleven numbers per frame from the box and
the five points. Lengths are divided by the **inter-ocular distance** (eye to eye, ``iod``) and vertical /
horizontal are measured in the face's own frame (along the eye line, and perpendicular to it, pointing down the
face), so the shape features depend neither on the face's size in the picture nor on a head tilt:

========================= =========================================================================================
``mouth_width``           mouth-corner to mouth-corner distance / iod. **Larger in a smile** (lip corners pulled
                          outward, FACS action unit 12), smaller when the lips are pursed.
``mouth_drop``            how far below the eye line the mid-point of the two mouth corners lies / iod.
                          **Smaller in a smile** (corners lift), larger in a frown (corners pulled down, AU15).
``corner_asymmetry``      height of the image-right corner minus the image-left one / iod (positive: the right
                          corner is lower). ≈ 0 for symmetric expressions; one-sided smiles and smirks move it.
``nose_to_mouth``         vertical distance from the nose tip down to the corners' mid-point / iod. **Smaller in a
                          smile**; less sensitive to nodding than ``mouth_drop``.
``head_roll``             angle of the eye line in degrees (positive: the head tilts so the image-right eye is
                          lower, i.e. clockwise on screen).
``head_yaw``              sideways offset of the nose tip from the eye mid-point / iod (positive: the nose points
                          to the image right). A proxy for turning the head, ≈ 0 when facing the camera.
``head_pitch``            how far below the eye line the nose tip lies / iod. A proxy for nodding: larger when the
                          head tips down, smaller when it tips back.
``face_scale``            √(box area / frame area): how much of the picture the face fills (distance to camera).
``face_x``, ``face_y``    the box centre as a fraction of the frame width / height.
``face_prob``             O-Net's face probability (a confidence; low values flag profile views, blur, occlusion).
========================= =========================================================================================

What they *can* capture: lip-corner pulling and depressing (smiles, AU12; frowns, AU15) and mouth stretch, head
pose (roll exactly, yaw and pitch roughly), and the face's position and size in the shot — head nods, turning
away, leaning in. What they *cannot*: anything that does not move the five points — brows (AU1/2/4: surprise,
anger, worry), eyes closing or widening, cheek raising, nose wrinkling, lip press or pucker, the mouth opening
(the points are the *corners*, not the lips), gaze. MTCNN's points are also coarse: they are regressed from a
48×48 crop, so they jitter by a few percent of the iod from frame to frame (up to ~10 % on single frames,
measured on the demo clips) even on a still face, and subtle expressions are below that noise — average over
frames, or smooth, before reading much into one frame. OpenFace's 68 points and action-unit intensities, or an
image model, see far more. On Colab the stronger path is an image model on the face crops: :func:`crop_faces` cuts a square around
each detected face, and :class:`~msa_lib.features.vision.ImageEncoder` (e.g. a face-expression ViT) turns each
crop into a per-frame feature.

**Missing frames.** A frame without a detected face has an all-NaN row (the OpenFace convention that
:func:`~msa_lib.features.vision.check_precomputed` and msa_lib's loaders read as a missing frame). What
:func:`face_features` does with them is chosen by ``on_missing``: ``"mask"`` (default: keep the NaN rows, and
``found`` is False there), ``"error"`` (raise :class:`~msa_lib.features.vision.FrameError` naming the input and
the frames), or ``"drop"`` (remove them, with a warning: the timing is then no longer uniform). A clip with no
face in any frame is always an error.

**Demo faces.** :func:`expression_frames` makes a short clip from a real photograph (Grace Hopper, the sample
image that ships with matplotlib) whose mouth corners are moved by a smooth warp proportional to a sentiment in
[-3, 3], with a small head motion — real enough for MTCNN, controlled enough to check that the geometry features
move the right way.

Shapes: frames are ``[T, H, W, 3]`` (uint8 0-255 or float in [0, 1]); boxes ``[T, 4]`` (x1, y1, x2, y2 in pixels);
landmarks ``[T, 5, 2]`` (x, y); features ``[T, D]`` with ``D = len(FACE_GEOMETRY_NAMES)``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .vision import FrameError, check_frames

#: The PyPI wheel whose ``facenet_pytorch/data/`` folder holds the pretrained MTCNN weights.
MTCNN_WHEEL = "facenet-pytorch==2.6.0"

#: SHA-256 of the three state-dict files inside :data:`MTCNN_WHEEL` (``facenet_pytorch/data/<name>``).
MTCNN_WEIGHTS_SHA256 = {
    "pnet.pt": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet.pt": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet.pt": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}


# ---------------------------------------------------------------------------------------------- weights
def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _weights_ok(folder: Path) -> bool:
    """Whether ``folder`` holds the three weight files with the expected SHA-256."""
    try:
        return all((folder / n).is_file() and _sha256(folder / n) == h for n, h in MTCNN_WEIGHTS_SHA256.items())
    except OSError:
        return False


def _default_cache_dir() -> Path:
    """``$MSA_CACHE_DIR/mtcnn`` when set, else ``~/.cache/msa_lib/mtcnn``."""
    env = os.environ.get("MSA_CACHE_DIR")
    return (Path(env) / "mtcnn").expanduser() if env else Path("~/.cache/msa_lib/mtcnn").expanduser()


def _installed_package_data() -> Path | None:
    """The ``data/`` folder of an installed ``facenet_pytorch``, found without importing it (it needs torchvision)."""
    try:
        spec = importlib.util.find_spec("facenet_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for location in spec.submodule_search_locations or []:
        folder = Path(location) / "data"
        if _weights_ok(folder):
            return folder
    return None


def _pip_download_wheel(dest: Path) -> Path:
    """Download :data:`MTCNN_WHEEL` (no dependencies) into ``dest`` with pip; return the ``.whl`` path."""
    cmd = [sys.executable, "-m", "pip", "download", MTCNN_WHEEL, "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    wheels = sorted(Path(dest).glob("facenet_pytorch-*.whl"))
    if res.returncode != 0 or not wheels:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"`{' '.join(cmd[2:6])}` failed (exit {res.returncode}): {' / '.join(tail)}")
    return wheels[0]


def _extract_weights(wheel: Path, cache: Path) -> None:
    """Copy the three weight files out of ``wheel`` into ``cache`` (checked, each written atomically)."""
    cache.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name, expected in MTCNN_WEIGHTS_SHA256.items():
            member = f"facenet_pytorch/data/{name}"
            try:
                data = zf.read(member)
            except KeyError:
                raise RuntimeError(f"{wheel.name} has no {member}") from None
            got = hashlib.sha256(data).hexdigest()
            if got != expected:
                raise RuntimeError(f"{member} in {wheel.name} has SHA-256 {got[:16]}…, expected {expected[:16]}…")
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=cache)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, cache / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


def mtcnn_weights_dir(cache_dir=None) -> Path:
    """The folder holding MTCNN's pretrained ``pnet.pt``, ``rnet.pt``, ``onet.pt`` (SHA-256 checked).

    Looked for, in order:

    1. the ``data/`` folder of an installed ``facenet_pytorch`` (located with ``importlib.util.find_spec``,
       never imported);
    2. the cache folder: ``cache_dir``, else ``$MSA_CACHE_DIR/mtcnn``, else ``~/.cache/msa_lib/mtcnn``;
    3. otherwise ``python -m pip download facenet-pytorch==2.6.0 --no-deps`` into a temporary folder and the three
       files are extracted from the wheel (a zip file) into the cache folder.

    Raises:
        RuntimeError: a cached file whose SHA-256 does not match (the message says to delete it), or a failed
            download (the message says which files to copy where, for an offline machine).
    """
    installed = _installed_package_data()
    if installed is not None:
        return installed
    cache = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    present = [n for n in MTCNN_WEIGHTS_SHA256 if (cache / n).is_file()]
    bad = [n for n in present if _sha256(cache / n) != MTCNN_WEIGHTS_SHA256[n]]
    if bad:
        raise RuntimeError(
            f"mtcnn_weights_dir: {', '.join(str(cache / n) for n in bad)} do(es) not match the SHA-256 of the "
            f"weights in {MTCNN_WHEEL} (a truncated or different file). Delete them to download again, or copy "
            f"the right files from the wheel's facenet_pytorch/data/ folder."
        )
    if len(present) == len(MTCNN_WEIGHTS_SHA256):
        return cache
    with tempfile.TemporaryDirectory(prefix="msa-mtcnn-") as tmp:
        try:
            wheel = _pip_download_wheel(Path(tmp))
            _extract_weights(wheel, cache)
        except (RuntimeError, OSError, subprocess.SubprocessError, zipfile.BadZipFile) as e:
            raise RuntimeError(
                f"mtcnn_weights_dir: could not fetch the MTCNN weights: {e}. On an offline machine, download the "
                f"wheel {MTCNN_WHEEL} elsewhere (`pip download {MTCNN_WHEEL} --no-deps`), open it as a zip file and "
                f"copy facenet_pytorch/data/pnet.pt, rnet.pt and onet.pt into {cache} (or pass weights_dir=/ "
                f"cache_dir= a folder holding them)."
            ) from e
    return cache


# ---------------------------------------------------------------------------------------------- networks
def _load(net: nn.Module, weights) -> nn.Module:
    if weights is not None:
        state = torch.load(Path(weights), map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
    return net.eval()


class PNet(nn.Module):
    """Proposal network (paper Fig. 2): fully convolutional, 12×12 receptive field, stride 2.

    ``forward(x [B, 3, H, W])`` → ``(box offsets [B, 4, H', W'], face / non-face probabilities [B, 2, H', W'])``
    with ``H' = ceil((H - 2) / 2) - 4``. Layer names match facenet-pytorch's ``pnet.pt``; ``weights`` is that file.
    """

    def __init__(self, weights=None):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)  # face classification
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)  # bounding-box regression
        _load(self, weights)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(_channels_last(x))))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """Channels-last memory layout: the same numbers, but 3-7× faster convolutions and ceil-mode max-pooling on CPU."""
    return x.contiguous(memory_format=torch.channels_last)


def _flatten_like_tf(x: torch.Tensor) -> torch.Tensor:
    """Flatten ``[B, C, H, W]`` in the (W, H, C) order the converted Caffe/TensorFlow dense weights expect."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


class RNet(nn.Module):
    """Refine network: a 24×24 crop → ``(box offsets [B, 4], probabilities [B, 2])`` (weights: ``rnet.pt``)."""

    def __init__(self, weights=None):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)
        _load(self, weights)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(_channels_last(x))))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_flatten_like_tf(x)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output network: a 48×48 crop → ``(box offsets [B, 4], landmarks [B, 10], probabilities [B, 2])``.

    The ten landmark numbers are the five x's then the five y's, as fractions of the crop (weights: ``onet.pt``).
    """

    def __init__(self, weights=None):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)
        _load(self, weights)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(_channels_last(x))))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_flatten_like_tf(x)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


# ---------------------------------------------------------------------------------------------- box arithmetic
def box_overlap(a: torch.Tensor, b: torch.Tensor, method: str = "union") -> torch.Tensor:
    """Pairwise overlap ``[N, M]`` of boxes ``a [N, 4]`` and ``b [M, 4]`` (x1, y1, x2, y2).

    ``"union"``: intersection over union with continuous coordinates (area ``(x2-x1)(y2-y1)``, torchvision's
    convention, used by facenet-pytorch's first two stages). ``"min"``: intersection over the *smaller* area with
    inclusive pixel coordinates (area ``(x2-x1+1)(y2-y1+1)``), the MATLAB / numpy convention of MTCNN's last stage.
    """
    one = 1.0 if method == "min" else 0.0
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    iw = (torch.minimum(a[:, None, 2], b[None, :, 2]) - torch.maximum(a[:, None, 0], b[None, :, 0]) + one).clamp(min=0)
    ih = (torch.minimum(a[:, None, 3], b[None, :, 3]) - torch.maximum(a[:, None, 1], b[None, :, 1]) + one).clamp(min=0)
    inter = iw * ih
    if method == "min":
        return inter / torch.minimum(area_a[:, None], area_b[None, :])
    if method == "union":
        return inter / (area_a[:, None] + area_b[None, :] - inter)
    raise ValueError(f"box_overlap: method must be 'union' or 'min', got {method!r}")


#: Up to this many boxes, :func:`nms` computes one ``[N, N]`` overlap matrix (fast); above, one row per kept box.
_NMS_MATRIX_MAX = 2048


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, method: str = "union") -> torch.Tensor:
    """Greedy non-maximum suppression: indices of the boxes kept, by decreasing score.

    Visit the boxes from the highest score down; keep a box unless an already kept box overlaps it by more than
    ``threshold`` (:func:`box_overlap` with ``method``). ``boxes [N, 4]``, ``scores [N]`` → ``[K]`` (int64).
    """
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    ordered = boxes[order]
    keep = []
    if n <= _NMS_MATRIX_MAX:  # one [N, N] overlap matrix, then a sweep over the kept boxes only
        suppress = box_overlap(ordered, ordered, method) > threshold
        remaining = torch.arange(n, device=boxes.device)
        while remaining.numel():
            i = remaining[0]
            keep.append(i)
            remaining = remaining[1:][~suppress[i, remaining[1:]]]
    else:  # large N: overlaps of one kept box with the rest, O(N) memory
        remaining = torch.arange(n, device=boxes.device)
        while remaining.numel():
            i = remaining[0]
            keep.append(i)
            rest = remaining[1:]
            remaining = rest[~(box_overlap(ordered[i : i + 1], ordered[rest], method)[0] > threshold)]
    return order[torch.stack(keep)]


def batched_nms(boxes, scores, groups, threshold: float, method: str = "union") -> torch.Tensor:
    """:func:`nms` separately within each group (frame) ``groups [N]``; kept indices by decreasing score."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    keep = []
    for g in torch.unique(groups):
        idx = torch.nonzero(groups == g).flatten()
        keep.append(idx[nms(boxes[idx], scores[idx], threshold, method)])
    keep = torch.cat(keep)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """``rerec``: each box ``[N, 4+]`` made square (side = its longer side) around its centre."""
    out = boxes.clone()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``bbreg``: move each corner by its offset times the box size in inclusive pixels (``x2 - x1 + 1``)."""
    out = boxes.clone()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] = boxes[:, 0] + offsets[:, 0] * w
    out[:, 1] = boxes[:, 1] + offsets[:, 1] * h
    out[:, 2] = boxes[:, 2] + offsets[:, 2] * w
    out[:, 3] = boxes[:, 3] + offsets[:, 3] * h
    return out


def _crops(images: torch.Tensor, frame_of: torch.Tensor, boxes: torch.Tensor, size: int):
    """Crops ``[N, 3, size, size]`` of the boxes (clipped to the frame, ``pad``), area-resampled; and a mask of
    the boxes whose clipped region is empty (those get a blank crop and are rejected by the caller)."""
    h, w = images.shape[-2:]
    ints = boxes[:, :4].trunc().int().cpu()
    x = ints[:, 0].clamp(min=1).tolist()
    y = ints[:, 1].clamp(min=1).tolist()
    ex = ints[:, 2].clamp(max=w).tolist()
    ey = ints[:, 3].clamp(max=h).tolist()
    frames = frame_of.tolist()
    out = images.new_zeros((len(x), 3, size, size))
    empty = torch.zeros(len(x), dtype=torch.bool)
    for k in range(len(x)):
        if ey[k] > y[k] - 1 and ex[k] > x[k] - 1:
            patch = images[frames[k] : frames[k] + 1, :, y[k] - 1 : ey[k], x[k] - 1 : ex[k]]
            out[k] = F.interpolate(patch, size=(size, size), mode="area")[0]
        else:
            empty[k] = True
    return (out - 127.5) * 0.0078125, empty.to(images.device)


def pyramid_scales(height: int, width: int, min_face_size: float = 20, factor: float = 0.709) -> list[float]:
    """Scales of the image pyramid: ``12 / min_face_size × factor^k`` while the scaled short side is ≥ 12 px."""
    m = 12.0 / min_face_size
    short = min(height, width) * m
    scales, scale = [], m
    while short >= 12:
        scales.append(scale)
        scale *= factor
        short *= factor
    return scales


# ---------------------------------------------------------------------------------------------- detector
@dataclass
class FaceTrack:
    """One face per frame, as found by :meth:`MTCNN.detect`.

    Attributes:
        boxes: ``[T, 4]`` float32, x1, y1, x2, y2 in pixels; NaN rows where no face was found.
        probs: ``[T]`` float32 face probability (O-Net); NaN where no face.
        landmarks: ``[T, 5, 2]`` float32 (x, y) in pixels: image-left eye, image-right eye, nose tip, image-left
            mouth corner, image-right mouth corner (facenet-pytorch's order); NaN where no face.
        frame_size: ``(H, W)`` of the frames.
    """

    boxes: np.ndarray
    probs: np.ndarray
    landmarks: np.ndarray
    frame_size: tuple[int, int]

    @property
    def found(self) -> np.ndarray:
        """``[T]`` bool: whether a face was found in each frame."""
        return ~np.isnan(self.probs)

    def __len__(self) -> int:
        return len(self.probs)


def _frame_array(frames, name: str) -> np.ndarray:
    """``frames`` as an array ``[T, H, W, C]`` (a single ``[H, W, 3]`` image becomes T = 1), structure checked."""
    x = np.asarray(frames)
    if x.ndim == 3 and x.shape[-1] == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] == 0 or x.shape[-1] not in (1, 3) or x.dtype == object:
        check_frames(x, name)  # raises the FrameError that names the input
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise FrameError(f"{name}: frames have no pixels (shape {x.shape})")
    return x


def _pixels(chunk: np.ndarray, name: str) -> np.ndarray:
    """A chunk of frames validated (:func:`check_frames`) as float32 ``[t, H, W, 3]`` in 0-255."""
    checked = check_frames(chunk, name)
    return np.rint(checked * 255.0) if chunk.dtype == np.uint8 else checked * 255.0


class MTCNN(nn.Module):
    """MTCNN face detector (Zhang et al. 2016; module docstring) with facenet-pytorch's pretrained weights.

    Args:
        weights_dir: folder with ``pnet.pt``, ``rnet.pt``, ``onet.pt``; ``None`` = :func:`mtcnn_weights_dir`.
        min_face_size: smallest face searched for, in pixels (sets the first pyramid scale).
        thresholds: face-probability thresholds of P-Net, R-Net, O-Net.
        factor: ratio between pyramid scales.
        select_largest: keep the largest face of each frame (facenet-pytorch's default); False = the most probable.
        device: where the networks run.
    """

    def __init__(self, weights_dir=None, *, min_face_size: float = 20, thresholds=(0.6, 0.7, 0.7),
                 factor: float = 0.709, select_largest: bool = True, device="cpu"):
        super().__init__()
        folder = Path(weights_dir) if weights_dir is not None else mtcnn_weights_dir()
        missing = [n for n in MTCNN_WEIGHTS_SHA256 if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(f"MTCNN: {folder} lacks {', '.join(missing)} (see mtcnn_weights_dir)")
        self.pnet = PNet(folder / "pnet.pt")
        self.rnet = RNet(folder / "rnet.pt")
        self.onet = ONet(folder / "onet.pt")
        self.min_face_size = float(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        self.select_largest = bool(select_largest)
        self.device = torch.device(device)
        self.to(self.device).eval()

    # The cascade on a batch of same-size images [B, 3, H, W] (float, 0-255); facenet-pytorch's detect_face.
    def _cascade(self, images: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        b, _, h, w = images.shape
        t1, t2, t3 = self.thresholds
        # Stage 1: P-Net on the pyramid; candidate windows, NMS per scale (0.5) then across scales (0.7).
        cands, frame_of = [], []
        for scale in pyramid_scales(h, w, self.min_face_size, self.factor):
            level = F.interpolate(images, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            offsets, probs = self.pnet((level - 127.5) * 0.0078125)
            face = probs[:, 1] >= t1
            where = torch.nonzero(face)  # (frame, row, col) of each window
            xy = where[:, 1:].flip(1).to(offsets.dtype)  # (col, row) = (x, y) on the scaled image
            top_left = ((2 * xy + 1) / scale).floor()
            bottom_right = ((2 * xy + 12) / scale).floor()
            found = torch.cat([top_left, bottom_right, probs[:, 1][face][:, None],
                               offsets.permute(0, 2, 3, 1)[face]], dim=1)  # [n, 9]: box, score, offsets
            keep = batched_nms(found[:, :4], found[:, 4], where[:, 0], 0.5)
            cands.append(found[keep])
            frame_of.append(where[keep, 0])
        boxes = torch.cat(cands) if cands else images.new_zeros((0, 9))
        frame_of = torch.cat(frame_of) if frame_of else torch.zeros(0, dtype=torch.long, device=images.device)
        keep = batched_nms(boxes[:, :4], boxes[:, 4], frame_of, 0.7)
        boxes, frame_of = boxes[keep], frame_of[keep]
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = torch.stack([boxes[:, 0] + boxes[:, 5] * bw, boxes[:, 1] + boxes[:, 6] * bh,
                             boxes[:, 2] + boxes[:, 7] * bw, boxes[:, 3] + boxes[:, 8] * bh, boxes[:, 4]], dim=1)
        boxes = _square(boxes)
        points = images.new_zeros((0, 5, 2))
        # Stage 2: R-Net on 24×24 crops.
        if len(boxes):
            crops, empty = _crops(images, frame_of, boxes, 24)
            offsets, probs = self.rnet(crops)
            score = probs[:, 1]
            ok = (score > t2) & ~empty
            boxes = torch.cat([boxes[ok, :4], score[ok, None]], dim=1)
            frame_of, offsets = frame_of[ok], offsets[ok]
            keep = batched_nms(boxes[:, :4], boxes[:, 4], frame_of, 0.7)
            boxes = _square(_regress(boxes[keep], offsets[keep]))
            frame_of = frame_of[keep]
        # Stage 3: O-Net on 48×48 crops; landmarks; 'Min' NMS.
        if len(boxes):
            crops, empty = _crops(images, frame_of, boxes, 48)
            offsets, marks, probs = self.onet(crops)
            score = probs[:, 1]
            ok = (score > t3) & ~empty
            boxes = torch.cat([boxes[ok, :4], score[ok, None]], dim=1)
            frame_of, offsets, marks = frame_of[ok], offsets[ok], marks[ok]
            bw = boxes[:, 2] - boxes[:, 0] + 1
            bh = boxes[:, 3] - boxes[:, 1] + 1
            px = bw[:, None] * marks[:, :5] + boxes[:, 0:1] - 1
            py = bh[:, None] * marks[:, 5:] + boxes[:, 1:2] - 1
            points = torch.stack([px, py], dim=2)
            boxes = _regress(boxes, offsets)
            keep = batched_nms(boxes[:, :4], boxes[:, 4], frame_of, 0.7, method="min")
            boxes, frame_of, points = boxes[keep], frame_of[keep], points[keep]
        boxes, points, frame_of = boxes.float().cpu().numpy(), points.float().cpu().numpy(), frame_of.cpu().numpy()
        return [(boxes[frame_of == i], points[frame_of == i]) for i in range(b)]

    def _batches(self, frames, batch_size: int, name: str):
        x = _frame_array(frames, name)
        if batch_size < 1:
            raise ValueError(f"MTCNN: batch_size must be ≥ 1, got {batch_size}")
        dtype = next(self.pnet.parameters()).dtype
        for start in range(0, len(x), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(_pixels(x[start : start + batch_size], name)))
            yield x.shape[1:3], chunk.permute(0, 3, 1, 2).to(self.device, dtype)

    @torch.inference_mode()
    def detect_all(self, frames, batch_size: int = 16, *, name: str = "frames"):
        """Every face of every frame: a list of ``(boxes [N, 4], probs [N], landmarks [N, 5, 2])`` per frame
        (float32 numpy, by decreasing probability; ``N = 0`` where none). ``frames`` as for :meth:`detect`."""
        out = []
        for _, images in self._batches(frames, batch_size, name):
            for boxes, points in self._cascade(images):
                out.append((boxes[:, :4].copy(), boxes[:, 4].copy(), points))
        return out

    @torch.inference_mode()
    def detect(self, frames, batch_size: int = 16, *, name: str = "frames") -> FaceTrack:
        """One face per frame (the largest, or the most probable): a :class:`FaceTrack`.

        Args:
            frames: uint8 ``[T, H, W, 3]`` (0-255), float ``[T, H, W, 3]`` in [0, 1], or one ``[H, W, 3]`` image
                (T = 1); grayscale ``[T, H, W]`` is accepted as in :func:`~msa_lib.features.vision.check_frames`.
            batch_size: frames per pass through the cascade.
            name: the input's name in error messages.

        Raises:
            FrameError: empty frames, wrong shape, NaN pixels, float values outside [0, 1] (naming ``name``).
        """
        boxes, probs, marks, size = [], [], [], None
        for size, images in self._batches(frames, batch_size, name):
            for found, points in self._cascade(images):
                if len(found) == 0:
                    boxes.append(np.full(4, np.nan, np.float32))
                    probs.append(np.float32(np.nan))
                    marks.append(np.full((5, 2), np.nan, np.float32))
                    continue
                if self.select_largest:
                    area = (found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1])
                    k = int(np.argmax(area))
                else:
                    k = int(np.argmax(found[:, 4]))
                boxes.append(found[k, :4])
                probs.append(found[k, 4])
                marks.append(points[k])
        return FaceTrack(np.stack(boxes).astype(np.float32), np.asarray(probs, np.float32),
                         np.stack(marks).astype(np.float32), (int(size[0]), int(size[1])))

    forward = detect


@functools.lru_cache(maxsize=1)
def default_detector() -> MTCNN:
    """A shared :class:`MTCNN` with the default settings (built once, weights from :func:`mtcnn_weights_dir`)."""
    return MTCNN()


# ---------------------------------------------------------------------------------------------- geometry
#: Names of the columns of :func:`face_geometry` (meanings and directions in the module docstring).
FACE_GEOMETRY_NAMES: tuple[str, ...] = (
    "mouth_width", "mouth_drop", "corner_asymmetry", "nose_to_mouth",
    "head_roll", "head_yaw", "head_pitch",
    "face_scale", "face_x", "face_y", "face_prob",
)


def face_geometry(track: FaceTrack) -> np.ndarray:
    """Per-frame face geometry ``[T, D]`` float32 (columns :data:`FACE_GEOMETRY_NAMES`); all-NaN rows where no face.

    Points are expressed in the face's frame: origin at the eye mid-point, unit = the inter-ocular distance,
    ``u`` along the eye line (image-left eye → image-right eye), ``v`` perpendicular to it, pointing down the face.
    """
    pts = np.asarray(track.landmarks, np.float64)
    boxes = np.asarray(track.boxes, np.float64)
    left_eye, right_eye, nose, left_corner, right_corner = (pts[:, i] for i in range(5))
    eye_mid = (left_eye + right_eye) / 2
    eye_line = right_eye - left_eye
    iod = np.linalg.norm(eye_line, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u_axis = eye_line / iod[:, None]
        v_axis = np.stack([-u_axis[:, 1], u_axis[:, 0]], axis=1)  # u turned by +90° in image coordinates (y down)

        def u(p):
            return np.sum((p - eye_mid) * u_axis, axis=1) / iod

        def v(p):
            return np.sum((p - eye_mid) * v_axis, axis=1) / iod

        mouth_mid = (left_corner + right_corner) / 2
        h, w = track.frame_size
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        cols = [
            np.linalg.norm(right_corner - left_corner, axis=1) / iod,  # mouth_width
            v(mouth_mid),  # mouth_drop
            v(right_corner) - v(left_corner),  # corner_asymmetry
            v(mouth_mid) - v(nose),  # nose_to_mouth
            np.degrees(np.arctan2(eye_line[:, 1], eye_line[:, 0])),  # head_roll
            u(nose),  # head_yaw
            v(nose),  # head_pitch
            np.sqrt(np.clip(bw * bh, 0, None) / (h * w)),  # face_scale
            (boxes[:, 0] + boxes[:, 2]) / 2 / w,  # face_x
            (boxes[:, 1] + boxes[:, 3]) / 2 / h,  # face_y
            np.asarray(track.probs, np.float64),  # face_prob
        ]
    out = np.stack(cols, axis=1).astype(np.float32)
    out[~track.found | ~np.isfinite(out).all(axis=1)] = np.nan  # a degenerate face (iod = 0) counts as missing
    return out


def face_features(frames, detector: MTCNN | None = None, *, on_missing: str = "mask",
                  name: str = "frames") -> tuple[np.ndarray, np.ndarray]:
    """Detect a face per frame and return its geometry: ``(features [T', D] float32, found [T'] bool)``.

    Args:
        frames: as for :meth:`MTCNN.detect`.
        detector: an :class:`MTCNN`; ``None`` = :func:`default_detector`.
        on_missing: frames without a face: ``"mask"`` keeps them as all-NaN rows with ``found`` False;
            ``"error"`` raises; ``"drop"`` removes them with a warning (T' < T, timing no longer uniform).
        name: the input's name in messages.

    Raises:
        FrameError: no face in any frame (every mode); any frame without a face with ``on_missing="error"``;
            bad frames (see :meth:`MTCNN.detect`).
        ValueError: an unknown ``on_missing``.
    """
    if on_missing not in ("mask", "error", "drop"):
        raise ValueError(f"face_features: on_missing must be 'mask', 'error' or 'drop', got {on_missing!r}")
    detector = detector if detector is not None else default_detector()
    track = detector.detect(frames, name=name)
    feats = face_geometry(track)
    found = ~np.isnan(feats).all(axis=1)
    n = len(found)
    if not found.any():
        raise FrameError(f"{name}: no face in any of the {n} frames (nothing to describe)")
    missing = np.flatnonzero(~found)
    if len(missing):
        msg = (f"{name}: no face found in {len(missing)} of {n} frames "
               f"(frames {', '.join(map(str, missing[:5]))}{', …' if len(missing) > 5 else ''})")
        if on_missing == "error":
            raise FrameError(msg + "; pass on_missing='mask' to keep them as all-NaN rows, or 'drop' to remove them")
        if on_missing == "drop":
            warnings.warn(msg + "; dropped (the timing is no longer uniform)", stacklevel=2)
            return np.ascontiguousarray(feats[found]), np.ones(int(found.sum()), dtype=bool)
    return feats, found


def crop_faces(frames, track: FaceTrack, size: int = 112, margin: float = 0.2, *, name: str = "frames") -> np.ndarray:
    """Square face crops ``[T, size, size, 3]`` uint8, for an image model (the Colab path; module docstring).

    Each crop is centred on the frame's box; its side is the box's longer side times ``1 + 2 * margin`` (``margin``
    of the side added on each side). Parts outside the frame and frames without a face are black (zeros).
    """
    x = _frame_array(frames, name)
    if len(x) != len(track):
        raise FrameError(f"{name}: {len(x)} frames but the face track has {len(track)}")
    out = np.zeros((len(x), size, size, 3), np.uint8)
    h, w = x.shape[1:3]
    for t in np.flatnonzero(track.found):
        x1, y1, x2, y2 = (float(c) for c in track.boxes[t])
        side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
        n = max(round(side), 1)
        left, top = round((x1 + x2) / 2 - n / 2), round((y1 + y2) / 2 - n / 2)
        canvas = np.zeros((n, n, 3), np.float32)
        sx0, sy0, sx1, sy1 = max(left, 0), max(top, 0), min(left + n, w), min(top + n, h)
        if sx1 > sx0 and sy1 > sy0:
            canvas[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = _pixels(x[t : t + 1, sy0:sy1, sx0:sx1], name)[0]
        img = torch.from_numpy(canvas).permute(2, 0, 1)[None]
        img = F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[t] = img[0].permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()
    return out


# ---------------------------------------------------------------------------------------------- demo faces
def sample_face_photo() -> np.ndarray:
    """The photograph of Grace Hopper bundled with matplotlib, uint8 ``[600, 512, 3]``."""
    import matplotlib.image as mpimg
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        img = mpimg.imread(f, format="jpg")
    return np.ascontiguousarray(img[..., :3]).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _neutral_face(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo cropped to a square around the face and resized: (float32 ``[size, size, 3]`` 0-255,
    landmarks ``[5, 2]`` in crop pixels). The face is found by MTCNN once on the full photo."""
    photo = sample_face_photo()
    track = default_detector().detect(photo, name="grace_hopper.jpg")
    if not track.found[0]:  # pragma: no cover - the photo has one clear face
        raise RuntimeError("expression_frames: MTCNN found no face in the sample photo")
    x1, y1, x2, y2 = (float(c) for c in track.boxes[0])
    side = 1.6 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = photo.shape[:2]
    side = min(side, w, h)
    left = round(min(max(cx - side / 2, 0), w - side))
    top = round(min(max(cy - side / 2, 0), h - side))
    n = round(side)
    crop = torch.from_numpy(photo[top : top + n, left : left + n].astype(np.float32)).permute(2, 0, 1)[None]
    crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    marks = (track.landmarks[0].astype(np.float64) - [left - 0.5, top - 0.5]) * (size / n) - 0.5
    return crop[0].permute(1, 2, 0).numpy(), marks


# The expression warp, in inter-ocular distances: width of the bump around each mouth corner, and how far a corner
# moves at |sentiment| = 3 — outward in a smile, inward in a frown, and up (smile) / down (frown).
_WARP_SIGMA, _WARP_OUT, _WARP_IN, _WARP_UP = 0.25, 0.12, 0.03, 0.20


def expression_frames(sentiment: float, n_frames: int = 16, size: int = 160, seed: int = 0) -> np.ndarray:
    """A clip of a real face whose mouth corners follow ``sentiment``: uint8 ``[n_frames, size, size, 3]``.

    The photograph from :func:`sample_face_photo`, cropped around the face, is warped by a smooth displacement
    field: a Gaussian bump (σ = 0.25 × the inter-ocular distance, iod) around each mouth corner that moves the
    corner, at ``|sentiment| = 3``, by 0.12 iod outward and 0.20 iod up for ``sentiment > 0`` (a smile), or by
    0.20 iod down and 0.03 iod inward for ``sentiment < 0`` (a frown); linearly in between. The expression ramps
    in smoothly over the first 60 % of the frames (as on the face of someone starting an utterance), and a small
    seeded head motion (±2 % shift, ±2° roll, slow sinusoids) moves the whole face. Bilinear sampling (``grid_sample``, border padding). Mouth-corner positions come from MTCNN
    on the neutral photo (computed once).
    """
    s = float(sentiment)
    if not -3.0 <= s <= 3.0:
        raise ValueError(f"expression_frames: sentiment must lie in [-3, 3], got {sentiment}")
    if n_frames < 1 or size < 48:
        raise ValueError(f"expression_frames: need n_frames ≥ 1 and size ≥ 48, got {n_frames}, {size}")
    face, marks = _neutral_face(int(size))
    iod = float(np.linalg.norm(marks[1] - marks[0]))
    centre = marks.mean(axis=0)
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / max(n_frames - 1, 1)
    ramp = np.clip(t / 0.6, 0, 1) if n_frames > 1 else np.ones(1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep
    freq, phase = rng.uniform(0.4, 1.2, 3), rng.uniform(0, 2 * np.pi, 3)
    motion = np.sin(2 * np.pi * freq[None] * t[:, None] + phase[None])  # [T, 3]: dx, dy, roll
    shift = motion[:, :2] * 0.02 * size
    roll = np.radians(motion[:, 2] * 2.0)

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    grids = []
    for k in range(n_frames):
        # head motion: output pixel p shows the face point R^-1 (p - c - shift) + c
        px, py = xx - centre[0] - shift[k, 0], yy - centre[1] - shift[k, 1]
        cos, sin = math.cos(roll[k]), math.sin(roll[k])
        qx, qy = cos * px + sin * py + centre[0], -sin * px + cos * py + centre[1]
        # expression: the point shown at q comes from q - d(q), d = Gaussian bumps around the mouth corners
        dx, dy = np.zeros_like(qx), np.zeros_like(qy)
        for corner, outward in ((marks[3], -1.0), (marks[4], 1.0)):
            bump = np.exp(-((qx - corner[0]) ** 2 + (qy - corner[1]) ** 2) / (2 * (_WARP_SIGMA * iod) ** 2))
            dx += bump * outward * (_WARP_OUT if s > 0 else _WARP_IN) * iod * s / 3 * ramp[k]
            dy += bump * -_WARP_UP * iod * s / 3 * ramp[k]
        sx, sy = qx - dx, qy - dy
        grids.append(np.stack([(2 * sx + 1) / size - 1, (2 * sy + 1) / size - 1], axis=-1))
    grid = torch.from_numpy(np.stack(grids).astype(np.float32))
    src = torch.from_numpy(face).permute(2, 0, 1)[None].expand(n_frames, -1, -1, -1)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.permute(0, 2, 3, 1).clamp(0, 255).round().to(torch.uint8).numpy()
