"""The video pipeline of chapter 06: real .mp4 files → openSMILE / MTCNN / MiniLM → a MERTools folder.

Demo videos are real H.264 + AAC files (a real face photograph whose mouth corners follow the label, the
spoken sentence); bad media sit beside them in the same batch: a truncated mp4, a video without an audio
track, a video without a face, a silent track. The batch must write the good ones, name each bad one with
its error, leave nothing of a failed video behind, and resume without recomputing.
"""

from __future__ import annotations

import importlib.util
import shutil
import warnings

import numpy as np
import pytest

pytest.importorskip("av")
if importlib.util.find_spec("opensmile") is None:  # not importorskip: importing it bare changes PyYAML (see audio.py)
    pytest.skip("opensmile is not installed", allow_module_level=True)

from msa_lib.data import load_dataset  # noqa: E402
from msa_lib.features import (  # noqa: E402
    EGEMAPS_LLD_NAMES,
    FACE_GEOMETRY_NAMES,
    build_mertools,
    espeak_available,
    make_demo_videos,
    read_clip,
    read_manifest,
    write_clip,
    write_manifest,
)

FPS = 10
BAD = ("truncated", "no_audio", "no_face", "silent")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    clips, source = make_demo_videos(root, (6, 2, 2), fps=FPS, size=160, seed=3)
    folder = root / "videos"
    rows = read_manifest(folder / "manifest.csv")
    good = folder / f"{clips[0].name}.mp4"
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: int(len(data) * 0.6)])
    clip = read_clip(good)
    write_clip(folder / "no_audio.mp4", clip.frames, FPS)
    gray = np.full_like(clip.frames, 128)
    write_clip(folder / "no_face.mp4", gray, FPS, clip.waveform, clip.sample_rate)
    write_clip(folder / "silent.mp4", clip.frames, FPS, np.zeros_like(clip.waveform), clip.sample_rate)
    rows += [{"name": n, "split": "train", "label": 0.0, "transcript": "a sentence"} for n in BAD]
    write_manifest(folder / "manifest.csv", rows)
    out = root / "features"
    with pytest.warns(UserWarning, match="4 video.s. failed"):
        report = build_mertools(folder, out, progress=False)
    return {"root": root, "folder": folder, "out": out, "clips": clips, "source": source, "report": report}


def test_the_batch_writes_the_good_videos_and_names_each_bad_one(videos):
    report, out = videos["report"], videos["out"]
    assert sorted(report.written) == sorted(c.name for c in videos["clips"])
    assert sorted(report.failed) == sorted(BAD)
    assert "MediaError" in report.failed["truncated"] and "truncated.mp4" in report.failed["truncated"]
    assert "no audio stream" in report.failed["no_audio"]
    assert "FrameError" in report.failed["no_face"] and "no_face.mp4" in report.failed["no_face"]
    assert "silent" in report.failed["silent"]
    for name in BAD:  # all or nothing: no modality of a failed video is left behind
        assert not list(out.glob(f"*/{name}.npy")), name
    assert all(name in str(report) for name in BAD)
    ds = load_dataset(out, quick=False, simulated_text="none")
    ids = [i for s in ("train", "valid", "test") for i in ds[s].ids]
    assert sorted(ids) == sorted(c.name for c in videos["clips"])  # the failed ones are not in label.npz


def test_features_have_the_documented_shapes_and_rates(videos):
    ds = load_dataset(videos["out"], quick=False, simulated_text="none")
    assert ds.input_dims == {"text": 384, "audio": len(EGEMAPS_LLD_NAMES), "vision": len(FACE_GEOMETRY_NAMES)}
    split = ds["train"]
    for i, name in enumerate(split.ids):
        clip = read_clip(videos["folder"] / f"{name}.mp4")
        audio, vision = split.sequences["audio"][i], split.sequences["vision"][i]
        # eGeMAPS LLDs at 100 Hz (10 ms hop, 20/60 ms windows); one vision row per decoded frame
        seconds = len(clip.waveform) / clip.sample_rate
        assert abs(len(audio) - seconds * 100) <= 6, (name, len(audio), seconds)
        assert len(vision) == len(clip.frames)
        assert np.isfinite(audio).all() and np.isfinite(vision).all()  # a face in every demo frame


def test_positive_and_negative_videos_differ_as_chapter_06_says(videos):
    ds = load_dataset(videos["out"], quick=False, simulated_text="none")
    width = FACE_GEOMETRY_NAMES.index("mouth_width")
    f0 = EGEMAPS_LLD_NAMES.index("F0semitoneFrom27.5Hz_sma3nz")
    pos, neg = {"smile": [], "f0": []}, {"smile": [], "f0": []}
    for s in ("train", "valid", "test"):
        split = ds[s]
        for i, y in enumerate(split.labels):
            if y == 0:
                continue
            side = pos if y > 0 else neg
            vision, audio = split.sequences["vision"][i], split.sequences["audio"][i]
            side["smile"].append(vision[len(vision) // 2 :, width].mean())  # the expression has ramped in
            voiced = audio[:, f0] > 0  # openSMILE's F0 is 0 in unvoiced frames
            side["f0"].append(audio[voiced, f0].mean())
    assert pos["smile"] and neg["smile"]
    assert min(pos["smile"]) > max(neg["smile"])  # a smile widens the mouth
    if videos["source"] == "espeak-ng":  # the demo speaks positive sentences at a higher pitch
        assert np.mean(pos["f0"]) > np.mean(neg["f0"]) + 1.0


def test_a_second_run_resumes_without_recomputing(videos, tmp_path):
    out = tmp_path / "features"
    shutil.copytree(videos["out"], out)
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/*.npy")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = build_mertools(videos["folder"], out, progress=False)
    assert sorted(report.skipped) == sorted(c.name for c in videos["clips"]) and not report.written
    assert sorted(report.failed) == sorted(BAD)  # the bad ones are tried again, and fail again
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.npy")} == before


def test_a_missing_face_in_some_frames_is_a_masked_frame(videos, tmp_path):
    from msa_lib.data import make_loader

    folder = tmp_path / "videos"
    folder.mkdir()
    clip = read_clip(videos["folder"] / f"{videos['clips'][0].name}.mp4")
    frames = clip.frames.copy()
    frames[2:4] = 128  # the face leaves the picture for two frames
    rows = []
    for k, split in enumerate(("train", "valid", "test")):
        write_clip(folder / f"u{k}.mp4", frames, FPS, clip.waveform, clip.sample_rate)
        rows.append({"name": f"u{k}", "split": split, "label": 2.0, "transcript": "a sentence"})
    write_manifest(folder / "manifest.csv", rows)
    report = build_mertools(folder, tmp_path / "features", progress=False)
    assert report.faceless_frames == {"u0": 2, "u1": 2, "u2": 2}
    ds = load_dataset(tmp_path / "features", quick=False, simulated_text="none")
    batch = next(iter(make_loader(ds["train"], batch_size=1, shuffle=False)))
    mask = batch["vision_mask"][0].numpy()
    assert not mask[2:4].any() and mask[:2].all() and mask[4:].all()
    assert (batch["vision"][0, 2:4] == 0).all()


def test_the_pipeline_folder_becomes_an_mmsa_pickle_the_chapters_load(videos, tmp_path):
    """mmsa_from_folders on build_mertools' folder: a pickle that load_dataset (what chapters 01-05 call with
    DATA_PATH) reads with the folder's ids, labels, dims and features; a frame without a face becomes a zero row
    (MMSA's format has no per-frame mask), with a warning that counts it."""
    from msa_lib.features import mmsa_from_folders

    out = tmp_path / "features"
    shutil.copytree(videos["out"], out)
    name = videos["clips"][0].name
    vision = np.load(out / "mtcnn_geometry" / f"{name}.npy")
    vision[1] = np.nan  # as the pipeline writes a frame without a face
    np.save(out / "mtcnn_geometry" / f"{name}.npy", vision)
    with pytest.warns(UserWarning, match=r"missing frames .all-NaN rows. written as zero rows.*vision: 1"):
        path = mmsa_from_folders(out / "label.npz", out, tmp_path / "pipeline.pkl", audio="egemaps_lld",
                                 text="minilm", vision="mtcnn_geometry")
    folder = load_dataset(out, quick=False, simulated_text="none")
    pickled = load_dataset(path, quick=False, simulated_text="none")
    assert pickled.input_dims == folder.input_dims
    for s in ("train", "valid", "test"):
        assert list(pickled[s].ids) == list(folder[s].ids)
        np.testing.assert_allclose(pickled[s].labels, folder[s].labels, atol=1e-6)
        for m in ("text", "audio", "vision"):
            for i in range(len(folder[s].ids)):
                a = folder[s].sequences[m][i]
                b = pickled[s].sequences[m][i]
                assert len(b) == len(a), (s, m, i)
                finite = np.isfinite(a).all(axis=1)
                np.testing.assert_allclose(b[finite], a[finite], atol=1e-6)
                assert (b[~finite] == 0).all()
    i = list(pickled["train"].ids).index(name)
    assert (pickled["train"].sequences["vision"][i][1] == 0).all()
