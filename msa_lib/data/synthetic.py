r"""A seeded synthetic data set shaped like CMU-MOSEI, with text simulated from audio.

Real MOSEI features cannot be shipped with the book, so every notebook runs by default on
:func:`synthetic_mosei`: the same shapes and conventions (variable-length text tokens, audio and video
frames; sentiment labels in [-3, 3] on a grid of 1/3 with exact zeros), and a generative process
built so that the questions of the book have real answers: text is the most informative modality,
audio and vision are partial and complementary, and the *simulated text* (SDUMC's text generated
from speech) carries the text's sentiment but worse.

Generative process (one utterance; all directions, vocabularies and maps are fixed per ``seed``)
-------------------------------------------------------------------------------------------------
1. **Sentiment.** A latent sentiment :math:`s`. With probability ``neutral_fraction`` the utterance
   is neutral: :math:`s \sim N(0, 0.1^2)` and the label is exactly 0. Otherwise
   :math:`s \sim N(\mu, \sigma^2)` (``label_mean``, ``label_sd``: mass near 0, slightly positive,
   as in MOSEI) and the label is what annotators report, with disagreement noise:
   :math:`y = \mathrm{clip}(\mathrm{round}(3(s + \epsilon))/3, -3, 3)`,
   :math:`\epsilon \sim N(0, \texttt{label\_noise}^2)`. The annotation noise is irreducible: no model
   can beat it, as on real data.
2. **Lengths.** :math:`T_t \sim U\{\texttt{text\_len}\}` tokens; the audio and video last about
   ``audio_frames_per_token`` / ``vision_frames_per_token`` frames per token (log-normal jitter,
   capped at ``audio_len_max`` / ``vision_len_max``).
3. **Text** :math:`[T_t, D_t]`. Each token is a word vector from a random vocabulary (orthogonal
   to a fixed sentiment direction :math:`u_t`, so ordinary words are neutral). A few tokens —
   exactly :math:`k_t = \max(1, \mathrm{round}(\texttt{text\_evidence\_rate} \cdot T_t))` at random
   positions — are *sentiment-bearing*: they add :math:`\alpha_t (s + \eta) u_t`,
   :math:`\eta \sim N(0, 0.3^2)`. Plus isotropic noise ``text_noise``.
4. **Audio** :math:`[T_a, D_a]`, built in a hidden coordinate system then rotated by a fixed
   random orthogonal matrix :math:`R_a`:

   * *speech content*: audio frame :math:`p` "speaks" token :math:`j = \lfloor (p + 1/2) T_t / T_a \rfloor`:
     :math:`c_p \, P e_j` with :math:`P` a fixed :math:`[D_c, D_t]` projection (orthonormal rows, the first
     one :math:`u_t`) and :math:`c_p = \pm 1` a random per-frame *carrier*, written in a pilot channel
     of the *previous* frame (``carrier_lag``). The words — and the text's sentiment — are in the
     audio, but modulated: averaging frames cancels them, a model that transforms frames one at a
     time cannot read them either, and only a model that combines neighbouring frames (a speech
     recogniser) recovers them.
   * *prosody*: on :math:`k_a` random frames, an arousal-like :math:`\alpha_a |s|` (``audio_arousal``:
     intensity, no sign) plus a weak valence :math:`\beta_a s` (``audio_valence``);
   * a per-utterance speaker offset (nuisance) and noise ``audio_noise``.
5. **Vision** :math:`[T_v, D_v]`: a per-utterance identity offset (nuisance), and on :math:`k_v`
   random frames an expression :math:`\alpha_v s\, d_{val} + \beta_v |s|\, d_{int}` (``vision_valence``:
   the sign, e.g. a smile, with moderate SNR; ``vision_arousal``), plus noise ``vision_noise``.
   Audio knows *how strong*, vision knows *which way*: they complement.
6. **Simulated text** :math:`[T_s, D_t]` — a lossy, noisy "speech → LLM" pipeline applied to the
   audio frames only: undo :math:`R_a`, demodulate with the (noisy) pilot of the previous frame, average-pool
   ``sim_pool`` frames to token rate (windows ignore word boundaries, so neighbouring words blur),
   map back to the text space with :math:`P^\top` (a fixed linear map; the lexical detail outside
   :math:`P`'s :math:`D_c` dimensions is lost), add noise ``sim_noise`` and drop each token with
   probability ``sim_token_dropout`` (at least one kept). It correlates with the real text's sentiment,
   less strongly: a real signal to learn and a real gap to close.

What this does not model: simulated text is a function of the audio, so in principle a model on the
audio alone could learn everything the simulated text knows (as with real speech: the LLM pipeline only
makes the words *accessible*). With the default ``carrier_lag=1`` a small per-frame model cannot; a
temporal model (convolution, self-attention over frames) trained on enough data might. The measured
ordering is printed by ``benchmarks/bench_data.py --only learnability``.

The frames that carry sentiment are recorded (``split.evidence_frames(i)``) so figures can show
where the evidence is and whether a model attends to it, and ``split.latent_sentiment`` (float32 [N])
holds each utterance's :math:`s` before annotation noise.

Seeds: one :class:`numpy.random.SeedSequence` per ``seed`` spawns independent streams for the fixed
"world" (directions, vocabulary, maps) and for each split, so the same seed gives the same arrays,
and changing ``n_train`` does not change the test set.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from .dataset import MSADataset, MSASplit, PackedSequences, SPLITS

_CHUNK = 2048  # utterances generated per block (bounds temporary memory at MOSEI scale)


@dataclass
class SyntheticConfig:
    """Knobs of :func:`synthetic_mosei` (defaults: the quick set, seconds to train on a CPU).

    Sizes and shapes
        n_train, n_valid, n_test: split sizes (MOSEI: 16,326 / 1,871 / 4,659).
        text_dim, audio_dim, vision_dim: feature dims (MOSEI MMSA: 768 / 74 / 35).
            ``audio_dim`` must be at least 8 (content, carrier and prosody channels).
        text_len: (min, max) tokens per utterance, inclusive.
        audio_frames_per_token, vision_frames_per_token: mean frames per text token.
        audio_len_max, vision_len_max: caps on the frame counts (minimum 2 frames).
    Labels
        label_mean, label_sd: the non-neutral latent sentiment distribution.
        neutral_fraction: share of neutral utterances (label exactly 0).
        label_noise: annotator disagreement added before rounding to the 1/3 grid.
    Informativeness (signal amplitudes along unit directions; noises are per-coordinate sds)
        text_signal, text_evidence_rate, text_noise, vocab_size
        audio_arousal, audio_valence, audio_evidence_rate, audio_noise, speech_scale,
        carrier_gain, speaker_scale
        carrier_lag: the carrier of frame p is written in the pilot channel of frame p - lag (cyclic
            within the utterance). With lag 1 (default) no single frame holds both the words and
            the key to read them: a model that transforms frames one at a time and pools cannot
            recover the words, a temporal model or the simulated-text pipeline can. Lag 0 makes
            the words readable frame by frame (audio then rivals text for a small MLP).
        vision_valence, vision_arousal, vision_evidence_rate, vision_noise, identity_scale
    Simulated text quality
        sim_pool: audio frames averaged into one simulated token.
        sim_noise: noise added in the text space.
        sim_token_dropout: probability that a simulated token is lost.
    """

    n_train: int = 600
    n_valid: int = 150
    n_test: int = 150
    text_dim: int = 64
    audio_dim: int = 32
    vision_dim: int = 24
    text_len: tuple[int, int] = (10, 30)
    audio_frames_per_token: float = 1.5
    vision_frames_per_token: float = 1.2
    audio_len_max: int = 48
    vision_len_max: int = 40
    label_mean: float = 0.4
    label_sd: float = 1.25
    neutral_fraction: float = 0.12
    label_noise: float = 0.35
    text_signal: float = 1.0
    text_evidence_rate: float = 0.25
    text_noise: float = 0.5
    vocab_size: int = 400
    audio_arousal: float = 1.2
    audio_valence: float = 0.1
    audio_evidence_rate: float = 0.3
    audio_noise: float = 0.8
    speech_scale: float = 1.0
    carrier_gain: float = 2.0
    carrier_lag: int = 1
    speaker_scale: float = 0.5
    vision_valence: float = 0.6
    vision_arousal: float = 0.3
    vision_evidence_rate: float = 0.25
    vision_noise: float = 0.8
    identity_scale: float = 0.8
    sim_pool: int = 2
    sim_noise: float = 0.4
    sim_token_dropout: float = 0.15

    def __post_init__(self):
        for name in ("n_train", "n_valid", "n_test"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"SyntheticConfig.{name} must be a positive int, got {v!r}")
        for name in ("text_dim", "vision_dim", "vocab_size", "sim_pool"):
            if getattr(self, name) < 1:
                raise ValueError(f"SyntheticConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.audio_dim < 8:
            raise ValueError(f"SyntheticConfig.audio_dim must be >= 8, got {self.audio_dim}")
        lo, hi = self.text_len
        if not 1 <= lo <= hi:
            raise ValueError(f"SyntheticConfig.text_len must be (min, max) with 1 <= min <= max, got {self.text_len}")
        self.text_len = (int(lo), int(hi))
        for name in ("text_evidence_rate", "audio_evidence_rate", "vision_evidence_rate",
                     "neutral_fraction", "sim_token_dropout"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"SyntheticConfig.{name} must be in [0, 1], got {v!r}")
        if self.carrier_lag < 0:
            raise ValueError(f"SyntheticConfig.carrier_lag must be >= 0, got {self.carrier_lag}")
        if self.audio_len_max < 2 or self.vision_len_max < 2:
            raise ValueError("SyntheticConfig.audio_len_max and vision_len_max must be >= 2")

    @property
    def content_dim(self) -> int:
        """D_c: dims of the speech-content channel inside the audio."""
        return max(1, min(self.text_dim, self.audio_dim // 2))

    @classmethod
    def quick(cls, **overrides) -> "SyntheticConfig":
        """The notebook default: 600 / 150 / 150, dims 64 / 32 / 24 (trains in seconds on a CPU)."""
        return cls(**overrides)

    @classmethod
    def full(cls, **overrides) -> "SyntheticConfig":
        """Full mode: 4000 / 800 / 1000, dims 128 / 74 / 35 (MOSEI's audio and vision dims)."""
        base = dict(n_train=4000, n_valid=800, n_test=1000, text_dim=128, audio_dim=74, vision_dim=35)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def mosei_scale(cls, **overrides) -> "SyntheticConfig":
        """MOSEI's sizes and dims: 16,326 / 1,871 / 4,659 and 768 / 74 / 35 (a benchmark, ~3 GB)."""
        base = dict(n_train=16326, n_valid=1871, n_test=4659, text_dim=768, audio_dim=74, vision_dim=35)
        base.update(overrides)
        return cls(**base)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` computed in float64 and rounded to float32: the same bits on every machine.

    A float32 product's last bits depend on the BLAS kernel (OpenBLAS picks one per CPU), so the float32 data
    set — and its fingerprint, and every checkpoint keyed on it — would differ between two computers. In float64
    the kernels differ only ~1e-16 relative, which rounding to float32 absorbs except in rare exact ties.
    """
    return (np.asarray(a, np.float64) @ np.asarray(b, np.float64)).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _orthonormal_rows(rng: np.random.Generator, n: int, d: int, first: np.ndarray | None = None) -> np.ndarray:
    """n orthonormal rows in R^d (QR of a Gaussian matrix), the first one ``first`` if given."""
    g = rng.standard_normal((d, n))
    if first is not None:
        g[:, 0] = first
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))[None, :]  # make the first column equal `first`, not -first
    return q.T[:n]


class _World:
    """The fixed parts of the generative process: directions, vocabulary, maps (float64 → float32)."""

    def __init__(self, cfg: SyntheticConfig, rng: np.random.Generator):
        dt, da, dv, dc = cfg.text_dim, cfg.audio_dim, cfg.vision_dim, cfg.content_dim
        self.u_text = _unit(rng.standard_normal(dt))
        vocab = rng.standard_normal((cfg.vocab_size, dt))
        vocab -= np.outer(vocab @ self.u_text, self.u_text)  # ordinary words are sentiment-neutral
        self.vocab = vocab.astype(np.float32)
        # P: [D_c, D_t], orthonormal rows, first row = u_text (sentiment survives the speech channel)
        self.content_map = _orthonormal_rows(rng, dc, dt, first=self.u_text).astype(np.float32)
        self.audio_rotation = _orthonormal_rows(rng, da, da).astype(np.float32)  # R_a
        rest = da - dc - 1  # hidden audio coordinates after content (D_c) and carrier (1)
        basis = _orthonormal_rows(rng, min(rest, 2 + 3), rest) if rest >= 2 else None
        self.audio_arousal_dir = np.zeros(da, np.float32)
        self.audio_valence_dir = np.zeros(da, np.float32)
        self.audio_speaker_basis = np.zeros((3, da), np.float32)
        self.audio_arousal_dir[dc + 1:] = basis[0]
        self.audio_valence_dir[dc + 1:] = basis[1]
        for k in range(basis.shape[0] - 2):
            self.audio_speaker_basis[k, dc + 1:] = basis[2 + k]
        self.vision_valence_dir = _unit(rng.standard_normal(dv)).astype(np.float32)
        self.vision_arousal_dir = _unit(rng.standard_normal(dv)).astype(np.float32)
        self.vision_identity_basis = (0.5 * rng.standard_normal((4, dv))).astype(np.float32)


def _exact_k_positions(rng: np.random.Generator, lengths: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Bool [sum T]: exactly k[i] distinct random frames of each sequence i (packed layout)."""
    utt = np.repeat(np.arange(lengths.size), lengths)
    key = rng.random(utt.size)
    order = np.lexsort((key, utt))  # frames sorted by utterance, then by a random key
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    rank = np.empty(utt.size, np.int64)
    rank[order] = np.arange(utt.size) - offsets[utt[order]]
    return rank < k[utt]


def _positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(utterance index, position within utterance) of every frame of a packed layout."""
    utt = np.repeat(np.arange(lengths.size), lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return utt, np.arange(utt.size) - offsets[utt]


def _generate_split(cfg: SyntheticConfig, world: _World, n: int, split: str, rng: np.random.Generator) -> MSASplit:
    dt, da, dv, dc = cfg.text_dim, cfg.audio_dim, cfg.vision_dim, cfg.content_dim
    # --- structure: labels, lengths, words, evidence positions, carriers (cheap, drawn up front) ---
    neutral = rng.random(n) < cfg.neutral_fraction
    s = np.where(neutral, rng.normal(0.0, 0.1, n), rng.normal(cfg.label_mean, cfg.label_sd, n))
    noisy = s + rng.normal(0.0, cfg.label_noise, n)
    labels = np.clip(np.round(3.0 * noisy) / 3.0, -3.0, 3.0)
    labels[neutral] = 0.0
    labels = labels.astype(np.float32)
    labels[labels == 0] = 0.0  # no -0.0
    s = s.astype(np.float32)

    t_len = rng.integers(cfg.text_len[0], cfg.text_len[1] + 1, n)
    a_len = np.clip(np.round(t_len * cfg.audio_frames_per_token * np.exp(rng.normal(0, 0.15, n))), 2, cfg.audio_len_max).astype(np.int64)
    v_len = np.clip(np.round(t_len * cfg.vision_frames_per_token * np.exp(rng.normal(0, 0.15, n))), 2, cfg.vision_len_max).astype(np.int64)
    t_len = t_len.astype(np.int64)

    words = rng.integers(0, cfg.vocab_size, int(t_len.sum()))
    ev_text = _exact_k_positions(rng, t_len, np.maximum(1, np.round(cfg.text_evidence_rate * t_len)).astype(np.int64))
    ev_audio = _exact_k_positions(rng, a_len, np.maximum(1, np.round(cfg.audio_evidence_rate * a_len)).astype(np.int64))
    ev_vision = _exact_k_positions(rng, v_len, np.maximum(1, np.round(cfg.vision_evidence_rate * v_len)).astype(np.int64))
    token_sentiment = (s[np.repeat(np.arange(n), t_len)] + rng.normal(0, 0.3, int(t_len.sum()))).astype(np.float32)
    carrier = np.where(rng.random(int(a_len.sum())) < 0.5, -1.0, 1.0).astype(np.float32)
    speaker = (rng.standard_normal((n, 3)) * cfg.speaker_scale).astype(np.float32)
    identity = (rng.standard_normal((n, 4)) * cfg.identity_scale).astype(np.float32)
    # simulated-text windows and which of them survive token dropout (at least one per utterance)
    w_len = -(-a_len // cfg.sim_pool)
    keep = rng.random(int(w_len.sum())) >= cfg.sim_token_dropout
    w_utt, w_pos = _positions(w_len)
    kept_per_utt = np.bincount(w_utt[keep], minlength=n)
    if np.any(kept_per_utt == 0):
        w_off = np.concatenate([[0], np.cumsum(w_len)])
        empty = np.flatnonzero(kept_per_utt == 0)
        keep[w_off[empty] + rng.integers(0, w_len[empty])] = True
        kept_per_utt = np.bincount(w_utt[keep], minlength=n)
    s_len = kept_per_utt.astype(np.int64)

    off = {m: np.concatenate([[0], np.cumsum(L)]).astype(np.int64) for m, L in
           (("text", t_len), ("audio", a_len), ("vision", v_len), ("text_sim", s_len), ("window", w_len))}
    text = np.empty((off["text"][-1], dt), np.float32)
    audio = np.empty((off["audio"][-1], da), np.float32)
    vision = np.empty((off["vision"][-1], dv), np.float32)
    text_sim = np.empty((off["text_sim"][-1], dt), np.float32)

    chunk_seeds = rng.integers(0, 2**63 - 1, size=(n + _CHUNK - 1) // _CHUNK)
    for c, u0 in enumerate(range(0, n, _CHUNK)):
        u1 = min(n, u0 + _CHUNK)
        crng = np.random.default_rng(int(chunk_seeds[c]))
        sl = {m: slice(off[m][u0], off[m][u1]) for m in off}
        sc = s[u0:u1]
        # text
        e_clean = world.vocab[words[sl["text"]]]
        ev_rows = np.flatnonzero(ev_text[sl["text"]])  # only the sentiment-bearing tokens move along u_t
        e_clean[ev_rows] += (token_sentiment[sl["text"]][ev_rows] * cfg.text_signal)[:, None] * world.u_text.astype(np.float32)[None]
        text_block = text[sl["text"]]  # a view: noise is drawn straight into the output (no temporaries)
        crng.standard_normal(dtype=np.float32, out=text_block)
        text_block *= cfg.text_noise
        text_block += e_clean
        # audio (hidden coordinates z, then rotated)
        a_utt, a_pos = _positions(a_len[u0:u1])
        tok = np.floor((a_pos + 0.5) * t_len[u0:u1][a_utt] / a_len[u0:u1][a_utt]).astype(np.int64)
        tok_local = off["text"][u0:u1][a_utt] - off["text"][u0] + tok
        c_a = carrier[sl["audio"]]
        z = np.zeros((a_utt.size, da), np.float32)
        z[:, :dc] = (cfg.speech_scale * c_a)[:, None] * _mm(e_clean[tok_local], world.content_map.T)
        # pilot channel of frame p holds the carrier of frame p + lag (cyclic within the utterance)
        a_off_local = off["audio"][u0:u1][a_utt] - off["audio"][u0]
        a_len_f = a_len[u0:u1][a_utt]
        ahead = a_off_local + (a_pos + cfg.carrier_lag) % a_len_f
        behind = a_off_local + (a_pos - cfg.carrier_lag) % a_len_f
        z[:, dc] = cfg.carrier_gain * c_a[ahead]
        ev_a = ev_audio[sl["audio"]].astype(np.float32)
        z += (ev_a * cfg.audio_arousal * np.abs(sc)[a_utt])[:, None] * world.audio_arousal_dir[None]
        z += (ev_a * cfg.audio_valence * sc[a_utt])[:, None] * world.audio_valence_dir[None]
        z += _mm(speaker[u0:u1][a_utt], world.audio_speaker_basis)
        z += cfg.audio_noise * crng.standard_normal(z.shape, dtype=np.float32)
        audio[sl["audio"]] = _mm(z, world.audio_rotation.T)
        # simulated text from the audio alone: un-rotate, demodulate, pool, map to text space
        zhat = _mm(audio[sl["audio"]], world.audio_rotation)
        c_hat = np.where(zhat[behind, dc] >= 0, 1.0, -1.0).astype(np.float32)
        content = c_hat[:, None] * zhat[:, :dc] / cfg.speech_scale
        window = off["window"][u0:u1][a_utt] - off["window"][u0] + a_pos // cfg.sim_pool
        starts = np.flatnonzero(np.diff(window, prepend=-1))
        pooled = np.add.reduceat(content, starts, axis=0) / np.diff(np.append(starts, window.size))[:, None]
        sim_full = _mm(pooled, world.content_map)
        sim_noise = crng.standard_normal(sim_full.shape, dtype=np.float32)
        sim_noise *= cfg.sim_noise
        sim_full += sim_noise
        del sim_noise
        text_sim[sl["text_sim"]] = sim_full[keep[sl["window"]]]
        # vision
        v_utt, _ = _positions(v_len[u0:u1])
        ev_v = ev_vision[sl["vision"]].astype(np.float32)
        v = _mm(identity[u0:u1][v_utt], world.vision_identity_basis)
        v += (ev_v * cfg.vision_valence * sc[v_utt])[:, None] * world.vision_valence_dir[None]
        v += (ev_v * cfg.vision_arousal * np.abs(sc)[v_utt])[:, None] * world.vision_arousal_dir[None]
        v += cfg.vision_noise * crng.standard_normal(v.shape, dtype=np.float32)
        vision[sl["vision"]] = v

    for arr in (text, audio, vision, text_sim):
        arr.flags.writeable = False  # samples are views into these blocks: protect the data set
    sequences = {
        "text": PackedSequences(text, off["text"]),
        "audio": PackedSequences(audio, off["audio"]),
        "vision": PackedSequences(vision, off["vision"]),
        "text_sim": PackedSequences(text_sim, off["text_sim"]),
    }
    evidence = {
        "text": PackedSequences(ev_text[:, None], off["text"]),
        "audio": PackedSequences(ev_audio[:, None], off["audio"]),
        "vision": PackedSequences(ev_vision[:, None], off["vision"]),
    }
    ids = [f"synth_{split}_{i:05d}" for i in range(n)]
    out = MSASplit(split, sequences, labels, ids, evidence=evidence, source="synthetic_mosei")
    out.latent_sentiment = s  # the s behind each label (before annotation noise), for figures
    return out


def synthetic_mosei(
    n_train: int | None = None,
    n_valid: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    config: SyntheticConfig | None = None,
    **knobs: Any,
) -> MSADataset:
    """A seeded synthetic data set shaped like CMU-MOSEI (see the module docstring for the process).

    Args:
        n_train, n_valid, n_test: split sizes (default: those of ``config``, i.e. 600 / 150 / 150).
        seed: the same seed gives the same arrays; another seed gives other arrays.
        config: a :class:`SyntheticConfig` (default: ``SyntheticConfig()``, the quick set).
        **knobs: any :class:`SyntheticConfig` field, overriding ``config`` (e.g. ``text_dim=768``,
            ``sim_noise=1.0``, ``vision_valence=0.0``).

    Returns:
        An :class:`MSADataset` with ``text``, ``audio``, ``vision`` and ``text_sim`` sequences,
        labels in [-3, 3] on the 1/3 grid, ``metric_dataset="mosei"``, and ``info["config"]``.

    Example:
        >>> ds = synthetic_mosei(seed=0)                       # doctest: +SKIP
        >>> ds["train"][0]["text"].shape                        # doctest: +SKIP
        (23, 64)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    cfg = config if config is not None else SyntheticConfig()
    fields = {f.name for f in dataclasses.fields(SyntheticConfig)}
    unknown = sorted(set(knobs) - fields)
    if unknown:
        raise TypeError(f"synthetic_mosei: unknown knob(s) {unknown}; SyntheticConfig fields are {sorted(fields)}")
    overrides = dict(knobs)
    for name, v in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        if v is not None:
            overrides[name] = v
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    world_seq, *split_seqs = np.random.SeedSequence(int(seed)).spawn(1 + len(SPLITS))
    world = _World(cfg, np.random.default_rng(world_seq))
    sizes = {"train": cfg.n_train, "valid": cfg.n_valid, "test": cfg.n_test}
    splits = {
        name: _generate_split(cfg, world, sizes[name], name, np.random.default_rng(seq))
        for name, seq in zip(SPLITS, split_seqs)
    }
    return MSADataset(
        splits,
        name="synthetic_mosei",
        metric_dataset="mosei",
        info={"config": dataclasses.asdict(cfg), "seed": int(seed), "source": "synthetic_mosei"},
    )
