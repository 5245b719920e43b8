"""msa_lib.features.container: real .mp4 files in and out with PyAV (FFmpeg).

Small clips are written on the spot with ``write_clip`` (H.264 + AAC, as a CMU-MOSEI segment) and read back:
frame count / shape / rate and per-frame timestamps, colours after H.264, a tone's pitch after AAC and resampling
from 44.1 / 22.05 kHz to 16 kHz, and audio-video alignment (a click at the moment a frame turns white). Every bad
file is a MediaError naming it (truncated, random bytes, text, no audio, no frames), and a write that fails midway
leaves nothing under the final name.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

av = pytest.importorskip("av")

from msa_lib.features.container import (
    Clip,
    MediaError,
    read_audio,
    read_clip,
    write_clip,
)

T, H, W, FPS = 24, 64, 64, 12  # 2 s of video
SR = 16_000
COLOURS = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)], np.uint8)


def colour_bars(t: int = T, h: int = H, w: int = W) -> np.ndarray:
    """Four 16-pixel colour bars moving 2 pixels to the right per frame: uint8 [t, h, w, 3]."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    cols = np.arange(w)
    for i in range(t):
        frames[i] = COLOURS[((cols - 2 * i) % w) // (w // 4)][None, :, :]
    return frames


def tone(freq: float, sr: int, seconds: float = 2.0, amp: float = 0.4) -> np.ndarray:
    """A sine with 20 ms fades (an abrupt cut makes AAC ring at the end)."""
    n = int(seconds * sr)
    x = amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)
    fade = int(0.02 * sr)
    x[:fade] *= np.linspace(0, 1, fade)
    x[-fade:] *= np.linspace(1, 0, fade)
    return x.astype(np.float32)


def dominant_frequency(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[spectrum.argmax()])


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    """An .mp4 of moving colour bars + a 440 Hz tone written at 44.1 kHz."""
    return write_clip(tmp_path_factory.mktemp("clips") / "bars.mp4", colour_bars(), FPS, tone(440.0, 44_100), 44_100)


# ---------------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("source_rate", [44_100, 22_050])
def test_round_trip_frames_timestamps_and_resampled_audio(tmp_path, source_rate):
    path = write_clip(tmp_path / "clip.mp4", colour_bars(), FPS, tone(440.0, source_rate), source_rate)
    clip = read_clip(path, sample_rate=SR)
    assert isinstance(clip, Clip) and clip.path == path
    assert clip.frames.shape == (T, H, W, 3) and clip.frames.dtype == np.uint8
    assert clip.fps == FPS
    assert clip.frame_times.shape == (T,) and clip.frame_times.dtype == np.float64
    assert clip.frame_times[0] == 0.0
    np.testing.assert_allclose(np.diff(clip.frame_times), 1 / FPS, atol=1e-6)  # increasing, 1/fps apart
    assert clip.sample_rate == SR and clip.waveform.dtype == np.float32 and clip.waveform.ndim == 1
    assert clip.audio_start == 0.0
    aac_frame = 1024 * SR / source_rate  # one AAC frame, in output samples
    assert abs(clip.waveform.size - 2.0 * SR) <= aac_frame
    assert abs(clip.duration - 2.0) <= 1 / FPS
    f = dominant_frequency(clip.waveform, SR)
    assert abs(f - 440.0) <= 0.01 * 440.0, f
    assert np.abs(clip.waveform).max() <= 1.0
    assert "24 frames 64x64" in repr(clip) and len(repr(clip)) < 200  # no arrays printed


def test_colours_survive_h264(clip_path):
    clip = read_clip(clip_path)
    written = colour_bars().astype(np.int16)
    err = np.abs(clip.frames.astype(np.int16) - written)
    assert err.mean() < 3.0, err.mean()  # crf 18 on flat bars: nearly lossless
    # the middle of each bar (away from chroma-subsampled edges) keeps its colour
    for i in (0, T // 2, T - 1):
        for k in range(4):
            x = (2 * i + 16 * k + 8) % W
            np.testing.assert_allclose(clip.frames[i, H // 2, x], COLOURS[k], atol=12)


def test_a_click_maps_to_the_frame_that_turns_white(tmp_path):
    white_from = 9  # frame 9 is shown from 0.75 s to 0.833 s
    frames = np.zeros((T, H, W, 3), np.uint8)
    frames[white_from:] = 255
    sr = 44_100
    audio = np.zeros(2 * sr, np.float32)
    at = int((white_from / FPS + 0.04) * sr)  # 40 ms after the frame appears
    burst = np.hanning(int(0.004 * sr)) * np.sin(2 * np.pi * 3000 * np.arange(int(0.004 * sr)) / sr)
    audio[at - len(burst) // 2 : at - len(burst) // 2 + len(burst)] = 0.8 * burst
    clip = read_clip(write_clip(tmp_path / "click.mp4", frames, FPS, audio, sr))
    first_white = int(np.argmax(clip.frames.mean(axis=(1, 2, 3)) > 128))
    assert first_white == white_from
    click_t = np.argmax(np.abs(clip.waveform)) / clip.sample_rate
    assert abs(click_t - at / sr) < 0.005  # AAC + resampling keep the click in place
    assert abs(int(clip.audio_frame_index(click_t)) - white_from) <= 1
    # vectorised, and clipped at both ends
    idx = clip.audio_frame_index(np.array([-1.0, 0.0, 0.05, 1.0, 99.0]))
    assert idx.tolist() == [0, 0, 0, 12, T - 1]


def test_max_seconds_keeps_the_start_only(clip_path):
    clip = read_clip(clip_path, max_seconds=1.0)
    assert clip.frames.shape[0] == FPS and clip.frame_times[-1] < 1.0
    assert abs(clip.waveform.size - SR) <= 1


def test_read_audio_reads_any_container_and_averages_channels(tmp_path, clip_path):
    from scipy.io import wavfile

    x, sr = read_audio(clip_path)
    assert sr == SR
    np.testing.assert_array_equal(x, read_clip(clip_path).waveform)  # the same decoding path
    native, rate = read_audio(clip_path, sample_rate=None)
    assert rate == 44_100 and abs(native.size - 2 * 44_100) <= 1024
    stereo = np.stack([np.full(4410, 0.5, np.float32), np.full(4410, -0.25, np.float32)], axis=1)
    wavfile.write(tmp_path / "st.wav", 44_100, stereo)
    mono, rate = read_audio(tmp_path / "st.wav", sample_rate=None)
    assert rate == 44_100
    np.testing.assert_allclose(mono, 0.125)  # the mean, not FFmpeg's (L + R) / sqrt(2)


# ------------------------------------------------------------------------------------------------ bad media
def _match(path) -> str:
    return re.escape(str(path))


def test_truncated_mp4_is_an_error_not_a_short_clip(tmp_path, clip_path):
    data = clip_path.read_bytes()
    for frac in (0.6, 0.9):  # index (moov) first: the frames it lists are missing
        cut = tmp_path / f"cut{int(frac * 100)}.mp4"
        cut.write_bytes(data[: int(frac * len(data))])
        with pytest.raises(MediaError, match=_match(cut) + ".*(truncated|corrupt)"):
            read_clip(cut)
    head = tmp_path / "head.mp4"  # cut inside the header
    head.write_bytes(data[:200])
    with pytest.raises(MediaError, match=_match(head)):
        read_clip(head)


def test_truncated_mkv_is_caught_by_its_declared_duration(tmp_path):
    path = write_clip(tmp_path / "a.mkv", colour_bars(), FPS, tone(440.0, SR), SR)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(0.6 * len(data))])
    with pytest.raises(MediaError, match=_match(cut) + ".*truncated.*container declares"):
        read_clip(cut)


def test_files_that_are_not_media(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        read_clip(tmp_path / "nope.mp4")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.txt"  # FFmpeg's 'tty' demuxer "opens" any text
    notes.write_text("this is not a video\n" * 100)
    for path in (noise, empty, notes):
        with pytest.raises(MediaError, match=_match(path) + ": not a media file"):
            read_clip(path)
        with pytest.raises(MediaError, match=_match(path)):
            read_audio(path)


def test_a_clip_without_audio(tmp_path):
    path = write_clip(tmp_path / "silent_film.mp4", colour_bars(), FPS)  # waveform=None: no audio stream
    with av.open(str(path)) as c:
        assert [s.type for s in c.streams] == ["video"]
    with pytest.raises(MediaError, match=_match(path) + ": has no audio stream"):
        read_clip(path)
    with pytest.raises(MediaError, match=_match(path) + ": has no audio stream"):
        read_audio(path)


def test_a_zero_frame_clip(tmp_path):
    # crafted with PyAV: a Matroska file declaring a video track that holds no frame, with 1 s of audio
    path = tmp_path / "zero_frames.mkv"
    x = tone(440.0, SR, 1.0)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        aus = out.add_stream("aac", rate=SR)
        aus.layout = "mono"
        for i in range(0, x.size, 1024):
            frame = av.AudioFrame.from_ndarray(x[None, i : i + 1024], format="flt", layout="mono")
            frame.sample_rate, frame.pts = SR, i
            out.mux(aus.encode(frame))
        out.mux(aus.encode(None))
        out.mux(vs.encode(None))
    with pytest.raises(MediaError, match=_match(path) + ": no decodable video frame"):
        read_clip(path)
    # and write_clip refuses to make one
    with pytest.raises(MediaError, match=r"no frames to write \(T = 0\)"):
        write_clip(tmp_path / "none.mp4", np.zeros((0, H, W, 3), np.uint8), FPS)
    assert not (tmp_path / "none.mp4").exists()


# -------------------------------------------------------------------------------------------------- writing
def test_bad_inputs_are_refused_before_anything_is_written(tmp_path):
    frames = colour_bars()
    cases = [
        ({"frames": frames[:, :63]}, "even width and height, got 64x63"),
        ({"waveform": np.full(SR, np.nan, np.float32)}, "16000 NaN/inf"),
        ({"waveform": np.full(SR, 1.5, np.float32)}, r"peak \|x\| = 1.5 > 1"),
        ({"fps": 0}, "fps must be a positive number"),
        ({"waveform": tone(440.0, SR), "audio_codec": "pcm_s16le"}, "MP4 cannot hold pcm_s16le"),
    ]
    for kwargs, message in cases:
        args = {"frames": frames, "fps": FPS} | kwargs
        path = tmp_path / "bad.mp4"
        with pytest.raises(MediaError, match=_match(path) + ".*" + f"({message})"):
            write_clip(path, args.pop("frames"), args.pop("fps"), **args)
        assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind


def test_pcm_audio_in_mov_and_mkv_round_trips_exactly_enough(tmp_path):
    x = tone(440.0, SR)
    for suffix in (".mov", ".mkv"):
        clip = read_clip(write_clip(tmp_path / f"pcm{suffix}", colour_bars(), FPS, x, SR, audio_codec="pcm_s16le"))
        assert clip.waveform.size == x.size
        np.testing.assert_allclose(clip.waveform, x, atol=1 / 32768 + 1e-6)  # 16-bit quantisation only


def test_a_write_that_fails_midway_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "clip.mp4"
    good = write_clip(target, colour_bars(), FPS, tone(440.0, SR), SR).read_bytes()
    real = av.VideoFrame

    class FailingVideoFrame:  # the 6th frame cannot be converted: an error while the file is half written
        calls = 0

        @staticmethod
        def from_ndarray(array, format):
            FailingVideoFrame.calls += 1
            if FailingVideoFrame.calls > 5:
                raise RuntimeError("simulated failure while encoding")
            return real.from_ndarray(array, format=format)

    monkeypatch.setattr(av, "VideoFrame", FailingVideoFrame)
    for path in (target, tmp_path / "new.mp4"):
        FailingVideoFrame.calls = 0
        with pytest.raises(RuntimeError, match="simulated failure"):
            write_clip(path, colour_bars(), FPS, tone(440.0, SR), SR)
    assert target.read_bytes() == good  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no new file, no temporary
