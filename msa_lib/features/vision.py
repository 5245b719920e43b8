"""Vision: per-frame features from an image model, or pre-computed facial features passed through.

Two routes to a ``[T, D]`` vision feature per utterance:

* :class:`ImageEncoder` — frames ``[T, H, W, 3]`` (uint8 0-255 or float 0-1) through a ViT-family
  image model from ``transformers``: each frame is resized to the model's input size, normalised with
  the checkpoint's mean / std, and read out as the ``[CLS]`` state (or the patch mean) of a chosen
  layer. SDUMC uses MA-Net (a facial-expression CNN) on OpenFace-aligned face crops; here any
  ``transformers`` image checkpoint works on Colab (``"google/vit-base-patch16-224-in21k"``, or a
  face-expression ViT such as ``"trpakov/vit-face-expression"``); offline, a tiny random ViT built
  from a config (:func:`tiny_image_model`) — its features carry no meaning.
* :func:`check_precomputed` — features computed elsewhere (OpenFace action units, FACET, MA-Net
  ``.npy`` files) validated and passed through unchanged.

Missing frames: a frame whose face detection failed is often stored as a row of NaN (OpenFace) or is
simply absent from a numbered frame folder. Both are errors by default, because silently closing the
gap changes the timing of the sequence; ``on_missing="drop"`` removes them **with a warning** giving
the count.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .audio import _pick_device, select_layers


class FrameError(ValueError):
    """Frames or pre-computed vision features that cannot give a correct feature."""


def check_frames(frames, name: str = "frames") -> np.ndarray:
    """Validate video frames and return them as float32 ``[T, H, W, 3]`` in [0, 1].

    Accepted: uint8 ``[T, H, W, 3]`` (0-255) or float ``[T, H, W, 3]`` in [0, 1]; grayscale
    ``[T, H, W]`` / ``[T, H, W, 1]`` is repeated to 3 channels (lossless, no warning).

    Raises:
        FrameError: no frames (T = 0), wrong rank or channel count, NaN/inf, float values outside [0, 1].
    """
    x = np.asarray(frames)
    if x.dtype == object:
        raise FrameError(f"{name}: frames must be a numeric array, got dtype object (frames of different sizes?)")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise FrameError(f"{name}: expected frames [T, H, W, 3], got shape {x.shape}")
    if x.shape[0] == 0:
        raise FrameError(f"{name}: no frames (T = 0); a video without frames has no vision feature")
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[-1] != 3:
        raise FrameError(f"{name}: expected 3 colour channels last [T, H, W, 3], got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise FrameError(f"{name}: {int((~np.isfinite(x)).sum())} NaN/inf pixel values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise FrameError(
            f"{name}: float frames must lie in [0, 1], got [{lo:.3g}, {hi:.3g}] (divide 0-255 images by 255)"
        )
    return x


_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def load_frames(path, on_missing: str = "error") -> np.ndarray:
    """Frames ``[T, H, W, 3]`` (float32, [0, 1]) from a ``.npy`` array or a folder of numbered images.

    A folder holds ``*.png`` / ``*.jpg`` / ``*.npy`` frames whose names end in a frame number
    (``frame_0001.png``); they are stacked in numeric order. A gap in the numbering (a frame the
    face detector dropped) is an error, or with ``on_missing="drop"`` a warning.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"load_frames: {path}: no such file or folder")
    if path.is_file():
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise FrameError(f"load_frames: {path} is not a readable .npy array ({e})") from None
        return check_frames(arr, str(path))
    files = [p for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".npy")]
    if not files:
        raise FrameError(f"load_frames: {path} holds no .png/.jpg/.npy frames")
    numbered = []
    for p in files:
        m = _NUMBER.search(p.stem)
        if m is None:
            raise FrameError(f"load_frames: {p}: the file name has no frame number")
        numbered.append((int(m.group(1)), p))
    numbered.sort()
    numbers = [n for n, _ in numbered]
    gaps = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if gaps:
        msg = f"load_frames: {path}: {len(gaps)} frames missing from the numbering, e.g. {gaps[:5]}"
        if on_missing == "drop":
            warnings.warn(msg + "; stacking the frames present (the timing is no longer uniform)", stacklevel=2)
        elif on_missing == "error":
            raise FrameError(msg + " (pass on_missing='drop' to stack the frames present)")
        else:
            raise ValueError(f"load_frames: on_missing must be 'error' or 'drop', got {on_missing!r}")
    frames = []
    for _, p in numbered:
        if p.suffix.lower() == ".npy":
            frames.append(np.load(p, allow_pickle=False))
        else:
            import matplotlib.image as mpimg

            img = mpimg.imread(p)  # PNG → float [0, 1]; JPEG → uint8 (needs Pillow)
            frames.append(img[..., :3] if img.ndim == 3 else img)
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise FrameError(f"load_frames: {path}: frames have different shapes {sorted(shapes)[:3]}")
    stacked = np.stack(frames)
    if stacked.dtype != np.uint8 and stacked.max(initial=0) > 1.0:
        stacked = stacked.astype(np.float32) / 255.0
    return check_frames(stacked, str(path))


def check_precomputed(features, name: str = "vision", dim: int | None = None, on_missing: str = "error") -> np.ndarray:
    """Validate pre-computed per-frame features ``[T, D]`` and return them as float32.

    Rows that are entirely NaN are frames where detection failed (OpenFace's convention): an error by
    default, dropped with a warning when ``on_missing="drop"``. Partially NaN rows, inf, an empty
    sequence or a wrong ``dim`` are always errors.
    """
    x = np.asarray(features)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise FrameError(f"{name}: features must be a numeric array, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise FrameError(f"{name}: expected features [T, D], got shape {x.shape}")
    x = x.astype(np.float32)
    if x.shape[0] == 0:
        raise FrameError(f"{name}: no frames (T = 0)")
    if dim is not None and x.shape[1] != dim:
        raise FrameError(f"{name}: feature dim {x.shape[1]}, expected {dim} (shape {x.shape})")
    nan_rows = np.isnan(x).all(axis=1)
    if np.isinf(x).any() or (np.isnan(x).any(axis=1) & ~nan_rows).any():
        raise FrameError(f"{name}: inf or partially NaN rows (only all-NaN rows mean a missing frame)")
    if nan_rows.any():
        msg = f"{name}: {int(nan_rows.sum())} of {len(x)} frames are missing (all-NaN rows)"
        if on_missing == "error":
            raise FrameError(msg + "; pass on_missing='drop' to remove them")
        if on_missing != "drop":
            raise ValueError(f"check_precomputed: on_missing must be 'error' or 'drop', got {on_missing!r}")
        if nan_rows.all():
            raise FrameError(msg + "; nothing is left")
        warnings.warn(msg + "; dropped", stacklevel=2)
        x = x[~nan_rows]
    return np.ascontiguousarray(x)


@dataclass
class ImageEncoderConfig:
    """Settings of :class:`ImageEncoder`.

    Attributes:
        checkpoint: an image-model checkpoint (a ViT, DeiT, BEiT, DINOv2, or a CLIP whose vision tower is
            used); ``None`` = :func:`tiny_image_model` (random weights).
        layer: entry of ``hidden_states`` (-1 = last layer).
        pooling: ``"cls"`` (the ``[CLS]`` state, ViT's image representation) or ``"mean"`` (patch mean).
        image_size: input size; ``None`` = the model config's ``image_size``.
        mean, std: per-channel normalisation; ``None`` = the checkpoint's image-processor values
            (0.5 / 0.5 for a config-built model).
        batch_size: frames per forward pass.
        device, dtype: as for the other encoders.
        seed: seed of the random initialisation when ``checkpoint`` is None.
    """

    checkpoint: str | None = None
    layer: int = -1
    pooling: str = "cls"
    image_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    batch_size: int = 64
    device: str | None = None
    dtype: torch.dtype | None = None
    seed: int = 0

    def __post_init__(self):
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"ImageEncoderConfig.pooling must be 'cls' or 'mean', got {self.pooling!r}")


def tiny_image_model(image_size: int = 32, patch_size: int = 8, hidden_size: int = 32, num_layers: int = 2, seed: int = 0):
    """A small randomly initialised ViT from a ``transformers`` config (16 patches of 8×8 on 32×32)."""
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(
        image_size=image_size, patch_size=patch_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=2, intermediate_size=2 * hidden_size,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ViTModel(cfg, add_pooling_layer=False).eval()


class ImageEncoder:
    """Per-frame features: ``encode([frames_1, ...]) → [[T_i, D], ...]`` (one row per frame)."""

    def __init__(self, config: ImageEncoderConfig | None = None, model=None):
        self.config = cfg = config or ImageEncoderConfig()
        self.device = _pick_device(cfg.device)
        mean, std = cfg.mean, cfg.std
        if model is None:
            if cfg.checkpoint is None:
                model = tiny_image_model(seed=cfg.seed)
            else:
                from transformers import AutoImageProcessor, AutoModel

                kwargs = {"dtype": cfg.dtype} if cfg.dtype is not None else {}
                model = AutoModel.from_pretrained(cfg.checkpoint, **kwargs)
                if mean is None or std is None:
                    proc = AutoImageProcessor.from_pretrained(cfg.checkpoint)
                    mean = mean or tuple(proc.image_mean)
                    std = std or tuple(proc.image_std)
        if hasattr(model, "vision_model"):  # CLIP / SigLIP: keep the vision tower
            model = model.vision_model
        self.model = model.to(self.device).eval()
        if cfg.dtype is not None:
            self.model = self.model.to(cfg.dtype)
        mcfg = self.model.config
        self.image_size = int(cfg.image_size or mcfg.image_size)
        self.mean = torch.tensor(mean or (0.5, 0.5, 0.5)).view(1, 3, 1, 1)
        self.std = torch.tensor(std or (0.5, 0.5, 0.5)).view(1, 3, 1, 1)
        self.dim = int(mcfg.hidden_size)

    @property
    def signature(self) -> str:
        """What made these features (for :func:`~msa_lib.features.writers.extract_to_folder`)."""
        name = self.config.checkpoint or f"tiny ViT (random, seed {self.config.seed})"
        return f"{name} | hidden_states[{self.config.layer}] {self.config.pooling} | {self.image_size}px"

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """``[T, H, W, 3]`` in [0, 1] → normalised ``[T, 3, S, S]`` (bilinear resize with antialiasing)."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def encode(self, videos: Sequence, names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Features ``[T_i, D]`` (float32 numpy) of each utterance's frames (see :func:`check_frames`)."""
        names = list(names) if names is not None else [f"video[{i}]" for i in range(len(videos))]
        checked = [check_frames(v, n) for v, n in zip(videos, names)]
        pixels = torch.cat([self.preprocess(v) for v in checked]) if checked else torch.zeros(0)
        dtype = next(self.model.parameters()).dtype
        rows = []
        for start in range(0, pixels.shape[0], self.config.batch_size):
            chunk = pixels[start : start + self.config.batch_size].to(self.device, dtype)
            out = self.model(pixel_values=chunk, output_hidden_states=True)
            hs = select_layers(out.hidden_states, self.config.layer)
            pooled = hs[:, 0] if self.config.pooling == "cls" else hs[:, 1:].mean(1)
            rows.append(pooled.float().cpu())
        allrows = torch.cat(rows).numpy() if rows else np.zeros((0, self.dim), np.float32)
        out, pos = [], 0
        for v in checked:
            out.append(np.ascontiguousarray(allrows[pos : pos + len(v)], dtype=np.float32))
            pos += len(v)
        return out

    __call__ = encode
