"""From a folder of videos to a MERTools feature folder: the batch pipeline of chapter 06.

One utterance = one video file (``<name>.mp4``, as CMU-MOSEI's segmented clips are) plus its transcript
and label. For each video, :func:`extract_videos`

1. **demuxes and decodes** it with PyAV (:func:`~msa_lib.features.container.read_clip`): RGB frames with
   their presentation times, the audio track resampled to 16 kHz mono by FFmpeg's resampler;
2. **audio**: frame-level openSMILE low-level descriptors (:func:`~msa_lib.features.audio.opensmile_features`;
   eGeMAPS v02, 25 per 10 ms frame, by default; ComParE 2016, 65, as an option);
3. **vision**: MTCNN face detection in every frame and the five-point face geometry
   (:func:`~msa_lib.features.faces.face_features`); a frame without a face follows ``on_missing_face``
   (``"mask"`` by default: an all-NaN row, which ``load_mertools(..., missing_frames="mask")`` reads as a
   masked frame; ``"drop"``; ``"error"``);
4. **text**: token-level hidden states of the transcript (:class:`~msa_lib.features.text.TextEncoder`,
   all-MiniLM-L6-v2 offline);

and writes ``<out>/<folder>/<name>.npy`` for the three modalities. A video is written **all or nothing**:
its three features are computed first and written only when all three succeeded, so a failure never
leaves one modality of an utterance behind.

**Batch behaviour.** A progress bar (``tqdm``; silenced by ``TQDM_DISABLE=1``); videos whose three
features already exist are skipped (resume after an interruption; each folder records the extractor in
``.extraction.json`` and refuses to mix two); a video that fails (corrupt or truncated file, no audio
stream, a silent track, no face in any frame, an empty transcript) is reported by name with its error at
the end, and the batch goes on. :func:`build_mertools` adds ``label.npz`` for the utterances that were
extracted, so that ``msa_lib.data.load_dataset(out)`` (chapters 01-05 through ``DATA_PATH``) reads it.
"""

from __future__ import annotations

import csv
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..data import LAYOUT_FILE
from .writers import _check_signature, check_name, feature_shape, write_feature, write_label_file

#: the columns of a manifest (``manifest.csv``) of videos: one row per utterance
MANIFEST_COLUMNS = ("name", "split", "label", "transcript")


@dataclass
class PipelineConfig:
    """Settings of :func:`extract_videos`; the folder names follow MERTools' habit of naming a folder
    after its extractor."""

    sample_rate: int = 16_000
    #: openSMILE feature set: "eGeMAPSv02" (25 LLDs) or "ComParE_2016" (65 LLDs)
    acoustic_set: str = "eGeMAPSv02"
    #: a frame without a face: "mask" (all-NaN row), "drop" (removed, with a warning) or "error"
    on_missing_face: str = "mask"
    #: transcript encoder checkpoint (None: all-MiniLM-L6-v2, offline)
    text_checkpoint: str | None = None
    audio_folder: str = "egemaps_lld"
    vision_folder: str = "mtcnn_geometry"
    text_folder: str = "minilm"

    def __post_init__(self):
        if self.acoustic_set not in ("eGeMAPSv02", "ComParE_2016"):
            raise ValueError(f"PipelineConfig: acoustic_set must be 'eGeMAPSv02' or 'ComParE_2016', got "
                             f"{self.acoustic_set!r}")
        if self.on_missing_face not in ("mask", "drop", "error"):
            raise ValueError(f"PipelineConfig: on_missing_face must be 'mask', 'drop' or 'error', got "
                             f"{self.on_missing_face!r}")
        if self.audio_folder == "egemaps_lld" and self.acoustic_set == "ComParE_2016":
            self.audio_folder = "compare_lld"

    def folders(self) -> dict[str, str]:
        return {"audio": self.audio_folder, "vision": self.vision_folder, "text": self.text_folder}


@dataclass
class VideoReport:
    """What :func:`extract_videos` did: names written, skipped (already there) and failed (with the error)."""

    out: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: frames without a face, per written video (only those with at least one)
    faceless_frames: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: seconds of media extracted (the written videos' durations): real-time factor = seconds / media_seconds
    media_seconds: float = 0.0

    def __str__(self) -> str:
        lines = [f"{self.out}: {len(self.written)} written, {len(self.skipped)} skipped (already there), "
                 f"{len(self.failed)} failed, {self.seconds:.1f} s"]
        if self.faceless_frames:
            lines.append(f"  frames without a face: {sum(self.faceless_frames.values())} in "
                         f"{len(self.faceless_frames)} video(s)")
        for name, err in self.failed.items():
            lines.append(f"  FAILED {name}: {err}")
        return "\n".join(lines)


def read_manifest(path) -> list[dict]:
    """Rows ``{name, split, label, transcript}`` of a ``manifest.csv``; errors name the file and row."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_manifest: {path}: no such file")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        absent = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise ValueError(f"read_manifest: {path}: no column(s) {absent}; the header must name {list(MANIFEST_COLUMNS)}")
        rows = []
        for k, row in enumerate(reader, start=2):
            try:
                label = float(row["label"])
            except ValueError:
                raise ValueError(f"read_manifest: {path}, line {k}: label {row['label']!r} is not a number") from None
            if row["split"] not in ("train", "valid", "test"):
                raise ValueError(f"read_manifest: {path}, line {k}: split {row['split']!r} is not train/valid/test")
            rows.append({"name": check_name(row["name"]), "split": row["split"], "label": label,
                         "transcript": row["transcript"]})
    names = [r["name"] for r in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"read_manifest: {path}: duplicate names, e.g. {sorted({n for n in names if names.count(n) > 1})[:3]}")
    return rows


def write_manifest(path, rows) -> Path:
    """Write ``manifest.csv`` (columns :data:`MANIFEST_COLUMNS`) atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(MANIFEST_COLUMNS))
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r[c] for c in MANIFEST_COLUMNS})
    os.replace(tmp, path)
    return path


def _done(out: Path, folders: Mapping[str, str], name: str) -> bool:
    return all(feature_shape(out / f, name) is not None for f in folders.values())


def extract_videos(videos: Mapping[str, str | os.PathLike], transcripts: Mapping[str, str], out, *,
                   config: PipelineConfig | None = None, overwrite: bool = False, progress: bool = True,
                   detector=None, text_encoder=None) -> VideoReport:
    """Extract audio, vision and text features of ``videos`` (``{name: path}``) into ``out``.

    Args:
        videos: ``{name: video path}``.
        transcripts: ``{name: transcript}`` (every video needs one).
        out: the feature root; three folders are written under it (``config.folders()``).
        config: :class:`PipelineConfig`.
        overwrite: recompute every video (default: resume, skipping videos whose three features exist).
        progress: a ``tqdm`` progress bar.
        detector: an :class:`~msa_lib.features.faces.MTCNN` (default: one built here).
        text_encoder: a :class:`~msa_lib.features.text.TextEncoder` (default: ``config.text_checkpoint``).

    Returns a :class:`VideoReport`; failures are in ``report.failed`` (name → error), never raised.
    """
    from tqdm.auto import tqdm

    from .audio import AudioError, opensmile_features
    from .container import MediaError, read_clip
    from .faces import MTCNN, face_features
    from .text import TextEncoder, TextEncoderConfig, TranscriptError, check_transcript
    from .vision import FrameError

    start = time.perf_counter()
    cfg = config or PipelineConfig()
    out = Path(out)
    folders = cfg.folders()
    absent = [n for n in videos if n not in transcripts]
    if absent:
        raise KeyError(f"extract_videos: no transcript for {len(absent)} video(s), e.g. {absent[:3]}")
    names = [check_name(n) for n in videos]
    report = VideoReport(out)
    todo = []
    for name in names:
        if not overwrite and _done(out, folders, name):
            report.skipped.append(name)
        else:
            todo.append(name)
    if not todo:
        report.seconds = time.perf_counter() - start
        return report
    if detector is None:
        detector = MTCNN()
    if text_encoder is None:
        text_encoder = TextEncoder(TextEncoderConfig(cfg.text_checkpoint))
    signatures = {
        "audio": f"opensmile {cfg.acoustic_set} LowLevelDescriptors, {cfg.sample_rate} Hz",
        "vision": f"MTCNN (facenet-pytorch weights) five-point geometry, missing faces: {cfg.on_missing_face}",
        "text": str(text_encoder.signature),
    }
    for m, f in folders.items():
        (out / f).mkdir(parents=True, exist_ok=True)
        _check_signature(out / f, signatures[m], overwrite)
    disable = (not progress) or os.environ.get("TQDM_DISABLE", "") not in ("", "0")
    bar = tqdm(total=len(names), initial=len(report.skipped), desc=f"videos → {out.name}", unit="video",
               disable=disable)
    expected = (MediaError, AudioError, FrameError, TranscriptError, OSError, ValueError)
    try:
        for name in todo:
            path = Path(videos[name])
            try:
                text = check_transcript(transcripts[name], f"{name} transcript")
                clip = read_clip(path, cfg.sample_rate)
                audio, _ = opensmile_features(clip.waveform, clip.sample_rate, cfg.acoustic_set, name=str(path))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "drop" warns per video; the report counts them
                    vision, found = face_features(clip.frames, detector, on_missing=cfg.on_missing_face,
                                                  name=str(path))
                (words,) = text_encoder.encode([text], [name])
                feats = {"audio": audio, "vision": vision, "text": words}
            except expected as e:  # noqa: PERF203 - one video's failure must not stop the batch
                report.failed[name] = f"{type(e).__name__}: {e}"
            else:
                for m, f in folders.items():
                    write_feature(out / f, name, feats[m])
                report.written.append(name)
                report.media_seconds += clip.duration
                if (~found).any() or len(found) < len(clip.frames):
                    report.faceless_frames[name] = int((~found).sum()) + len(clip.frames) - len(found)
            bar.update(1)
    finally:
        bar.close()
    report.seconds = time.perf_counter() - start
    return report


def build_mertools(video_dir, out, *, manifest=None, config: PipelineConfig | None = None,
                   overwrite: bool = False, progress: bool = True, **kw) -> VideoReport:
    """:func:`extract_videos` over ``video_dir/<name>.mp4`` for every row of the manifest, then ``label.npz``.

    ``manifest`` defaults to ``video_dir/manifest.csv`` (:func:`read_manifest`). Utterances that failed are
    left out of ``label.npz`` with a warning naming them (their errors are in the report); a split left
    empty is an error. ``msa_layout.json`` names the feature folders and says that all-NaN rows are missing
    frames. Returns the report; ``msa_lib.data.load_dataset(out)`` then reads the folder.
    """
    video_dir = Path(video_dir)
    cfg = config or PipelineConfig()
    rows = read_manifest(manifest or video_dir / "manifest.csv")
    videos = {r["name"]: video_dir / f"{r['name']}.mp4" for r in rows}
    report = extract_videos(videos, {r["name"]: r["transcript"] for r in rows}, out, config=cfg,
                            overwrite=overwrite, progress=progress, **kw)
    if report.failed:
        warnings.warn(f"build_mertools: {len(report.failed)} video(s) failed and are left out of label.npz: "
                      f"{sorted(report.failed)}", stacklevel=2)
    labels: dict[str, dict[str, float]] = {"train": {}, "valid": {}, "test": {}}
    for r in rows:
        if r["name"] not in report.failed:
            labels[r["split"]][r["name"]] = r["label"]
    write_label_file(Path(out) / "label.npz", labels)
    # load_dataset(out) reads the folder names and the missing-frame rule from here
    layout = {**cfg.folders(), "missing_frames": "mask"}
    tmp = Path(out) / f".{LAYOUT_FILE}.tmp"
    tmp.write_text(json.dumps(layout, indent=1))
    os.replace(tmp, Path(out) / LAYOUT_FILE)
    return report


__all__ = ["MANIFEST_COLUMNS", "PipelineConfig", "VideoReport", "build_mertools", "extract_videos",
           "read_manifest", "write_manifest"]
