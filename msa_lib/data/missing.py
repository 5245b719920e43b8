"""Missing-modality protocols, as transforms on batch dicts.

Every transform returns a NEW dict (a shallow copy whose changed entries are new tensors); the
input batch is never modified, so one clean batch can be evaluated under many conditions.

Three kinds of missingness appear in the papers this book follows:

* **Whole-modality missing** (CorrKD, §3 of reference/corrkd.md): a modality is absent for every
  sample. :func:`drop_modalities` zeroes its features, sets its mask all False and records
  ``batch[f"{m}_missing"] = True``. CorrKD's six conditions name the modalities that are KEPT:
  ``only_text``, ``only_audio``, ``only_vision``, ``text+audio``, ``text+vision``, ``audio+vision``.
* **Frame-level (intra-modality) missing** (MMSA / TFR-Net, LNLN, CorrKD's curves):
  :func:`random_frame_missing` drops each real frame with probability ``rate``.
* **Text replaced by simulated text** (SDUMC): :func:`use_simulated_text` swaps ``text`` for
  ``text_sim``, the text representation generated from the audio.

:func:`apply_condition` maps a condition name to one of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Iterable, Sequence

import torch

from .dataset import MODALITIES, SIM_TEXT

#: CorrKD's six missing conditions, named by the modalities KEPT ({l}, {a}, {v}, {l,a}, {l,v}, {a,v}).
CORRKD_CONDITIONS = ["only_text", "only_audio", "only_vision", "text+audio", "text+vision", "audio+vision"]
#: Frame-level missing rates 0.0, 0.1, ..., 1.0 as condition names (CorrKD / LNLN curves).
FRAME_MISSING_RATES = [round(0.1 * k, 1) for k in range(11)]
FRAME_MISSING_CONDITIONS = [f"frame_missing_{r:.1f}" for r in FRAME_MISSING_RATES]
#: Every named condition :func:`apply_condition` understands (frame_missing_<r> accepts any r in [0, 1]).
CONDITIONS = ["complete", "text_missing", *CORRKD_CONDITIONS, *FRAME_MISSING_CONDITIONS]

_KEPT = {
    "only_text": ("text",),
    "only_audio": ("audio",),
    "only_vision": ("vision",),
    "text+audio": ("text", "audio"),
    "text+vision": ("text", "vision"),
    "audio+vision": ("audio", "vision"),
}


def _check_is_batch(batch, fn: str) -> None:
    if not isinstance(batch, Mapping):
        raise TypeError(f"{fn}: expected a batch dict, got {type(batch).__name__}")


def _check_batch_has(batch: Mapping, modality: str, fn: str) -> None:
    _check_is_batch(batch, fn)
    for key in (modality, f"{modality}_mask"):
        if key not in batch:
            raise KeyError(
                f"{fn}: the batch has no key '{key}' (keys: {sorted(k for k in batch if isinstance(k, str))})"
            )
    x, mask = batch[modality], batch[f"{modality}_mask"]
    if x.dim() != 3 or mask.shape != x.shape[:2]:
        raise ValueError(
            f"{fn}: '{modality}' must be [B, T, D] with a [B, T] mask; got {tuple(x.shape)} and "
            f"mask {tuple(mask.shape)}"
        )


def drop_modalities(batch: Mapping, missing: Iterable[str] | Mapping[str, torch.Tensor] | str) -> dict:
    """Whole-modality missingness: zero the features of each missing modality and hide its frames.

    For each missing modality ``m``: ``batch[m]`` becomes zeros, ``batch[f"{m}_mask"]`` all False
    and ``batch[f"{m}_missing"]`` a bool [B] tensor, True for the samples where ``m`` is missing.
    Zero vectors are what CorrKD / HRLF feed for a missing modality ("replaced by zero vectors");
    the all-False mask additionally lets a masked model ignore it entirely.

    Args:
        batch: a batch dict (see :mod:`msa_lib.data.loader`).
        missing: the modalities to drop for every sample (``("text",)``, or one name as a string),
            or a mapping modality → bool [B] (per-sample missingness, True = missing), as used to
            train CorrKD's student on randomly missing modalities.

    Returns:
        A new batch dict; the input is untouched.
    """
    _check_is_batch(batch, "drop_modalities")
    if isinstance(missing, str):
        missing = (missing,)
    out = dict(batch)
    if isinstance(missing, Mapping):
        items = list(missing.items())
    else:
        items = [(m, None) for m in missing]
    for m, per_sample in items:
        _check_batch_has(batch, m, "drop_modalities")
        x, mask = batch[m], batch[f"{m}_mask"]
        b = x.shape[0]
        if per_sample is None:
            flag = torch.ones(b, dtype=torch.bool, device=x.device)
        else:
            flag = torch.as_tensor(per_sample, device=x.device).to(torch.bool).reshape(-1)
            if flag.shape[0] != b:
                raise ValueError(
                    f"drop_modalities: per-sample flags for '{m}' have {flag.shape[0]} entries, batch has {b}"
                )
        out[m] = x.masked_fill(flag[:, None, None], 0.0)
        out[f"{m}_mask"] = mask & ~flag[:, None]
        previous = batch.get(f"{m}_missing")
        out[f"{m}_missing"] = flag if previous is None else (previous.to(flag.device) | flag)
    return out


def random_frame_missing(
    batch: Mapping,
    rate: float | torch.Tensor,
    generator: torch.Generator | None = None,
    modalities: Sequence[str] = MODALITIES,
    *,
    keep_text_ends: bool = False,
    hide_dropped: bool = False,
) -> dict:
    """Frame-level missingness with MMSA / LNLN semantics.

    For every modality ``m`` in ``modalities`` and every real frame (mask True), draw
    :math:`u_{bt} \\sim U[0, 1)` and drop the frame iff :math:`u_{bt} < r` (MMSA keeps a frame iff
    ``u > rate``; using a strict ``<`` makes ``rate = 0`` exactly the identity and ``rate = 1``
    drop every real frame). A dropped frame's features are set to 0; padding stays 0.
    ``batch[f"{m}_frame_missing"]`` (bool [B, T]) marks the dropped frames.

    **The mask is left unchanged**, as in MMSA and LNLN (their models see zeroed frames that look
    like padding but are still attended). Pass ``hide_dropped=True`` to also set the mask of
    dropped frames to False — a model that knows *where* data is missing; compare both.

    **Text.** MMSA replaces a dropped BERT token id by ``[UNK]`` (id 100) and re-embeds it. We work
    on pre-extracted embeddings (BERT / Vicuna hidden states), not token ids, and cannot re-run the
    language model, so a dropped token's vector is zeroed exactly like an audio or video frame —
    the choice CorrKD / HRLF make for every modality ("replaced by zero vectors"). MMSA never drops
    ``[CLS]`` (position 0) and ``[SEP]`` (the last real token); ``keep_text_ends=True`` reproduces
    that for BERT-feature text (MMSA pickles). The synthetic data have no special tokens, so the
    default is False.

    **Randomness.** Uniforms come from ``generator`` (a :class:`torch.Generator`; ``None`` = torch's
    global RNG), one ``[B, T_m]`` draw per modality in the order of ``modalities``. Seeding a
    generator once per evaluation and iterating a non-shuffled loader gives the same pattern every
    time (MMSA fixes its pattern per split with ``missing_seed``).

    Args:
        batch: a batch dict.
        rate: the missing rate in [0, 1], a float or a [B] tensor of per-sample rates (LNLN draws
            one rate per sample).
        generator: source of randomness.
        modalities: which sequences to corrupt; ``"text_sim"`` is allowed too.
        keep_text_ends: never drop the first and last real text frame (MMSA's [CLS]/[SEP]).
        hide_dropped: also set the mask of dropped frames to False.

    Returns:
        A new batch dict; the input is untouched.
    """
    if isinstance(modalities, str):
        modalities = (modalities,)
    rate_t = torch.as_tensor(rate, dtype=torch.float32)
    if rate_t.dim() > 1 or torch.isnan(rate_t).any() or (rate_t < 0).any() or (rate_t > 1).any():
        raise ValueError(f"random_frame_missing: rate must be in [0, 1] (a float or a [B] tensor), got {rate!r}")
    _check_is_batch(batch, "random_frame_missing")
    out = dict(batch)
    for m in modalities:
        _check_batch_has(batch, m, "random_frame_missing")
        x, mask = batch[m], batch[f"{m}_mask"]
        b, t = mask.shape
        gen_device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand((b, t), generator=generator, device=gen_device).to(x.device)
        r = rate_t.to(x.device)
        if r.dim() == 1:
            if r.shape[0] != b:
                raise ValueError(f"random_frame_missing: {r.shape[0]} per-sample rates for a batch of {b}")
            r = r[:, None]
        dropped = (u < r) & mask
        if keep_text_ends and m in ("text", SIM_TEXT):
            lengths = mask.sum(1)
            dropped[:, 0] = False
            last = (lengths - 1).clamp(min=0)
            dropped[torch.arange(b, device=x.device), last] = False
        out[m] = x.masked_fill(dropped[..., None], 0.0)
        out[f"{m}_mask"] = mask & ~dropped if hide_dropped else mask
        previous = batch.get(f"{m}_frame_missing")
        out[f"{m}_frame_missing"] = dropped if previous is None else (previous | dropped)
    return out


def random_modality_missing(
    batch: Mapping,
    rate: float,
    generator: torch.Generator | None = None,
    modalities: Sequence[str] = MODALITIES,
    *,
    keep_one: bool = True,
) -> dict:
    """Per-sample whole-modality missingness (GCNet-style training augmentation).

    Each (sample, modality) pair is dropped independently with probability ``rate``; with
    ``keep_one=True`` a sample that would lose every modality keeps one, chosen uniformly (GCNet
    always keeps at least one modality). Implemented with :func:`drop_modalities` per-sample flags.
    """
    if not 0.0 <= float(rate) <= 1.0:
        raise ValueError(f"random_modality_missing: rate must be in [0, 1], got {rate!r}")
    for m in modalities:
        _check_batch_has(batch, m, "random_modality_missing")
    b = batch[modalities[0]].shape[0]
    gen_device = generator.device if generator is not None else torch.device("cpu")
    drop = torch.rand((b, len(modalities)), generator=generator, device=gen_device) < float(rate)
    if keep_one:
        all_gone = drop.all(1)
        keep = torch.randint(len(modalities), (b,), generator=generator, device=gen_device)
        drop[all_gone, keep[all_gone]] = False
    return drop_modalities(batch, {m: drop[:, k] for k, m in enumerate(modalities)})


def use_simulated_text(batch: Mapping) -> dict:
    """SDUMC's "text missing": ``text`` := ``text_sim``, ``text_mask`` := ``text_sim_mask``.

    The real text is gone; in its place the model gets the text representation simulated from the
    audio (in SDUMC: Vicuna hidden states generated from WavLM features). ``text_sim`` is kept as
    it is, and ``batch["text_simulated"]`` is set to True so a model or a plot can tell.
    """
    _check_is_batch(batch, "use_simulated_text")
    for key in (SIM_TEXT, f"{SIM_TEXT}_mask", "text"):
        if key not in batch:
            raise KeyError(
                f"use_simulated_text: the batch has no '{key}'. Simulated text comes from the data set: "
                "synthetic_mosei() always has it; for an MMSA pickle add the keys 'text_sim' "
                "(+ 'text_sim_lengths'); for MERTools pass simulated_text=<folder>."
            )
    if batch[SIM_TEXT].shape[-1] != batch["text"].shape[-1]:
        raise ValueError(
            f"use_simulated_text: text_sim has dim {batch[SIM_TEXT].shape[-1]} but text has dim "
            f"{batch['text'].shape[-1]}; they must share one feature space"
        )
    out = dict(batch)
    out["text"] = batch[SIM_TEXT]
    out["text_mask"] = batch[f"{SIM_TEXT}_mask"]
    out["text_simulated"] = True
    return out


def frame_missing_rate(condition: str) -> float | None:
    """The rate of a ``"frame_missing_<r>"`` condition name, or None for other names."""
    prefix = "frame_missing_"
    if not condition.startswith(prefix):
        return None
    try:
        rate = float(condition[len(prefix):])
    except ValueError:
        raise ValueError(f"condition {condition!r}: cannot read a rate after '{prefix}'") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"condition {condition!r}: the rate must be in [0, 1]")
    return rate


def apply_condition(batch: Mapping, condition: str, generator: torch.Generator | None = None, **kw) -> dict:
    """Apply a named test condition to a batch (returns a new dict).

    ============================  =====================================================================
    ``"complete"``                 nothing missing (a shallow copy)
    ``"text_missing"``             SDUMC: text replaced by simulated text (:func:`use_simulated_text`)
    ``"only_text"`` ... (CorrKD)   keep the named modalities, drop the others (:func:`drop_modalities`)
    ``"frame_missing_0.3"``        every real frame of text, audio and vision dropped with prob. 0.3
                                   (:func:`random_frame_missing`; ``generator`` and ``**kw`` go there)
    ============================  =====================================================================
    """
    _check_is_batch(batch, "apply_condition")
    if not isinstance(condition, str):
        raise TypeError(f"condition must be a string, got {type(condition).__name__}")
    if kw and frame_missing_rate(condition) is None:
        raise TypeError(
            f"apply_condition: options {sorted(kw)} only apply to 'frame_missing_<rate>' conditions, not {condition!r}"
        )
    if condition == "complete":
        return dict(batch)
    if condition == "text_missing":
        return use_simulated_text(batch)
    if condition in _KEPT:
        kept = _KEPT[condition]
        return drop_modalities(batch, [m for m in MODALITIES if m not in kept])
    rate = frame_missing_rate(condition)
    if rate is not None:
        return random_frame_missing(batch, rate, generator=generator, **kw)
    raise ValueError(
        f"unknown condition {condition!r}; use one of 'complete', 'text_missing', {CORRKD_CONDITIONS}, "
        "or 'frame_missing_<rate>' with a rate in [0, 1] (e.g. 'frame_missing_0.3')"
    )
