r"""A text simulator: text features predicted from the audio (optionally + vision) of the same utterance.

SDUMC's student flow reads text *simulated from the audio* (``text_sim``) instead of the transcript
(reference/sdumc.md §1.1: a speech LLM's hidden states). MMSA / MulT pickles never hold it, and raw audio is
not in a pickle, so this module builds the honest offline stand-in: a feature-level "speech → text
representation" model, fitted on the **train split only**.

**Model** (closed-form multi-output ridge regression, per text position). For utterance ``i`` with text
length :math:`L` (the text's valid positions) and input modality ``m`` with :math:`T_m` valid frames:

1. *Resampling onto the text grid* — the output must have the text's length, so that the student flow sees a
   sequence shaped like the text it replaces (same positions, same mask, and for aligned data the same time
   axis). Frames are mapped in **relative time**: text position :math:`p` covers :math:`[p/L, (p+1)/L)` of the
   utterance, source frame :math:`t` covers :math:`[t/T, (t+1)/T)`.

   * :math:`T \ge L` (unaligned data: 375-500 audio frames onto 50 text positions): **area averaging**, the
     mean of the frames over the position's interval weighted by overlap. Not plain linear interpolation,
     which would read two frames out of every ten and throw the others away (aliasing).
   * :math:`T < L`: linear interpolation at :math:`s = (p + 1/2) T / L - 1/2`, clamped to :math:`[0, T-1]`.
   * :math:`T = L` (aligned data): both rules are the identity.

   Giving ``text_sim`` the real text's length is the one thing taken from the real text at prediction time
   (a word count, which the speech duration largely gives away too): it is what makes the student's input
   sequence shaped like the teacher's.
2. *Per-position inputs* :math:`x_p` (frames first standardised per dimension with the fitting data's
   frame mean and std): the resampled frames :math:`r_{p+o}` for :math:`o = -c..c` (``context``; indices
   clamped at the ends, i.e. edge frames repeated), the utterance mean of each input modality's raw frames,
   and 5 position features :math:`(u, u^2, [p=0], [p=L-1], \log L)` with :math:`u = (p + 1/2)/L` (BERT text
   has [CLS] / [SEP] at the ends). :math:`D_{in} = \sum_m (2c + 2) D_m + 5` (449 for MOSEI audio, c = 2).
3. *Ridge*, target :math:`y_p` = the real text feature at position :math:`p` (:math:`D_t`-dim): with
   :math:`\tilde x = (x - \mu)/\sigma` standardised on the fitting rows (:math:`n` positions),
   :math:`\bar y` their mean,

   .. math::  W = (\tilde X^\top \tilde X + \alpha n I)^{-1} \tilde X^\top (Y - \bar y), \qquad
              \hat y_p = \tilde x_p^\top W + \bar y .

   Everything is computed from float64 sufficient statistics (:math:`n, \sum x, \sum y, \sum x x^\top,
   \sum x y^\top, \sum \lVert y \rVert^2`) accumulated per fold in chunks, then one eigendecomposition
   :math:`\tilde X^\top \tilde X = V \Lambda V^\top` (a :math:`D_{in} \times D_{in}` problem) per model. The
   penalty is :math:`\alpha n` so that one grid means the same for a data set of any size.
   ``alphas`` with several values: :math:`\alpha` minimises the summed squared error of an **inner**
   cross-validation over the folds of the fitting data only (each inner fold scored by a model fitted on the
   others — exact, from the fold statistics, no second pass).

**Cross-fitting** (:func:`add_simulated_text`): the train utterances are split into ``folds`` folds by a
seeded permutation (:func:`fold_assignment`); the simulated text of a train utterance in fold ``k`` comes
from the model fitted on the other folds (its own inner validation over those folds), so the student never
trains on simulated text better than what it meets at test time. Valid and test get the model fitted on all
of train. Since the statistics are per fold, the ``K + 1`` models cost one pass over the data.

Why not a small GRU: the ridge model is deterministic, has no training schedule to tune, fits MOSEI-scale
data (16,326 utterances × 50 positions, 5 folds) in about a minute on 2 CPU cores, and is easy to state
exactly; what limits the simulated text here is what the pickled audio features say about the words, not
the capacity of the model.

**Cache** (:func:`add_simulated_text`): ``<cache_dir>/<key>.npz``, ``cache_dir`` = ``$MSA_CACHE_DIR``, else
``~/.cache/msa_lib/text_sim``. The key is a BLAKE2b hash of the **content** — every split's size, labels
(float32 bytes) and the lengths and valid frames (float32 bytes, all of them) of ``text``, ``audio`` and
``vision`` — plus the config and :data:`ALGORITHM_VERSION`; not the file name, the data set's name or the
ids (a renamed copy is a hit, one changed label a miss). Hashing reads every byte once (~4 s for MOSEI's
3.5 GB). Written atomically (temporary file, then rename); float32, uncompressed (MOSEI aligned-50: ~2 GB,
~12 s to read back). The file format is the one of
:func:`save_simulated_text`, so a cache file can also be handed to ``load_dataset(simulated_text=<path>)``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .dataset import MODALITIES, SIM_TEXT, SPLITS, MSADataset, MSASplit, PackedSequences, Sequences

#: Bumped whenever the model or its features change, so that old cache files are not reused.
ALGORITHM_VERSION = "ridge-text-simulator/1"
#: The ``format`` entry of the ``.npz`` files written by :func:`save_simulated_text` and the cache.
FILE_FORMAT = "msa_lib.text_sim/1"
#: Rows (text positions) per block while accumulating statistics and predicting (memory: ~this × D_in × 8 B).
CHUNK_ROWS = 16384
N_POSITION_FEATURES = 5


@dataclass(frozen=True)
class TextSimulatorConfig:
    """Settings of the ridge text simulator (see the module docstring).

    Attributes:
        inputs: the modalities the text is predicted from: ``("audio",)`` (SDUMC: text from speech) or
            ``("audio", "vision")``.
        folds: K of the K-fold cross-fitting of the train split (also the inner folds choosing ``alpha``).
        context: half-width of the temporal window, in text positions (``2`` → 5 resampled frames per position).
        alphas: ridge strengths (the penalty is ``alpha * n_rows``); several → chosen by inner
            cross-validation on the fitting data only, one → used as is.
        seed: seed of the fold permutation.
    """

    inputs: tuple[str, ...] = ("audio",)
    folds: int = 5
    context: int = 2
    alphas: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    seed: int = 0

    def __post_init__(self):
        inputs = (self.inputs,) if isinstance(self.inputs, str) else tuple(self.inputs)
        alphas = (float(self.alphas),) if np.isscalar(self.alphas) else tuple(float(a) for a in self.alphas)
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "alphas", alphas)
        if not inputs or any(m not in ("audio", "vision") for m in inputs) or len(set(inputs)) != len(inputs):
            raise ValueError(f"TextSimulatorConfig: inputs must be ('audio',) or ('audio', 'vision'), got {inputs}")
        if self.folds < 2:
            raise ValueError(f"TextSimulatorConfig: folds must be >= 2 (cross-fitting), got {self.folds}")
        if self.context < 0:
            raise ValueError(f"TextSimulatorConfig: context must be >= 0, got {self.context}")
        if not alphas or any(not a > 0 for a in alphas):
            raise ValueError(f"TextSimulatorConfig: alphas must be positive, got {alphas}")


def fold_assignment(n: int, folds: int, seed: int = 0) -> np.ndarray:
    """int64 [n]: the fold (0..folds-1) of each utterance, from a seeded permutation (balanced sizes)."""
    fold = np.empty(n, np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % max(1, folds)
    return fold


# ------------------------------------------------------------------------------------------ features
@lru_cache(maxsize=4096)
def _resample_matrix(t_src: int, l_dst: int) -> np.ndarray:
    """[l_dst, t_src] float64 weights mapping ``t_src`` frames onto ``l_dst`` positions in relative time."""
    if t_src == l_dst:
        return np.eye(l_dst)
    m = np.zeros((l_dst, t_src))
    if t_src == 0 or l_dst == 0:
        return m
    if t_src > l_dst:  # area averaging: overlap of [p/L, (p+1)/L) with [t/T, (t+1)/T), in units of 1/(T L)
        p = np.arange(l_dst)[:, None]
        t = np.arange(t_src)[None, :]
        lo = np.maximum(p * t_src, t * l_dst)
        hi = np.minimum((p + 1) * t_src, (t + 1) * l_dst)
        m = np.maximum(hi - lo, 0).astype(np.float64) / t_src
    else:  # linear interpolation at the position's centre
        s = np.clip((np.arange(l_dst) + 0.5) * t_src / l_dst - 0.5, 0, t_src - 1)
        lo = np.floor(s).astype(np.int64)
        hi = np.minimum(lo + 1, t_src - 1)
        frac = s - lo
        m[np.arange(l_dst), lo] += 1 - frac
        m[np.arange(l_dst), hi] += frac
    m.flags.writeable = False
    return m


def _n_inputs(dims: dict[str, int], cfg: TextSimulatorConfig) -> int:
    return sum((2 * cfg.context + 2) * dims[m] for m in cfg.inputs) + N_POSITION_FEATURES


def _frame_norm(split: MSASplit, cfg: TextSimulatorConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per input modality, the mean and std of every valid frame of ``split`` (float64; std 0 → 1)."""
    out = {}
    for m in cfg.inputs:
        seqs = split.sequences[m]
        s1, s2, n = np.zeros(seqs.dim), np.zeros(seqs.dim), 0
        for i in range(len(seqs)):
            x = np.asarray(seqs[i], np.float64)
            s1 += x.sum(0)
            s2 += (x * x).sum(0)
            n += x.shape[0]
        mean = s1 / max(n, 1)
        std = np.sqrt(np.maximum(s2 / max(n, 1) - mean**2, 0))
        out[m] = (mean, np.where(std > 1e-8 * (1 + np.abs(mean)), std, 1.0))
    return out


def _chunks(split: MSASplit, order: np.ndarray) -> list[np.ndarray]:
    """Groups of utterance indices (in ``order``) with about :data:`CHUNK_ROWS` text positions each."""
    lengths = split.lengths("text")[order]
    out, start, rows = [], 0, 0
    for j, n in enumerate(lengths):
        rows += int(n)
        if rows >= CHUNK_ROWS:
            out.append(order[start : j + 1])
            start, rows = j + 1, 0
    if start < len(order):
        out.append(order[start:])
    return out


def _design(split: MSASplit, idx: np.ndarray, cfg: TextSimulatorConfig, norm) -> np.ndarray:
    """[sum of the text lengths of ``idx``, D_in] float64: the per-position inputs (module docstring)."""
    text_len = split.lengths("text")
    dims = {m: split.sequences[m].dim for m in cfg.inputs}
    rows = int(text_len[idx].sum())
    x = np.empty((rows, _n_inputs(dims, cfg)))
    w = 2 * cfg.context + 1
    r0 = 0
    for i in idx:
        n = int(text_len[i])
        if n == 0:
            continue
        block = x[r0 : r0 + n]
        col = 0
        pos = np.arange(n)
        for m in cfg.inputs:
            d = dims[m]
            mean, std = norm[m]
            a = (np.asarray(split.sequences[m][i], np.float64) - mean) / std
            t = a.shape[0]
            r = a if t == n else _resample_matrix(t, n) @ a
            for o in range(-cfg.context, cfg.context + 1):
                block[:, col : col + d] = r[np.clip(pos + o, 0, n - 1)]
                col += d
            block[:, col : col + d] = a.mean(0) if t else 0.0
            col += d
        u = (pos + 0.5) / n
        block[:, col] = u
        block[:, col + 1] = u * u
        block[:, col + 2] = pos == 0
        block[:, col + 3] = pos == n - 1
        block[:, col + 4] = np.log(n)
        r0 += n
    return x


def _targets(split: MSASplit, idx: np.ndarray) -> np.ndarray:
    """[rows, D_t] float64: the real text frames of ``idx``, back to back."""
    text = split.sequences["text"]
    parts = [np.asarray(text[i], np.float64) for i in idx if text.lengths[i]]
    return np.concatenate(parts) if parts else np.zeros((0, text.dim))


# ---------------------------------------------------------------------------------------- statistics
class _Moments:
    """Sufficient statistics of one group of rows: n, Σx, Σy, Σxxᵀ, Σxyᵀ, Σ‖y‖² (float64)."""

    def __init__(self, d_in: int, d_out: int):
        self.n = 0
        self.sx, self.sy = np.zeros(d_in), np.zeros(d_out)
        self.sxx, self.sxy = np.zeros((d_in, d_in)), np.zeros((d_in, d_out))
        self.syy = 0.0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        self.n += x.shape[0]
        self.sx += x.sum(0)
        self.sy += y.sum(0)
        self.sxx += x.T @ x
        self.sxy += x.T @ y
        self.syy += float(np.einsum("ij,ij->", y, y))

    @staticmethod
    def total(groups: Sequence["_Moments"]) -> "_Moments":
        out = _Moments(groups[0].sx.size, groups[0].sy.size)
        for g in groups:
            out.n += g.n
            out.sx += g.sx
            out.sy += g.sy
            out.sxx += g.sxx
            out.sxy += g.sxy
            out.syy += g.syy
        return out


def _group_moments(split: MSASplit, groups: np.ndarray, cfg: TextSimulatorConfig, norm) -> dict[int, _Moments]:
    dims = {m: split.sequences[m].dim for m in cfg.inputs}
    d_in, d_out = _n_inputs(dims, cfg), split.sequences["text"].dim
    out = {}
    for g in np.unique(groups):
        mom = out[int(g)] = _Moments(d_in, d_out)
        for idx in _chunks(split, np.flatnonzero(groups == g)):
            mom.add(_design(split, idx, cfg, norm), _targets(split, idx))
    return out


class _Solved:
    """Standardisation and eigendecomposition of one fitting set, ready for any alpha."""

    def __init__(self, m: _Moments):
        self.n = max(m.n, 1)
        self.mu = m.sx / self.n
        self.ybar = m.sy / self.n
        cxx = m.sxx - self.n * np.outer(self.mu, self.mu)
        cxy = m.sxy - self.n * np.outer(self.mu, self.ybar)
        var = np.maximum(np.diag(cxx) / self.n, 0)
        self.sigma = np.where(var > 1e-12, np.sqrt(var), 1.0)
        g = cxx / np.outer(self.sigma, self.sigma)
        self.evals, self.evecs = np.linalg.eigh((g + g.T) / 2)
        self.evals = np.maximum(self.evals, 0)
        self.bt = self.evecs.T @ (cxy / self.sigma[:, None])  # Vᵀ B

    def gains(self, alpha: float) -> np.ndarray:
        return 1.0 / (self.evals + alpha * self.n)

    def affine(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """``(A, c)`` with ŷ = x A + c for raw (frame-normalised) inputs x."""
        w = self.evecs @ (self.gains(alpha)[:, None] * self.bt)
        a = w / self.sigma[:, None]
        return a, self.ybar - self.mu @ a

    def sse(self, held: _Moments, alphas: Sequence[float]) -> np.ndarray:
        """Squared error on the rows of ``held`` (not in this fit) for each alpha, from statistics only."""
        mu, yb, s = self.mu, self.ybar, self.sigma
        p = (held.sxx - np.outer(held.sx, mu) - np.outer(mu, held.sx) + held.n * np.outer(mu, mu)) / np.outer(s, s)
        q = (held.sxy - np.outer(held.sx, yb) - np.outer(mu, held.sy) + held.n * np.outer(mu, yb)) / s[:, None]
        r = held.syy - 2 * yb @ held.sy + held.n * yb @ yb
        v = self.evecs
        pr = v.T @ p @ v
        h = np.einsum("kd,kd->k", self.bt, v.T @ q)
        pm = pr * (self.bt @ self.bt.T)
        out = []
        for a in alphas:
            g = self.gains(a)
            out.append(r - 2 * g @ h + g @ pm @ g)
        return np.array(out)


def _fit_from_groups(groups: dict[int, _Moments], alphas: Sequence[float]) -> tuple[np.ndarray, np.ndarray, float, dict]:
    """Ridge on the union of ``groups``; alpha by inner CV over those groups (module docstring)."""
    keys = sorted(groups)
    scores = None
    if len(alphas) == 1:
        alpha = alphas[0]
    elif len(keys) < 2:  # no inner validation possible: the middle of the grid
        alpha = sorted(alphas)[len(alphas) // 2]
    else:
        scores = np.zeros(len(alphas))
        for k in keys:
            inner = _Solved(_Moments.total([groups[j] for j in keys if j != k]))
            scores += inner.sse(groups[k], alphas)
        alpha = alphas[int(np.argmin(scores))]
    a, c = _Solved(_Moments.total([groups[k] for k in keys])).affine(alpha)
    detail = {"alpha": float(alpha), "inner_folds": len(keys)}
    if scores is not None:
        n_rows = sum(groups[k].n for k in keys)
        detail["inner_mse"] = {f"{al:g}": float(sc / max(n_rows, 1)) for al, sc in zip(alphas, scores)}
    return a, c, float(alpha), detail


# -------------------------------------------------------------------------------------------- model
class TextSimulator:
    """A fitted ridge text simulator: :meth:`predict` gives ``text_sim`` for a split (module docstring)."""

    def __init__(self, config: TextSimulatorConfig, norm, a: np.ndarray, c: np.ndarray, *, alpha: float,
                 input_dims: dict[str, int], n_rows: int, detail: dict | None = None):
        self.config = config
        self.norm = norm
        self.a, self.c = a, c
        self.alpha = alpha
        self.input_dims = dict(input_dims)
        self.n_rows = n_rows
        self.detail = detail or {}

    def _check(self, split: MSASplit) -> None:
        for m, d in self.input_dims.items():
            if m not in split.sequences:
                raise KeyError(f"TextSimulator: split '{split.name}' has no '{m}'")
            if split.sequences[m].dim != d:
                raise ValueError(f"TextSimulator: split '{split.name}': '{m}' has dim {split.sequences[m].dim}, "
                                 f"the simulator was fitted with {d}")

    def predict_rows(self, split: MSASplit, idx: np.ndarray) -> np.ndarray:
        """[sum of the text lengths of ``idx``, D_t] float32 (utterances back to back)."""
        return (_design(split, np.asarray(idx), self.config, self.norm) @ self.a + self.c).astype(np.float32)

    def predict(self, split: MSASplit) -> PackedSequences:
        """``text_sim`` for every utterance of ``split``: ``[L_i, D_t]`` with L_i the split's text length."""
        self._check(split)
        order = np.arange(len(split))
        values = np.empty((int(split.lengths("text").sum()), self.a.shape[1]), np.float32)
        r0 = 0
        for idx in _chunks(split, order):
            p = self.predict_rows(split, idx)
            values[r0 : r0 + p.shape[0]] = p
            r0 += p.shape[0]
        return _packed(values, split.lengths("text"))

    def __repr__(self) -> str:
        return (f"TextSimulator(inputs={self.config.inputs}, context={self.config.context}, alpha={self.alpha:g}, "
                f"{self.a.shape[0]} inputs -> {self.a.shape[1]} text dims, fitted on {self.n_rows} positions)")


def _packed(values: np.ndarray, lengths: np.ndarray) -> PackedSequences:
    values.flags.writeable = False
    return PackedSequences(values, np.concatenate([[0], np.cumsum(np.asarray(lengths, np.int64))]))


def _check_inputs(split: MSASplit, cfg: TextSimulatorConfig, where: str) -> None:
    for m in ("text",) + cfg.inputs:
        if m not in split.sequences:
            raise KeyError(f"{where}: split '{split.name}' has no '{m}' (the text simulator needs text and {cfg.inputs})")


def fit_text_simulator(train_split: MSASplit, config: TextSimulatorConfig | None = None, *,
                       inner_folds: np.ndarray | None = None) -> TextSimulator:
    """Fit the simulator on one split (normally ``train``).

    Args:
        train_split: the fitting data (its text is the target).
        config: :class:`TextSimulatorConfig` (default settings when ``None``).
        inner_folds: int [N], the inner-validation group of each utterance (used to choose ``alpha`` when
            ``config.alphas`` has several values). Default: :func:`fold_assignment` ``(N, folds, seed)``.
            :func:`add_simulated_text` passes the outer folds, so refitting one fold's model by hand gives
            the same model.
    """
    cfg = config or TextSimulatorConfig()
    _check_inputs(train_split, cfg, "fit_text_simulator")
    n = len(train_split)
    groups = fold_assignment(n, min(cfg.folds, n), cfg.seed) if inner_folds is None else np.asarray(inner_folds)
    if groups.shape != (n,):
        raise ValueError(f"fit_text_simulator: inner_folds has shape {groups.shape}, the split has {n} utterances")
    norm = _frame_norm(train_split, cfg)
    moments = _group_moments(train_split, groups, cfg, norm)
    a, c, alpha, detail = _fit_from_groups(moments, cfg.alphas)
    return TextSimulator(cfg, norm, a, c, alpha=alpha, n_rows=sum(m.n for m in moments.values()), detail=detail,
                         input_dims={m: train_split.sequences[m].dim for m in cfg.inputs})


# ------------------------------------------------------------------------------------------ metrics
class _Agreement:
    """Running R² (vs a reference mean), mean cosine per position and relative L2 per utterance."""

    def __init__(self, ref_mean: np.ndarray):
        self.ref = ref_mean
        self.sse = self.sst = self.cos = self.rel = 0.0
        self.rows = self.utts = 0

    def add(self, y: np.ndarray, p: np.ndarray, lengths: np.ndarray) -> None:
        y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
        self.sse += float(((y - p) ** 2).sum())
        self.sst += float(((y - self.ref) ** 2).sum())
        ny, np_ = np.linalg.norm(y, axis=1), np.linalg.norm(p, axis=1)
        self.cos += float((np.einsum("ij,ij->i", y, p) / np.maximum(ny * np_, 1e-12)).sum())
        self.rows += y.shape[0]
        lengths = np.asarray(lengths, np.int64)
        utt = np.repeat(np.arange(lengths.size), lengths)
        err = np.bincount(utt, weights=((y - p) ** 2).sum(1), minlength=lengths.size)
        tot = np.bincount(utt, weights=ny**2, minlength=lengths.size)
        keep = lengths > 0
        self.rel += float((np.sqrt(err[keep]) / np.maximum(np.sqrt(tot[keep]), 1e-12)).sum())
        self.utts += int(keep.sum())

    def result(self) -> dict:
        return {
            "r2": 1 - self.sse / self.sst if self.sst > 0 else float("nan"),
            "cosine": self.cos / self.rows if self.rows else float("nan"),
            "relative_l2": self.rel / self.utts if self.utts else float("nan"),
        }


# ---------------------------------------------------------------------------------------- cross-fit
def _cross_fit(dataset: MSADataset, cfg: TextSimulatorConfig) -> tuple[dict[str, PackedSequences], dict]:
    train = dataset["train"]
    n = len(train)
    if n < 2:
        raise ValueError(f"add_simulated_text: {dataset.name}: the train split has {n} utterance(s); "
                         "cross-fitting needs at least 2")
    k = min(cfg.folds, n)
    fold = fold_assignment(n, k, cfg.seed)
    norm = _frame_norm(train, cfg)
    moments = _group_moments(train, fold, cfg, norm)
    dims = {m: train.sequences[m].dim for m in cfg.inputs}
    total = _Moments.total(list(moments.values()))
    ref_mean = total.sy / max(total.n, 1)

    def model(groups):
        a, c, alpha, detail = _fit_from_groups(groups, cfg.alphas)
        return TextSimulator(cfg, norm, a, c, alpha=alpha, input_dims=dims,
                             n_rows=sum(g.n for g in groups.values()), detail=detail)

    full = model(moments)
    fold_models = {f: model({g: m for g, m in moments.items() if g != f}) for f in moments}

    out, quality = {}, {}
    text_len = train.lengths("text")
    values = np.empty((int(text_len.sum()), train.sequences["text"].dim), np.float32)
    offsets = np.concatenate([[0], np.cumsum(text_len)])
    agree = _Agreement(ref_mean)
    for f, sim in fold_models.items():
        for idx in _chunks(train, np.flatnonzero(fold == f)):
            p = sim.predict_rows(train, idx)
            r0 = 0
            for i in idx:  # back into file order
                li = int(text_len[i])
                values[offsets[i] : offsets[i] + li] = p[r0 : r0 + li]
                r0 += li
            agree.add(_targets(train, idx), p, text_len[idx])
    out["train"] = _packed(values, text_len)
    quality["train"] = {**agree.result(), "note": "out-of-fold (each utterance predicted by a model that did not see it)"}
    for s in ("valid", "test"):
        split = dataset[s]
        _check_inputs(split, cfg, "add_simulated_text")
        out[s] = full.predict(split)
        agree = _Agreement(ref_mean)
        for idx in _chunks(split, np.arange(len(split))):
            rows = slice(out[s].offsets[idx[0]], out[s].offsets[idx[-1] + 1])  # idx: consecutive utterances
            agree.add(_targets(split, idx), out[s].values[rows], split.lengths("text")[idx])
        quality[s] = agree.result()
    info = {
        "folds": k,
        "alpha": full.alpha,
        "fold_alphas": {str(f): m.alpha for f, m in fold_models.items()},
        "inner_validation": full.detail.get("inner_mse"),
        "n_inputs": int(full.a.shape[0]),
        "quality": quality,
        "valid_r2": quality["valid"]["r2"],
        "valid_cosine": quality["valid"]["cosine"],
    }
    return out, info


# -------------------------------------------------------------------------------------------- cache
def default_cache_dir() -> Path:
    """``$MSA_CACHE_DIR`` when set, else ``~/.cache/msa_lib/text_sim``."""
    env = os.environ.get("MSA_CACHE_DIR")
    return Path(env).expanduser() if env else Path("~/.cache/msa_lib/text_sim").expanduser()


def _hash_sequences(h, seqs: Sequences) -> None:
    lengths = np.ascontiguousarray(seqs.lengths, np.int64)
    h.update(np.int64(seqs.dim).tobytes())
    h.update(lengths.tobytes())
    if isinstance(seqs, PackedSequences):
        h.update(memoryview(np.ascontiguousarray(seqs.values, np.float32)).cast("B"))
        return
    for i in range(len(seqs)):  # the same byte stream as the packed case: valid frames only, in order
        if lengths[i]:
            h.update(memoryview(np.ascontiguousarray(seqs[i], np.float32)).cast("B"))


def content_key(dataset: MSADataset, config: TextSimulatorConfig) -> str:
    """The cache key: a hash of the data's content and the config (module docstring)."""
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps({"algorithm": ALGORITHM_VERSION, "config": asdict(config)}, sort_keys=True).encode())
    for s in SPLITS:
        split = dataset[s]
        h.update(f"|{s}|{len(split)}|".encode())
        h.update(np.ascontiguousarray(split.labels, np.float32).tobytes())
        for m in MODALITIES:
            h.update(f"|{m}|".encode())
            _hash_sequences(h, split.sequences[m])
    return h.hexdigest()


def _write_npz(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a cache file is as readable as any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_arrays(sim: dict[str, Sequences], ids: dict[str, list[str]], meta: dict) -> dict:
    arrays = {"format": np.array(FILE_FORMAT), "meta": np.array(json.dumps(meta, default=str))}
    for s in SPLITS:
        seqs = sim[s]
        if isinstance(seqs, PackedSequences):
            values = seqs.values
        else:
            parts = [np.asarray(seqs[i], np.float32) for i in range(len(seqs))]
            values = np.concatenate(parts) if parts else np.zeros((0, seqs.dim), np.float32)
        arrays[f"{s}__values"] = np.ascontiguousarray(values, np.float32)
        arrays[f"{s}__lengths"] = np.asarray(seqs.lengths, np.int64)
        arrays[f"{s}__ids"] = np.array(ids[s], dtype=str)
    return arrays


def _read_file(path: Path, dataset: MSADataset, where: str, *, check_ids: bool = True
               ) -> tuple[dict[str, PackedSequences], dict]:
    """Read and check an ``.npz`` of simulated text against ``dataset`` (sizes, ids, dim).

    The cache does not check ids (``check_ids=False``): its key is the content, and ids are not content.
    """
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValueError(f"{where}: {path} is not a readable .npz ({type(e).__name__}: {e})") from None
    with z:
        if "format" not in z.files or str(z["format"]) != FILE_FORMAT:
            raise ValueError(f"{where}: {path} is not a simulated-text file (no format '{FILE_FORMAT}'; "
                             "write one with msa_lib.data.save_simulated_text)")
        meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
        out = {}
        text_dim = dataset.input_dims["text"]
        for s in SPLITS:
            keys = [f"{s}__values", f"{s}__lengths", f"{s}__ids"]
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise KeyError(f"{where}: {path}: split '{s}' is missing {missing}")
            values, lengths, ids = z[keys[0]], z[keys[1]].astype(np.int64), [str(x) for x in z[keys[2]]]
            split = dataset[s]
            if len(ids) != len(split) or lengths.shape[0] != len(split):
                raise ValueError(f"{where}: {path}: split '{s}' has {len(ids)} utterances but the data set "
                                 f"'{dataset.name}' has {len(split)}")
            if check_ids and ids != list(split.ids):
                bad = next(i for i, (a, b) in enumerate(zip(ids, split.ids)) if a != b)
                raise ValueError(f"{where}: {path}: split '{s}': utterance ids differ from the data set's "
                                 f"(first at index {bad}: file {ids[bad]!r}, data set {split.ids[bad]!r})")
            if values.ndim != 2 or values.shape[1] != text_dim:
                raise ValueError(f"{where}: {path}: split '{s}': simulated text has shape {values.shape}, "
                                 f"expected [*, {text_dim}] (the text's feature dim)")
            if lengths.min(initial=0) < 0 or int(lengths.sum()) != values.shape[0]:
                raise ValueError(f"{where}: {path}: split '{s}': lengths sum to {int(lengths.sum())} but there "
                                 f"are {values.shape[0]} rows")
            out[s] = _packed(np.asarray(values, np.float32), lengths)  # a fresh array: no second copy
    return out, meta


def _with_text_sim(dataset: MSADataset, sim: dict[str, Sequences], info: dict) -> MSADataset:
    splits = {}
    for s in SPLITS:
        src = dataset[s]
        seqs = {m: q for m, q in src.sequences.items() if m != SIM_TEXT}
        seqs[SIM_TEXT] = sim[s]
        splits[s] = MSASplit(s, seqs, src.labels, src.ids, evidence=src.evidence, source=src.source)
    out = MSADataset(splits, name=dataset.name, metric_dataset=dataset.metric_dataset,
                     classes=dataset.classes or None, info={**dataset.info, "text_sim": info})
    for k, v in vars(dataset).items():  # any further attribute a loader set
        if k not in vars(out):
            setattr(out, k, copy.copy(v))
    return out


def add_simulated_text(dataset: MSADataset, config: TextSimulatorConfig | None = None, *,
                       cache_dir=None) -> MSADataset:
    """A new data set with ``text_sim`` in every split, made by the ridge text simulator (module docstring).

    Train: K-fold cross-fitted; valid / test: the simulator fitted on all of train. The input is never
    modified (an existing ``text_sim`` is replaced in the copy). ``info["text_sim"]`` says how it was made:
    ``method``, ``config``, ``seconds`` (the fit's), ``from_cache`` / ``cache_path``, ``quality`` per split
    (R² vs the train text mean, mean cosine per position, relative L2 per utterance; train out-of-fold),
    ``valid_r2``, ``valid_cosine``, the chosen ``alpha``.

    Args:
        cache_dir: folder of the cache (default :func:`default_cache_dir`); ``False`` for no cache.
    """
    cfg = config or TextSimulatorConfig()
    for s in SPLITS:
        _check_inputs(dataset[s], cfg, "add_simulated_text")
    t0 = time.perf_counter()
    path = None
    if cache_dir is not False:
        key = content_key(dataset, cfg)
        path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        path = path / f"{key}.npz"
        if path.is_file():
            try:
                sim, meta = _read_file(path, dataset, "add_simulated_text (cache)", check_ids=False)
            except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile):
                sim = None  # a damaged or foreign file: recompute and overwrite it
            if sim is not None:
                info = {**meta, "from_cache": True, "cache_path": str(path),
                        "load_seconds": time.perf_counter() - t0}
                return _with_text_sim(dataset, sim, info)
    t0 = time.perf_counter()  # "seconds" is the fit's time, hashing excluded
    sim, info = _cross_fit(dataset, cfg)
    info = {
        "method": "ridge text simulator: text features regressed on resampled "
                  + " + ".join(cfg.inputs) + f" frames (window ±{cfg.context}), {info['folds']}-fold cross-fitted "
                  "on the train split; valid/test from the simulator fitted on all of train",
        "algorithm": ALGORITHM_VERSION,
        "config": json.loads(json.dumps(asdict(cfg))),  # lists, as read back from the cache
        **info,
        "seconds": time.perf_counter() - t0,
        "from_cache": False,
        "cache_path": str(path) if path is not None else None,
    }
    if path is not None:
        _write_npz(path, _file_arrays(sim, {s: dataset[s].ids for s in SPLITS}, info))
    return _with_text_sim(dataset, sim, info)


def save_simulated_text(dataset: MSADataset, path) -> Path:
    """Write a data set's ``text_sim`` (every split, with ids) as an ``.npz`` that
    ``load_dataset(..., simulated_text=path)`` and :func:`load_simulated_text` read back. Returns the path."""
    if not dataset.has_text_sim:
        raise ValueError(f"save_simulated_text: data set '{dataset.name}' has no '{SIM_TEXT}'")
    path = Path(path).expanduser()
    if path.suffix.lower() != ".npz":
        raise ValueError(f"save_simulated_text: {path}: the file name must end in .npz")
    meta = dataset.info.get("text_sim") or {"method": "saved by save_simulated_text"}
    _write_npz(path, _file_arrays({s: dataset[s].sequences[SIM_TEXT] for s in SPLITS},
                                  {s: dataset[s].ids for s in SPLITS}, meta))
    return path


def load_simulated_text(dataset: MSADataset, path) -> MSADataset:
    """A new data set with ``text_sim`` read from ``path`` (written by :func:`save_simulated_text` or the
    cache); the ids, sizes and feature dim of every split must match, else an error naming file and split."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"load_simulated_text: {path}: no such file (an .npz of simulated text, "
                                "written by msa_lib.data.save_simulated_text)")
    sim, meta = _read_file(path, dataset, "load_simulated_text")
    return _with_text_sim(dataset, sim, {"method": f"loaded from {path}", "path": str(path), "file_meta": meta})


def simulated_text_quality(dataset: MSADataset) -> dict:
    """How good a data set's simulated text is, for a chapter to show.

    Returns ``{"probe": linear_probe(dataset, ["text", "text_sim"]) (test MAE / Corr of ridge on mean-pooled
    features), "test_cosine": mean cosine per position, "test_relative_l2": mean ‖sim − text‖ / ‖text‖ per
    utterance, "r2": {split: R² of simulated vs real text (vs the train text's mean position)}, "level": ...}``.
    Positions are compared where simulated and real text have the same length (always, for this module's
    simulator); when the lengths of a split differ, its numbers compare mean-pooled vectors (``level``).
    """
    from .probe import linear_probe, mean_pooled

    if not dataset.has_text_sim:
        raise ValueError(f"simulated_text_quality: data set '{dataset.name}' has no '{SIM_TEXT}'")
    train = dataset["train"]
    text = train.sequences["text"]
    ref = sum((np.asarray(text[i], np.float64).sum(0) for i in range(len(text))), np.zeros(text.dim))
    ref /= max(int(text.lengths.sum()), 1)  # the train text's mean per position, as in add_simulated_text
    out = {"probe": linear_probe(dataset, ["text", SIM_TEXT]), "r2": {}, "cosine": {}, "relative_l2": {}, "level": {}}
    for s in SPLITS:
        split = dataset[s]
        lt, ls = split.lengths("text"), split.lengths(SIM_TEXT)
        agree = _Agreement(ref)
        if np.array_equal(lt, ls):
            out["level"][s] = "position"
            for idx in _chunks(split, np.arange(len(split))):
                p = np.concatenate([np.asarray(split.sequences[SIM_TEXT][i]) for i in idx if lt[i]] or
                                   [np.zeros((0, split.sequences[SIM_TEXT].dim))])
                agree.add(_targets(split, idx), p, lt[idx])
        else:
            out["level"][s] = "utterance (mean-pooled: simulated and real text differ in length)"
            agree.add(mean_pooled(split, "text"), mean_pooled(split, SIM_TEXT), np.ones(len(split), np.int64))
        r = agree.result()
        out["r2"][s], out["cosine"][s], out["relative_l2"][s] = r["r2"], r["cosine"], r["relative_l2"]
    out["test_cosine"] = out["cosine"]["test"]
    out["test_relative_l2"] = out["relative_l2"]["test"]
    return out


__all__ = [
    "ALGORITHM_VERSION",
    "TextSimulatorConfig",
    "TextSimulator",
    "fold_assignment",
    "fit_text_simulator",
    "add_simulated_text",
    "save_simulated_text",
    "load_simulated_text",
    "simulated_text_quality",
    "content_key",
    "default_cache_dir",
]
