r"""Text simulated from audio: speech encoder → frame-stacking projector → causal language model.

SDUMC replaces a missing transcript by "simulated text": the hidden states of Vicuna-7B when it is fed
the *speech* of the utterance instead of its words (reference/sdumc.md §1.1, the ``llm4wav`` path).
The pipeline, with SDUMC's sizes:

==  =================================================================  ===========================
1   speech encoder (WavLM-large, last layer), frozen                    ``[T_a, 1024]`` at 50 Hz
2   :class:`FrameStackProjector`: drop the ``T_a mod k`` tail frames,   ``[T_a // 5, 5120]`` → 10 Hz
    stack k = 5 neighbours, ``Linear(5k·D_a → H) → ReLU → Linear(H →    ``[T_a // 5, 4096]``
    D_lm)``
3   the causal LM reads these vectors through ``inputs_embeds`` (they   ``[T', 4096]``
    stand where word embeddings would), frozen
4   the simulated-text feature = the LM's hidden states, the last 4     ``[T', 4096]``
    entries of ``hidden_states`` summed
==  =================================================================  ===========================

The *real* text lives in the same space: :meth:`SpeechToTextSimulator.encode_text` feeds the transcript's
tokens to the same LM (teacher forcing) and takes the same layers, as SDUMC's
``vicuna-7b-v1.5-FRA-...-gt`` features do. So ``text`` and ``text_sim`` share one feature dim, which
:class:`msa_lib.models.UMCANet` requires (simulated text shares the text projection).

**Two read-outs** (``SimulatedTextConfig.mode``):

* ``"prefill"`` (default): one forward pass over the projected speech; row j of the feature is the
  LM's state at speech position j (``T' = T_a // k``). Deterministic, cheap, and differentiable with
  respect to the projector, so :func:`train_projector` can train it. SDUMC puts a prompt *after* the
  speech; under causal attention a later prompt cannot change the speech positions' states, so this
  mode does not feed it.
* ``"generate"``: SDUMC's read-out, cleaned up. The LM greedily generates up to
  ``max_new_tokens`` tokens after ``[speech; prompt]`` (SDUMC: beam search, 4 beams), then one
  teacher-forced pass over ``[speech; prompt; generated]`` returns the states *at the generated
  tokens' positions* (``T' = number of generated tokens``, trailing end-of-sequence tokens dropped).
  This fixes two quirks of the official extractor: it skipped the first step (losing one token) and
  read beam 0 / position 0 at each step, which need not follow the selected beam.

**Quality depends entirely on the checkpoints.** With SDUMC's set-up (WavLM-large, a projector
pre-trained for LibriSpeech ASR by SLAM-LLM, Vicuna-7B) the generated text is a transcription and its
states resemble the real text's. With the small random models used offline here — and with an
untrained projector even on real checkpoints — the "simulated text" is a deterministic function of the
audio and nothing more: the pipeline runs and has the right shapes, but carries no more sentiment than
the audio features themselves. :func:`train_projector` aligns the projector's output with the real
text's states (a time-pooled MSE or cosine loss); it is a small stand-in for ASR pre-training, not a
replacement for it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .audio import SpeechEncoder, SpeechEncoderConfig, _pick_device, select_layers
from .text import check_transcript, default_text_checkpoint

#: SDUMC's prompt (reference/sdumc.md §1.1 step 3), used after the speech in ``"generate"`` mode.
SDUMC_PROMPT = (
    "USER: Transcribe speech to text. Output the transcription directly without redundant content. "
    "Ensure that the output is not duplicated. \n ASSISTANT:"
)


class FrameStackProjector(nn.Module):
    r"""SDUMC's ``EncoderProjectorConcat``: stack k frames, then a two-layer MLP.

    ``x [B, T, D_a] → drop the last T mod k frames → [B, T // k, k·D_a] → Linear → ReLU → Linear →
    [B, T // k, D_lm]``. A stacked position is valid (mask True) when all its k frames are, i.e. for
    ``j < len // k``.
    """

    def __init__(self, in_dim: int, out_dim: int, k: int = 5, hidden_dim: int | None = None):
        super().__init__()
        if k < 1:
            raise ValueError(f"FrameStackProjector: k must be >= 1, got {k}")
        self.k = int(k)
        hidden_dim = hidden_dim or max(1, out_dim // 2)
        self.linear1 = nn.Linear(self.k * in_dim, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None):
        """``frames [B, T, D_a]``, ``mask [B, T]`` bool → ``(tokens [B, T // k, D_lm], mask [B, T // k])``."""
        if frames.dim() != 3:
            raise ValueError(f"FrameStackProjector: expected [B, T, D], got shape {tuple(frames.shape)}")
        b, t, d = frames.shape
        n = t // self.k
        if n == 0:
            raise ValueError(
                f"FrameStackProjector: {t} frames is fewer than k={self.k}; the utterance is too short to simulate text"
            )
        stacked = frames[:, : n * self.k].reshape(b, n, self.k * d)
        tokens = self.linear2(F.relu(self.linear1(stacked)))
        if mask is None:
            out_mask = torch.ones(b, n, dtype=torch.bool, device=frames.device)
        else:
            lengths = mask.long().sum(1) // self.k
            out_mask = torch.arange(n, device=frames.device)[None, :] < lengths[:, None]
        return tokens, out_mask


@dataclass
class SimulatedTextConfig:
    """Settings of :class:`SpeechToTextSimulator`.

    Attributes:
        speech: the speech encoder (SDUMC: ``microsoft/wavlm-large``, last layer ``-1``).
        lm_checkpoint: a causal LM checkpoint (SDUMC: ``"lmsys/vicuna-7b-v1.5"``; smaller ones such as
            ``"Qwen/Qwen2.5-0.5B"`` fit a free Colab GPU); ``None`` builds a tiny random Llama from a
            config (``tiny_lm_*`` sizes) whose vocabulary is MiniLM's tokenizer
            (:func:`~msa_lib.features.text.default_text_checkpoint`).
        stack: k, frames stacked per LM position (SDUMC 5: 50 Hz → 10 Hz).
        projector_hidden: hidden width of the projector (SDUMC 2048); ``None`` = half the LM width.
        lm_layers: entries of the LM's ``hidden_states`` reduced with ``layer_reduce`` (SDUMC: the last
            4, summed: decoder layers 29-31 and the final norm of Vicuna-7B).
        layer_reduce: ``"sum"`` (SDUMC) or ``"mean"``.
        mode: ``"prefill"`` or ``"generate"`` (module docstring).
        prompt: text after the speech in ``"generate"`` mode.
        max_new_tokens: generation budget (SDUMC 200); at least one token is always generated.
        device, dtype: as in :class:`SpeechEncoderConfig` (``dtype`` applies to the LM; ``float16`` for
            a 7B model on a GPU). The projector stays float32.
        seed: seed of the random initialisation (tiny LM and the projector).
        tiny_lm_hidden, tiny_lm_layers, tiny_lm_heads: sizes of the config-built LM.
    """

    speech: SpeechEncoderConfig = field(default_factory=lambda: SpeechEncoderConfig(layer=-1))
    lm_checkpoint: str | None = None
    stack: int = 5
    projector_hidden: int | None = None
    lm_layers: tuple[int, ...] = (-4, -3, -2, -1)
    layer_reduce: str = "sum"
    mode: str = "prefill"
    prompt: str = SDUMC_PROMPT
    max_new_tokens: int = 200
    device: str | None = None
    dtype: torch.dtype | None = None
    seed: int = 0
    tiny_lm_hidden: int = 64
    tiny_lm_layers: int = 3
    tiny_lm_heads: int = 4

    def __post_init__(self):
        if self.mode not in ("prefill", "generate"):
            raise ValueError(f"SimulatedTextConfig.mode must be 'prefill' or 'generate', got {self.mode!r}")
        if self.layer_reduce not in ("mean", "sum"):
            raise ValueError(f"SimulatedTextConfig.layer_reduce must be 'mean' or 'sum', got {self.layer_reduce!r}")
        if self.stack < 1 or self.max_new_tokens < 1:
            raise ValueError("SimulatedTextConfig: stack and max_new_tokens must be >= 1")


def tiny_causal_lm(vocab_size: int, hidden_size: int = 64, num_layers: int = 3, num_heads: int = 4, seed: int = 0):
    """A small randomly initialised Llama (the architecture of Vicuna) from a ``transformers`` config."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_heads,
        max_position_embeddings=2048,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(cfg).eval()


class SpeechToTextSimulator(nn.Module):
    """Speech encoder → :class:`FrameStackProjector` → causal LM hidden states (module docstring).

    Only the projector has trainable parameters; the speech encoder and the LM are frozen.

    Methods:
        :meth:`speech_features` — the encoder's frames ``[T_a, D_a]`` per waveform;
        :meth:`forward` — differentiable prefill read-out from padded speech frames;
        :meth:`encode` / :meth:`encode_frames` — simulated-text features ``[T', D_lm]`` per utterance;
        :meth:`encode_text` — real-text features ``[T_tokens, D_lm]`` in the same space.
    """

    def __init__(self, config: SimulatedTextConfig | None = None, *, speech_encoder: SpeechEncoder | None = None,
                 lm=None, tokenizer=None):
        super().__init__()
        self.config = cfg = config or SimulatedTextConfig()
        self.device = _pick_device(cfg.device)
        if speech_encoder is None:
            speech_cfg = cfg.speech if cfg.speech.device is not None else _with_device(cfg.speech, cfg.device)
            speech_encoder = SpeechEncoder(speech_cfg)
        self.speech_encoder = speech_encoder
        if tokenizer is None:
            from transformers import AutoTokenizer

            source = cfg.lm_checkpoint or default_text_checkpoint()  # the tiny LM borrows MiniLM's vocabulary
            tokenizer = AutoTokenizer.from_pretrained(str(source))
        self.tokenizer = tokenizer
        if lm is None:
            if cfg.lm_checkpoint is None:
                lm = tiny_causal_lm(len(tokenizer), cfg.tiny_lm_hidden, cfg.tiny_lm_layers, cfg.tiny_lm_heads, cfg.seed)
            else:
                from transformers import AutoModelForCausalLM

                kwargs = {"dtype": cfg.dtype} if cfg.dtype is not None else {}
                lm = AutoModelForCausalLM.from_pretrained(cfg.lm_checkpoint, **kwargs)
        lm = lm.to(self.device).eval()
        if cfg.dtype is not None:
            lm = lm.to(cfg.dtype)
        for p in lm.parameters():
            p.requires_grad_(False)
        self.lm = lm
        self.dim = int(lm.config.hidden_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.projector = FrameStackProjector(
                speech_encoder.dim, self.dim, cfg.stack, cfg.projector_hidden
            ).to(self.device)

    @property
    def signature(self) -> str:
        """What made these features (the projector's weights are not part of it: use a new folder
        after retraining it)."""
        cfg = self.config
        lm = cfg.lm_checkpoint or f"tiny Llama (random, seed {cfg.seed})"
        return (f"{self.speech_encoder.signature} -> stack {cfg.stack} projector -> {lm} | "
                f"hidden_states{list(cfg.lm_layers)} {cfg.layer_reduce} | {cfg.mode}")

    # ------------------------------------------------------------------------------------ pieces
    def speech_features(self, waveforms: Sequence, names: Sequence[str] | None = None) -> list[np.ndarray]:
        """The (frozen) speech encoder's frames ``[T_a, D_a]`` per waveform."""
        return self.speech_encoder.encode(waveforms, names)

    def _embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm.get_input_embeddings()(ids.to(self.device))

    def _lm_states(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.lm(inputs_embeds=embeds, attention_mask=mask.long(), output_hidden_states=True, use_cache=False)
        return select_layers(out.hidden_states, self.config.lm_layers, self.config.layer_reduce)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None):
        """Prefill read-out, differentiable w.r.t. the projector.

        ``frames [B, T_a, D_a]`` (right-padded), ``mask [B, T_a]`` → ``(states [B, T_a // k, D_lm]
        float32, mask [B, T_a // k])``. Padded positions hold whatever the LM computes there; use the mask.
        """
        frames = frames.to(self.device, torch.float32)
        mask = None if mask is None else mask.to(self.device)
        tokens, tmask = self.projector(frames, mask)
        lm_dtype = next(self.lm.parameters()).dtype
        states = self._lm_states(tokens.to(lm_dtype), tmask)
        return states.float(), tmask

    # ------------------------------------------------------------------------------------ features
    @torch.no_grad()
    def encode_frames(self, speech: Sequence[np.ndarray], names: Sequence[str] | None = None,
                      batch_size: int = 8) -> list[np.ndarray]:
        """Simulated-text features ``[T', D_lm]`` from speech-encoder frames ``[T_a, D_a]``."""
        names = list(names) if names is not None else [f"utterance[{i}]" for i in range(len(speech))]
        for x, name in zip(speech, names):
            x = np.asarray(x)
            if x.ndim != 2 or x.shape[1] != self.speech_encoder.dim:
                raise ValueError(f"{name}: speech frames must be [T, {self.speech_encoder.dim}], got shape {x.shape}")
            if x.shape[0] < self.config.stack:
                raise ValueError(
                    f"{name}: {x.shape[0]} speech frames is fewer than stack={self.config.stack}; too short to simulate text"
                )
        if self.config.mode == "generate":
            return [self._generate_one(np.asarray(x, np.float32), name) for x, name in zip(speech, names)]
        out = []
        for start in range(0, len(speech), batch_size):
            chunk = [np.asarray(x, np.float32) for x in speech[start : start + batch_size]]
            frames, mask = _pad(chunk)
            states, tmask = self.forward(frames, mask)
            for i in range(len(chunk)):
                out.append(states[i, : int(tmask[i].sum())].cpu().numpy().astype(np.float32))
        return out

    def encode(self, waveforms: Sequence, names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Simulated-text features ``[T', D_lm]`` from waveforms (16 kHz mono)."""
        return self.encode_frames(self.speech_features(waveforms, names), names)

    def _generate_one(self, frames: np.ndarray, name: str) -> np.ndarray:
        cfg = self.config
        tokens, _ = self.projector(torch.from_numpy(frames)[None].to(self.device))
        lm_dtype = next(self.lm.parameters()).dtype
        prompt_ids = self.tokenizer(cfg.prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        prefix = torch.cat([tokens.to(lm_dtype), self._embed_tokens(prompt_ids).to(lm_dtype)], dim=1)
        eos = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else self.tokenizer.sep_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        gen = self.lm.generate(
            inputs_embeds=prefix, attention_mask=torch.ones(prefix.shape[:2], dtype=torch.long, device=self.device),
            max_new_tokens=cfg.max_new_tokens, min_new_tokens=1, do_sample=False, num_beams=1,
            eos_token_id=eos, pad_token_id=pad,
        )
        ids = gen[0, -cfg.max_new_tokens:] if gen.shape[1] > cfg.max_new_tokens else gen[0]
        ids = ids.tolist()
        while len(ids) > 1 and ids[-1] in (eos, pad):  # trailing end-of-sequence / padding
            ids.pop()
        if not ids:  # pragma: no cover - min_new_tokens=1 prevents it
            raise RuntimeError(f"{name}: the language model generated no token")
        gen_ids = torch.tensor([ids], device=self.device)
        full = torch.cat([prefix, self._embed_tokens(gen_ids).to(lm_dtype)], dim=1)
        states = self._lm_states(full, torch.ones(full.shape[:2], dtype=torch.bool, device=self.device))
        return states[0, prefix.shape[1]:].float().cpu().numpy().astype(np.float32)

    def generated_text(self, waveform, name: str = "waveform") -> str:
        """The text the LM generates for one waveform in ``"generate"`` mode (to eyeball quality)."""
        frames = self.speech_features([waveform], [name])[0]
        tokens, _ = self.projector(torch.from_numpy(frames)[None].to(self.device))
        lm_dtype = next(self.lm.parameters()).dtype
        prompt_ids = self.tokenizer(self.config.prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        prefix = torch.cat([tokens.to(lm_dtype), self._embed_tokens(prompt_ids).to(lm_dtype)], dim=1)
        with torch.no_grad():
            gen = self.lm.generate(
                inputs_embeds=prefix, attention_mask=torch.ones(prefix.shape[:2], dtype=torch.long, device=self.device),
                max_new_tokens=self.config.max_new_tokens, min_new_tokens=1, do_sample=False, num_beams=1,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return self.tokenizer.decode(gen[0], skip_special_tokens=True)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], names: Sequence[str] | None = None, batch_size: int = 16) -> list[np.ndarray]:
        """Real-text features ``[T_tokens, D_lm]``: the transcript's tokens (special tokens included,
        e.g. Vicuna's BOS) teacher-forced through the LM, the same layers as :meth:`encode`."""
        if isinstance(texts, str):
            raise TypeError("encode_text expects a list of transcripts, got one string")
        names = list(names) if names is not None else [f"transcript[{i}]" for i in range(len(texts))]
        all_ids = [
            self.tokenizer(check_transcript(t, n), add_special_tokens=True)["input_ids"] for t, n in zip(texts, names)
        ]
        lm_dtype = next(self.lm.parameters()).dtype
        out = []
        for start in range(0, len(all_ids), batch_size):
            chunk = all_ids[start : start + batch_size]
            lengths = torch.tensor([len(x) for x in chunk])
            ids = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)
            for i, x in enumerate(chunk):
                ids[i, : len(x)] = torch.tensor(x)
            mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
            states = self._lm_states(self._embed_tokens(ids).to(lm_dtype), mask.to(self.device)).float().cpu()
            for i, n in enumerate(lengths.tolist()):
                out.append(states[i, :n].numpy().astype(np.float32))
        return out


def _with_device(cfg: SpeechEncoderConfig, device) -> SpeechEncoderConfig:
    import dataclasses

    return dataclasses.replace(cfg, device=device)


def _pad(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([a.shape[0] for a in arrays])
    x = torch.zeros(len(arrays), int(lengths.max()), arrays[0].shape[1])
    for i, a in enumerate(arrays):
        x[i, : a.shape[0]] = torch.from_numpy(np.asarray(a, np.float32))
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    return x, mask


# ------------------------------------------------------------------------------------ alignment
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Time average over valid positions: ``x [B, T, D]``, ``mask [B, T]`` → ``[B, D]``."""
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


def alignment_loss(sim: torch.Tensor, sim_mask: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                   kind: str = "mse") -> torch.Tensor:
    r"""Distance between time-pooled simulated and real text, averaged over the batch.

    With :math:`\bar s_i, \bar t_i` the masked time means of sample i's simulated and real text
    (the two sequences have different lengths, so only pooled vectors can be compared without an
    alignment):

    * ``"mse"``: :math:`\frac{1}{BD}\sum_i \lVert \bar s_i - \bar t_i \rVert^2`;
    * ``"cosine"``: :math:`\frac1B \sum_i \left(1 - \cos(\bar s_i, \bar t_i)\right)` (ignores scale).
    """
    s, t = masked_mean(sim, sim_mask), masked_mean(text, text_mask)
    if kind == "mse":
        return F.mse_loss(s, t)
    if kind == "cosine":
        return (1.0 - F.cosine_similarity(s, t, dim=-1)).mean()
    raise ValueError(f"alignment_loss: kind must be 'mse' or 'cosine', got {kind!r}")


@dataclass
class AlignmentConfig:
    """Settings of :func:`train_projector`.

    Attributes:
        steps: optimiser steps (Adam).
        lr: learning rate.
        batch_size: utterances per step (drawn without replacement, reshuffled each pass).
        loss: ``"mse"`` or ``"cosine"`` (:func:`alignment_loss`).
        seed: seeds the batch order.
    """

    steps: int = 200
    lr: float = 1e-3
    batch_size: int = 8
    loss: str = "mse"
    seed: int = 0

    def __post_init__(self):
        if self.loss not in ("mse", "cosine"):
            raise ValueError(f"AlignmentConfig.loss must be 'mse' or 'cosine', got {self.loss!r}")
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("AlignmentConfig: need steps >= 0, batch_size >= 1, lr > 0")


@torch.no_grad()
def evaluate_alignment(simulator: SpeechToTextSimulator, speech: Sequence[np.ndarray], text: Sequence[np.ndarray],
                       loss: str = "mse", batch_size: int = 16) -> float:
    """:func:`alignment_loss` over all utterances (sample-weighted mean over batches)."""
    total, n = 0.0, 0
    for start in range(0, len(speech), batch_size):
        f, fm = _pad(speech[start : start + batch_size])
        t, tm = _pad(text[start : start + batch_size])
        s, sm = simulator(f, fm)
        total += float(alignment_loss(s, sm, t.to(s.device), tm.to(s.device), loss)) * f.shape[0]
        n += f.shape[0]
    return total / max(n, 1)


def train_projector(simulator: SpeechToTextSimulator, speech: Sequence[np.ndarray], text: Sequence[np.ndarray],
                    config: AlignmentConfig | None = None) -> list[float]:
    """Train the projector so that simulated text matches real text after time pooling.

    Args:
        simulator: its projector is trained in place; encoder and LM stay frozen.
        speech: speech-encoder frames ``[T_a, D_a]`` per utterance (:meth:`~SpeechToTextSimulator.speech_features`).
        text: real-text features ``[T_tokens, D_lm]`` per utterance (:meth:`~SpeechToTextSimulator.encode_text`).
        config: :class:`AlignmentConfig`.

    Returns the training loss of every step.
    """
    cfg = config or AlignmentConfig()
    if len(speech) != len(text) or len(speech) == 0:
        raise ValueError(f"train_projector: {len(speech)} speech and {len(text)} text sequences; need equal, > 0")
    for i, t in enumerate(text):
        if np.asarray(t).ndim != 2 or np.asarray(t).shape[1] != simulator.dim:
            raise ValueError(f"train_projector: text[{i}] must be [T, {simulator.dim}], got shape {np.shape(t)}")
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(simulator.projector.parameters(), lr=cfg.lr)
    simulator.projector.train()
    losses: list[float] = []
    order: list[int] = []
    bs = min(cfg.batch_size, len(speech))
    for _ in range(cfg.steps):
        if len(order) < bs:
            order = torch.randperm(len(speech), generator=gen).tolist()
        idx, order = order[:bs], order[bs:]
        f, fm = _pad([speech[i] for i in idx])
        t, tm = _pad([text[i] for i in idx])
        s, sm = simulator(f, fm)
        loss = alignment_loss(s, sm, t.to(s.device), tm.to(s.device), cfg.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    simulator.projector.eval()
    if losses and not np.isfinite(losses[-1]):
        warnings.warn("train_projector: the alignment loss became non-finite; lower the learning rate")
    return losses
