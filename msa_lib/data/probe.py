"""A linear probe: how much sentiment a modality carries, with ridge regression on mean-pooled features.

Used to check (and show, in notebook 01) that a data set behaves as intended: for the synthetic set,
text should be clearly the most informative, simulated text between text and audio / vision, and
audio + vision better than either. The ridge strength is chosen on the **validation** split; the
returned numbers are on the **test** split (never used for any choice).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .dataset import MSADataset, MSASplit


def mean_pooled(split: MSASplit, modality: str) -> np.ndarray:
    """[N, D] float64: the mean over real frames of each sample (zeros for an empty sequence)."""
    seqs = split.sequences[modality]
    out = np.zeros((len(split), seqs.dim), np.float64)
    for i in range(len(split)):
        x = seqs[i]
        if x.shape[0]:
            out[i] = x.mean(axis=0)
    return out


def _ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    mu, sd = x.mean(0), x.std(0) + 1e-8
    xs = (x - mu) / sd
    w = np.linalg.solve(xs.T @ xs + alpha * np.eye(xs.shape[1]), xs.T @ (y - y.mean()))
    return w, float(y.mean()), mu, sd


def linear_probe(
    dataset: MSADataset,
    modality_sets: Iterable[Sequence[str] | str] | None = None,
    alphas: Sequence[float] = tuple(np.logspace(-2, 4, 13)),
) -> dict[str, dict[str, float]]:
    """Ridge regression on mean-pooled features, per set of modalities.

    ``y_hat = w^T [mean_t x_t^{(m)}]_{m in set} + b``, features standardised on train; the ridge
    strength ``alpha`` minimises validation MAE; the result is measured on test.

    Returns:
        ``{"text": {"MAE": ..., "Corr": ..., "alpha": ...}, "audio+vision": {...}, ...}``.
    """
    if modality_sets is None:
        modality_sets = [m for m in ("text", "text_sim", "audio", "vision") if m in dataset.input_dims]
        modality_sets += [("audio", "vision"), ("text", "audio", "vision")]
    pooled: dict[tuple[str, str], np.ndarray] = {}

    def feats(split: str, mods: Sequence[str]) -> np.ndarray:
        for m in mods:
            if (split, m) not in pooled:
                if m not in dataset[split].sequences:
                    raise KeyError(f"linear_probe: data set '{dataset.name}' has no modality '{m}'")
                pooled[(split, m)] = mean_pooled(dataset[split], m)
        return np.hstack([pooled[(split, m)] for m in mods])

    results = {}
    for mods in modality_sets:
        mods = (mods,) if isinstance(mods, str) else tuple(mods)
        xtr, xva, xte = (feats(s, mods) for s in ("train", "valid", "test"))
        ytr, yva, yte = (dataset[s].labels.astype(np.float64) for s in ("train", "valid", "test"))
        best = None
        for a in alphas:
            w, b, mu, sd = _ridge_fit(xtr, ytr, a)
            mae = np.abs((xva - mu) / sd @ w + b - yva).mean()
            if best is None or mae < best[0]:
                best = (mae, a, w, b, mu, sd)
        _, a, w, b, mu, sd = best
        pred = (xte - mu) / sd @ w + b
        corr = float(np.corrcoef(pred, yte)[0, 1]) if pred.std() > 0 else float("nan")
        results["+".join(mods)] = {"MAE": float(np.abs(pred - yte).mean()), "Corr": corr, "alpha": float(a)}
    return results
