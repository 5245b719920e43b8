"""Audio-video files in and out with PyAV (FFmpeg): a real ``.mp4`` → frames, waveform and timestamps.

A CMU-MOSI / MOSEI utterance starts as a segment of a YouTube video: an ``.mp4`` (H.264 video + AAC
audio), sometimes a ``.wav`` / ``.flac`` / ``.m4a`` of its audio track. This module is the first step
of notebook 06: demux both streams, decode them, keep every video frame's presentation time, and
resample the audio to the 16 kHz that speech encoders and openSMILE expect.

* :func:`read_clip` → :class:`Clip`: frames ``[T, H, W, 3]`` uint8 RGB, ``frame_times [T]``, the mono
  waveform ``[S]`` at ``sample_rate`` and ``audio_start``, so that audio frames (10 ms openSMILE frames,
  20 ms WavLM frames, word boundaries) can be mapped to the video frame on screen
  (:meth:`Clip.audio_frame_index`).
* :func:`read_audio` — only the audio track of any container (wav, flac, mp4, m4a, mkv ...), by the same
  code path (:func:`~msa_lib.features.audio.load_waveform` reads through it).
* :func:`write_clip` — H.264 (yuv420p) + AAC ``.mp4`` (or PCM in ``.mov`` / ``.mkv``), written atomically;
  the book and the tests use it to make small real clips on the spot.

Why PyAV. One library reads every container the field's data comes in (mp4, mkv/webm, m4a, wav,
flac), through FFmpeg's own demuxers and decoders, with each decoded frame's ``pts × time_base``, and
resamples with FFmpeg's ``libswresample`` (``av.AudioResampler``), which is delay-compensated (an
impulse at 0.5 s stays at 0.5 s) and streaming (the result does not depend on how the audio is cut into
frames). The alternatives each miss something here: ``soundfile`` (libsndfile) reads audio files only,
not video containers; ``torchaudio``'s I/O is versioned with torch and its PyPI wheels do not match the
torch 2.13 of this environment (and its FFmpeg back end moved to TorchCodec); ``librosa`` resamples well
(soxr) but reads video containers only through the deprecated ``audioread`` fallback, without frame
times; calling the ``ffmpeg`` program needs a binary on the PATH and gives no per-frame timestamps
without parsing its text output.

Timing. All times are seconds relative to the video stream's ``start_time`` (the clip's origin): the
first frame is at ``frame_times[0]`` (normally 0) and the waveform's first sample at ``audio_start``
(0 for a file written by :func:`write_clip`; non-zero when a container shifts its audio, e.g. with an
edit list). AAC decoders return the encoder's padding at the end of the last 1024-sample frame; the
waveform is cut to the audio stream's declared duration (the samples that were encoded), so a 2 s
track reads back as 2 s, not 2.02 s.

Errors. Every problem is a :class:`MediaError` (a ``ValueError``) whose message names the file: not a
media file, corrupt, truncated (FFmpeg's decode error, or fewer frames / seconds decoded than the
container declares), no video or no audio stream, no decodable frame. A missing file is a
``FileNotFoundError``. A truncated file never comes back as a silently short clip: ``read_clip`` compares
what it decoded with what the container declares (video: the frame count when the container states it,
else the duration; audio: the duration), allowing 2 frames / 2 % (edit lists and decoder delay may drop a
frame or two of a valid file) and 0.1 s / 2 % of audio (codec framing).

Memory: frames take ``T × H × W × 3`` bytes (a minute of 720p at 30 fps is 5 GB): read long videos with
``max_seconds`` or cut them into utterances first, as MOSEI's segment files are.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


class MediaError(ValueError):
    """A media file that cannot give a correct clip (not media, corrupt, truncated, a stream missing, ...)."""


class _UnreadableMedia(MediaError):
    """The file is not something FFmpeg can open (not media, corrupt or missing header); ``reason`` says why."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


#: FFmpeg formats that "open" a file without it being media (the ``tty`` demuxer shows any text as ANSI art).
_NOT_MEDIA_FORMATS = {"tty"}
#: File suffix → FFmpeg muxer, for :func:`write_clip` (its temporary file's name does not end in the suffix).
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
#: Slack of the truncation checks (module docstring).
_VIDEO_SLACK_FRAMES, _AUDIO_SLACK_SECONDS, _SLACK_FRACTION = 2, 0.1, 0.02


def _av():
    try:
        import av
    except ImportError as e:  # pragma: no cover - av is installed with the features extra
        raise ImportError("msa_lib.features.container needs PyAV: pip install av") from e
    return av


def _reason(e: Exception) -> str:
    """``"InvalidDataError: Invalid data found when processing input"`` (without errno and file name)."""
    return f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}"


# --------------------------------------------------------------------------------------------- the clip
@dataclass(repr=False)
class Clip:
    """A decoded audio-video file (:func:`read_clip`). Times in seconds from the video stream's start.

    Attributes:
        path: the file read.
        frames: ``[T, H, W, 3]`` uint8 RGB.
        frame_times: ``[T]`` float64, each frame's presentation time (``pts × time_base``), increasing.
        fps: the stream's average frame rate.
        waveform: ``[S]`` float32 mono in [-1, 1] at ``sample_rate`` (channels averaged; a lossy codec
            may overshoot a loud signal slightly, e.g. AAC ringing after an abrupt cut).
        sample_rate: Hz of ``waveform``.
        audio_start: presentation time of ``waveform[0]`` (on the ``frame_times`` axis).
        duration: seconds from 0 to the end of the later stream (last frame + 1/fps, or the last sample).
    """

    path: Path
    frames: np.ndarray
    frame_times: np.ndarray
    fps: float
    waveform: np.ndarray
    sample_rate: int
    audio_start: float
    duration: float

    def audio_frame_index(self, t) -> np.ndarray:
        """Index of the video frame on screen at waveform time ``t`` (seconds from ``waveform[0]``, e.g.
        ``sample / sample_rate``, openSMILE's frame times, or a word's start): ``[...]`` int64.

        A frame is on screen from its ``frame_times`` entry until the next one's; times before the first
        frame map to 0, times after the last to ``T − 1``.
        """
        clip_t = np.asarray(t, dtype=np.float64) + self.audio_start
        idx = np.searchsorted(self.frame_times, clip_t, side="right") - 1
        return np.clip(idx, 0, len(self.frame_times) - 1).astype(np.int64)

    def __repr__(self) -> str:
        t, h, w = self.frames.shape[:3]
        return (f"Clip({self.path.name!r}: {t} frames {w}x{h} at {self.fps:.3g} fps, "
                f"{self.waveform.size} samples at {self.sample_rate} Hz from {self.audio_start:+.3f} s, "
                f"{self.duration:.3f} s)")


# ----------------------------------------------------------------------------------------------- reading
def _open(path: Path):
    """An input container, or FileNotFoundError / _UnreadableMedia naming the file."""
    av = _av()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise _UnreadableMedia(f"{path}: not a media file (0 bytes)", "0 bytes")
    try:
        container = av.open(str(path), "r")
    except av.error.FFmpegError as e:
        raise _UnreadableMedia(f"{path}: not a media file FFmpeg can read, or its header is corrupt "
                               f"or missing ({_reason(e)})", _reason(e)) from None
    if container.format.name in _NOT_MEDIA_FORMATS:
        container.close()
        reason = f"FFmpeg's probe matched only its '{container.format.name}' text demuxer"
        raise _UnreadableMedia(f"{path}: not a media file ({reason})", reason)
    return container


def _seconds(value, time_base) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


def _stream_kinds(container) -> str:
    return ", ".join(s.type for s in container.streams) or "none"


def _resampler_tail(av, resampler, last, native_rate: int, rate: int) -> list[np.ndarray]:
    """Zeros after the last decoded frame ``last``, then the resampler's flush: ``[C, n]`` chunks.

    ``libswresample``'s flush alone drops the last filter length of output (a 64-sample input at
    44.1 kHz gives 19 samples at 16 kHz instead of 23); feeding zeros first (what the flush pads with
    anyway) brings them out, and the caller trims to ``ceil(N × rate / native_rate)``.
    """
    pad = 64 * max(1, math.ceil(native_rate / rate))  # ≥ twice the filter's reach, in input samples
    zeros = av.AudioFrame(format=last.format.name, layout=last.layout.name, samples=pad)
    for plane in zeros.planes:
        plane.update(bytes(plane.buffer_size))
    zeros.sample_rate = native_rate
    if last.pts is not None and last.time_base is not None:  # right after the last frame
        zeros.time_base = last.time_base
        zeros.pts = last.pts + round(Fraction(last.samples, native_rate) / last.time_base)
    chunks = [f.to_ndarray() for f in resampler.resample(zeros)]
    return chunks + [f.to_ndarray() for f in resampler.resample(None)]


def _decode(path: Path, *, video: bool, audio: bool, sample_rate: int | None,
            max_seconds: float | None = None) -> dict:
    """Decode the first video and/or audio stream of ``path``.

    Returns a dict with ``frames`` / ``frame_times`` / ``fps`` (video) and ``audio`` ``[S, C]`` float32
    at ``sample_rate`` (the file's rate when None) / ``audio_start`` / ``native_rate`` (audio).
    """
    av = _av()
    out: dict = {}
    with _open(path) as container:
        vs = container.streams.video[0] if container.streams.video else None
        aus = container.streams.audio[0] if container.streams.audio else None
        if video and vs is None:
            raise MediaError(f"{path}: has no video stream (streams: {_stream_kinds(container)})")
        if audio and aus is None:
            raise MediaError(f"{path}: has no audio stream (streams: {_stream_kinds(container)})")
        streams = ([vs] if video else []) + ([aus] if audio else [])
        if video:
            vs.thread_type = "AUTO"  # frame + slice threads: the decoder's own parallelism
            origin = _seconds(vs.start_time, vs.time_base)
        else:
            origin = _seconds(aus.start_time, aus.time_base)
        origin = origin or 0.0
        limit = math.inf if max_seconds is None else float(max_seconds)
        frames, times, chunks, ends = [], [], [], []
        audio_start, audio_native, last_audio = None, 0, None
        resampler = av.AudioResampler(format="fltp", rate=sample_rate) if audio else None
        video_done, audio_done, stopped = not video, not audio, False
        current = "header"
        try:
            for packet in container.demux(*streams):
                current = packet.stream.type
                for frame in packet.decode():
                    if current == "video" and not video_done:
                        t = frame.time
                        t = (len(times) / float(vs.average_rate or 1)) if t is None else t - origin
                        if t >= limit:
                            video_done = stopped = True
                            continue
                        frames.append(frame.to_ndarray(format="rgb24"))
                        times.append(t)
                    elif current == "audio" and not audio_done:
                        if audio_start is None:
                            audio_start = (frame.time - origin) if frame.time is not None else 0.0
                        if audio_start + audio_native / frame.sample_rate >= limit:
                            audio_done = stopped = True
                            continue
                        audio_native += frame.samples
                        last_audio = frame
                        chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
                if video_done and audio_done:
                    break
            if audio and last_audio is not None and sample_rate not in (None, last_audio.sample_rate):
                chunks.extend(_resampler_tail(av, resampler, last_audio, last_audio.sample_rate, sample_rate))
            elif audio:
                chunks.extend(f.to_ndarray() for f in resampler.resample(None))  # flush
        except av.error.FFmpegError as e:
            raise MediaError(
                f"{path}: corrupt or truncated: decoding its {current} stream failed after {len(frames)} video "
                f"frames and {audio_native} audio samples ({_reason(e)})"
            ) from None

        if video:
            if not frames:
                raise MediaError(f"{path}: no decodable video frame (a 0-second or empty video stream)")
            fps = float(vs.average_rate) if vs.average_rate else (
                1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 0.0)
            declared = vs.frames
            if not stopped and declared > 0 and len(frames) < declared - max(
                    _VIDEO_SLACK_FRAMES, math.ceil(_SLACK_FRACTION * declared)):
                raise MediaError(f"{path}: truncated or corrupt: decoded {len(frames)} of the {declared} video "
                                 "frames its container declares")
            want = _seconds(vs.duration, vs.time_base)
            got = times[-1] + (1.0 / fps if fps else 0.0)
            if not stopped and declared <= 0 and want and got < want - max(
                    _VIDEO_SLACK_FRAMES / (fps or 1.0), _SLACK_FRACTION * want):
                raise MediaError(f"{path}: truncated or corrupt: decoded {got:.3f} s of video but its "
                                 f"container declares {want:.3f} s")
            ends.append(got)
            out.update(frames=np.stack(frames), frame_times=np.asarray(times, dtype=np.float64), fps=fps)

        if audio:
            rate = sample_rate or aus.rate
            data = (np.concatenate(chunks, axis=1) if chunks else np.zeros((max(aus.channels, 1), 0), np.float32))
            if last_audio is not None and rate != last_audio.sample_rate:  # the zeros after the tail
                data = data[:, : math.ceil(audio_native * rate / last_audio.sample_rate)]
            data = np.ascontiguousarray(data.T, dtype=np.float32)  # [S, C]
            audio_start = 0.0 if audio_start is None else float(audio_start)
            want = _seconds(aus.duration, aus.time_base)
            if want is not None and want > 0:
                got = audio_native / aus.rate if aus.rate else 0.0
                if not stopped and got < want - max(_AUDIO_SLACK_SECONDS, _SLACK_FRACTION * want):
                    raise MediaError(f"{path}: truncated or corrupt: decoded {got:.3f} s of audio but its "
                                     f"container declares {want:.3f} s")
                start = _seconds(aus.start_time, aus.time_base)
                end = (start - origin if start is not None else audio_start) + want
                keep = math.ceil((end - audio_start) * rate - 1e-6)  # samples that start before the end
                if 0 <= keep < data.shape[0]:
                    data = data[:keep]  # the codec's padding after the declared end (module docstring)
            if max_seconds is not None:
                data = data[: max(0, math.ceil((limit - audio_start) * rate - 1e-6))]
            ends.append(audio_start + data.shape[0] / rate)
            out.update(audio=data, audio_start=audio_start, native_rate=int(aus.rate), sample_rate=int(rate))
        # streams without a declared length (Matroska / WebM): the container's duration is the end of the
        # longest stream; checked only when every stream of the file was decoded
        want = container.duration / 1_000_000 if container.duration else None  # AV_TIME_BASE units
        got = max(ends, default=0.0)
        if (not stopped and want and len(container.streams) == len(streams)
                and got < want - max(_AUDIO_SLACK_SECONDS, _SLACK_FRACTION * want)):
            raise MediaError(f"{path}: truncated or corrupt: decoded {got:.3f} s but its container declares "
                             f"{want:.3f} s")
    return out


def read_clip(path, sample_rate: int = 16_000, *, max_seconds: float | None = None) -> Clip:
    """Decode a video file's first video and audio streams (module docstring).

    Frames are converted to RGB with FFmpeg's ``swscale`` (``frame.to_ndarray(format="rgb24")``); the
    audio is resampled to ``sample_rate`` with ``libswresample`` (flushed at the end) and its channels are
    averaged (``np.mean``, not FFmpeg's downmix, which sums stereo at −3 dB, ``(L + R)/√2``, and can leave
    [-1, 1]).

    Args:
        path: any container FFmpeg reads (mp4, mkv, webm, mov, avi, ...).
        sample_rate: Hz of ``Clip.waveform``.
        max_seconds: stop after this many seconds (frames and samples before it are kept); the
            truncation checks then apply only when the file ended first.

    Raises:
        FileNotFoundError: no such file.
        MediaError: not media / corrupt / truncated, no video stream, no audio stream, no decodable
            frame or sample (the message names the file).
    """
    path = Path(path).expanduser()
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"read_clip: sample_rate must be a positive int, got {sample_rate!r}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"read_clip: max_seconds must be positive or None, got {max_seconds!r}")
    d = _decode(path, video=True, audio=True, sample_rate=int(sample_rate), max_seconds=max_seconds)
    wave = d["audio"].mean(axis=1) if d["audio"].shape[1] > 1 else d["audio"][:, 0]
    if wave.size == 0:
        raise MediaError(f"{path}: its audio stream has no decodable sample")
    video_end = float(d["frame_times"][-1]) + (1.0 / d["fps"] if d["fps"] else 0.0)
    audio_end = d["audio_start"] + wave.size / sample_rate
    return Clip(path=path, frames=d["frames"], frame_times=d["frame_times"], fps=float(d["fps"]),
                waveform=np.ascontiguousarray(wave, dtype=np.float32), sample_rate=int(sample_rate),
                audio_start=float(d["audio_start"]), duration=max(video_end, audio_end))


def _read_audio_channels(path: Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """``([S, C] float32, rate)``: every channel of the first audio stream, at the file's rate when
    ``sample_rate`` is None. May be empty (``S = 0``): the caller decides (``load_waveform`` reports it)."""
    d = _decode(path, video=False, audio=True, sample_rate=sample_rate)
    return d["audio"], d["sample_rate"]


def read_audio(path, sample_rate: int | None = 16_000) -> tuple[np.ndarray, int]:
    """The first audio stream of any container (wav, flac, mp3, m4a, mp4, mkv, ...) as a mono float32
    waveform ``[S]`` at ``sample_rate`` (``None``: the file's own rate): ``(waveform, sample_rate)``.

    The same decoding, resampling and channel averaging as :func:`read_clip`; no video is decoded.

    Raises:
        FileNotFoundError: no such file.
        MediaError: not media / corrupt / truncated, no audio stream, or no decodable sample.
    """
    path = Path(path).expanduser()
    if sample_rate is not None and (not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0):
        raise ValueError(f"read_audio: sample_rate must be a positive int or None, got {sample_rate!r}")
    data, rate = _read_audio_channels(path, None if sample_rate is None else int(sample_rate))
    if data.shape[0] == 0:
        raise MediaError(f"{path}: its audio stream has no decodable sample")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return np.ascontiguousarray(wave, dtype=np.float32), int(rate)


# ----------------------------------------------------------------------------------------------- writing
def _frames_to_write(frames, path: Path) -> np.ndarray:
    x = np.asarray(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise MediaError(f"{path}: frames must be [T, H, W, 3] RGB, got shape {x.shape}")
    if x.shape[0] == 0:
        raise MediaError(f"{path}: no frames to write (T = 0)")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating):
            raise MediaError(f"{path}: frames must be uint8 (0-255) or float in [0, 1], got dtype {x.dtype}")
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise MediaError(f"{path}: float frames must be finite and lie in [0, 1]")
        x = np.round(x * 255.0).astype(np.uint8)
    h, w = x.shape[1:3]
    if h % 2 or w % 2:
        raise MediaError(
            f"{path}: yuv420p (H.264's usual pixel format) needs an even width and height, got {w}x{h}; "
            "crop or pad the frames first, e.g. np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), 'edge')"
        )
    return np.ascontiguousarray(x)


def _wave_to_write(waveform, path: Path) -> np.ndarray:
    x = np.asarray(waveform)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
        raise MediaError(f"{path}: the waveform must be a mono float array [samples], got {x.dtype} {x.shape}")
    if x.size == 0:
        raise MediaError(f"{path}: the waveform is empty; pass waveform=None for a clip without audio")
    if not np.isfinite(x).all():
        raise MediaError(f"{path}: the waveform holds {int((~np.isfinite(x)).sum())} NaN/inf samples")
    peak = float(np.abs(x).max())
    if peak > 1.0:
        raise MediaError(f"{path}: the waveform's peak |x| = {peak:.3g} > 1 would clip; scale it into [-1, 1]")
    return np.ascontiguousarray(x, dtype=np.float32)


def write_clip(path, frames, fps, waveform=None, sample_rate: int = 16_000, *, video_codec: str = "libx264",
               audio_codec: str = "aac", crf: int = 18) -> Path:
    """Write frames (and a mono waveform) as a video file; returns the path.

    Video: ``video_codec`` (H.264 by default, ``crf`` 18 ≈ visually lossless) in yuv420p, at ``fps``
    (a float or a ``Fraction``, e.g. ``Fraction(30000, 1001)``); frame i has pts i / fps. Audio: AAC
    (or ``"pcm_s16le"``, which needs a ``.mov`` / ``.mkv``) at ``sample_rate``, interleaved with the
    video in time order. ``waveform=None`` writes a file with no audio stream. MP4 / MOV get
    ``movflags=+faststart`` (the index before the data, as web video has).

    The file is written to a hidden temporary file in the same folder and moved over ``path`` with
    ``os.replace`` only when complete, so an error (or a crash) midway never leaves a half-written file
    under ``path`` (an existing file there stays as it was).

    Args:
        frames: ``[T, H, W, 3]`` uint8 RGB (or float in [0, 1]), T ≥ 1, H and W even (yuv420p halves the
            chroma resolution; odd sizes are an error, not silently padded).
        waveform: ``[S]`` float in [-1, 1] (outside would clip: an error), or None.

    Raises:
        MediaError: bad frames / waveform / rate / codec / container (the message names the file).
    """
    av = _av()
    path = Path(path).expanduser()
    x = _frames_to_write(frames, path)
    try:
        rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
    except (TypeError, ValueError):
        rate = None
    if rate is None or rate <= 0:
        raise MediaError(f"{path}: fps must be a positive number, got {fps!r}")
    wave = None if waveform is None else _wave_to_write(waveform, path)
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise MediaError(f"{path}: sample_rate must be a positive int, got {sample_rate!r}")
    suffix = path.suffix.lower()
    fmt = _MUXERS.get(suffix)
    if fmt is None:
        raise MediaError(f"{path}: unknown video container suffix {suffix!r} (use one of {sorted(_MUXERS)})")
    if wave is not None and audio_codec.startswith("pcm_") and fmt == "mp4":
        raise MediaError(f"{path}: MP4 cannot hold {audio_codec} audio; use a .mov or .mkv file, or AAC")
    options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            with av.open(str(tmp), "w", format=fmt, options=options) as out:
                vs = out.add_stream(video_codec, rate=rate)
                vs.width, vs.height, vs.pix_fmt = x.shape[2], x.shape[1], "yuv420p"
                if video_codec in ("libx264", "libx265"):
                    vs.options = {"crf": str(int(crf))}
                vs.codec_context.time_base = Fraction(1, 1) / rate
                aus = None
                if wave is not None:
                    aus = out.add_stream(audio_codec, rate=int(sample_rate))
                    aus.layout = "mono"
                chunk, a_pos = 1024, 0

                def push_audio(until: float):  # audio up to `until` seconds, in 1024-sample frames
                    nonlocal a_pos
                    while aus is not None and a_pos < wave.size and a_pos / sample_rate < until:
                        af = av.AudioFrame.from_ndarray(wave[None, a_pos : a_pos + chunk], format="flt",
                                                        layout="mono")
                        af.sample_rate, af.pts, af.time_base = int(sample_rate), a_pos, Fraction(1, int(sample_rate))
                        out.mux(aus.encode(af))
                        a_pos += chunk

                for i in range(x.shape[0]):
                    push_audio(float(i / rate))
                    vf = av.VideoFrame.from_ndarray(x[i], format="rgb24")
                    vf.pts = i
                    out.mux(vs.encode(vf))
                push_audio(math.inf)
                out.mux(vs.encode(None))
                if aus is not None:
                    out.mux(aus.encode(None))
        except av.error.FFmpegError as e:
            raise MediaError(f"{path}: writing failed ({_reason(e)}; video codec {video_codec!r}, audio codec "
                             f"{audio_codec!r}, container {fmt!r})") from None
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
