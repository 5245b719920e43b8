r"""Shared building blocks: masked pooling, masked attention and the MERTools-style MLP.

Every model of the book receives right-padded sequences ``x`` [B, T, D] with a boolean mask
[B, T] (True = a real frame). Padding must never carry weight, and a modality that is missing for
a sample has an **all-False** mask row. These helpers are written so that such a row gives exact
zeros (never NaN), with finite gradients:

* :func:`masked_softmax` — softmax over the real positions; an empty row gives all zeros;
* :func:`masked_mean`, :func:`masked_max` — pooling over the real frames; empty rows give zeros;
* :func:`lengths_to_mask` — ``[B]`` lengths → ``[B, T]`` mask;
* :class:`AttentionPooling` — SDUMC's additive attention pooling (``FRA2UTT_new``);
* :func:`mlp` — the MERTools ``MLP(i, "a,b")``: every Linear followed by ReLU and Dropout.

The names and signatures are stable: the CorrKD model imports from here too.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = [
    "lengths_to_mask",
    "check_mask",
    "masked_softmax",
    "masked_mean",
    "masked_max",
    "AttentionPooling",
    "mlp",
]


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Boolean mask [B, T] (True = real frame) from integer lengths [B].

    ``max_len`` defaults to ``max(lengths)`` (at least 1, so an all-empty batch still has one column).
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths_to_mask: lengths must be [B], got shape {tuple(lengths.shape)}")
    if (lengths < 0).any():
        raise ValueError("lengths_to_mask: lengths must be >= 0")
    t = int(max_len) if max_len is not None else max(1, int(lengths.max().item()) if len(lengths) else 1)
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def check_mask(x: torch.Tensor, mask: torch.Tensor | None, name: str = "x") -> torch.Tensor:
    """Validate a padding mask for ``x`` [B, T, ...] and return it as bool (all True when None).

    Raises a ``ValueError`` naming ``name`` and both shapes when they do not fit.
    """
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    if mask.shape != x.shape[:2]:
        raise ValueError(
            f"mask of '{name}' has shape {tuple(mask.shape)}, expected {tuple(x.shape[:2])} "
            f"(the first two dims of '{name}' {tuple(x.shape)})"
        )
    return mask.to(device=x.device, dtype=torch.bool)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    r"""Softmax of ``scores`` along ``dim`` over the positions where ``mask`` is True.

    .. math::
        \alpha_t = \frac{m_t\, e^{s_t}}{\sum_{t'} m_{t'}\, e^{s_{t'}}}, \qquad
        \alpha = 0 \text{ when } \sum_t m_t = 0 .

    ``mask`` must broadcast to ``scores``. Masked positions get exactly 0; a row with no True
    position gives all zeros (not NaN, not uniform), and gradients stay finite. Implementation:
    masked scores are set to the dtype's most negative finite value (not ``-inf``, which would turn
    an empty row into NaN), the softmax is taken, and the result is multiplied by the mask.
    """
    if mask is None:
        return torch.softmax(scores, dim=dim)
    mask = mask.to(torch.bool)
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=dim) * mask.to(scores.dtype)


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None, dim: int = 1) -> torch.Tensor:
    r"""Mean of ``x`` [B, T, D] over the real frames (``dim`` = the time axis, default 1).

    .. math:: \bar x = \frac{\sum_t m_t x_t}{\max(1, \sum_t m_t)}

    so a sample with no real frame pools to the zero vector. ``mask`` is [B, T] (bool).
    """
    if mask is None:
        return x.mean(dim=dim)
    m = mask.to(x.dtype)
    while m.dim() < x.dim():
        m = m.unsqueeze(-1)
    return (x * m).sum(dim=dim) / m.sum(dim=dim).clamp(min=1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor | None, dim: int = 1) -> torch.Tensor:
    """Max of ``x`` [B, T, D] over the real frames; a sample with no real frame gives zeros."""
    if mask is None:
        return x.max(dim=dim).values
    m = mask.to(torch.bool)
    while m.dim() < x.dim():
        m = m.unsqueeze(-1)
    filled = x.masked_fill(~m, torch.finfo(x.dtype).min)
    out = filled.max(dim=dim).values
    any_real = m.any(dim=dim)
    return torch.where(any_real, out, torch.zeros_like(out))


class AttentionPooling(nn.Module):
    r"""Additive attention pooling over time (SDUMC's ``FRA2UTT_new``, reference/sdumc.md §2.1).

    For frames :math:`x \in \mathbb{R}^{B\times T\times D}` with mask :math:`m`:

    .. math::
        s_t = c^\top \tanh(W x_t + b), \qquad
        \alpha = \mathrm{softmax}_{t:\,m_t}(\gamma\, s), \qquad
        u = \mathrm{Dropout}\Big(\sum_t \alpha_t x_t\Big)

    with a learned context vector :math:`c` (xavier-normal), :math:`\gamma` = ``scale`` (0.3 in the
    official code) and padded frames excluded (the official code has no mask: pass ``mask=None``).
    A sample with no real frame pools to zeros.

    Input dropout on the frames is *not* applied here (the caller decides whether pooling and
    cross-attention share one dropout mask); ``output_dropout`` is the official 0.5 on :math:`u`.

    Returns ``(u [B, D], alpha [B, T])``.
    """

    def __init__(self, dim: int, scale: float = 0.3, output_dropout: float = 0.5):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.context = nn.Parameter(torch.empty(1, dim))
        nn.init.xavier_normal_(self.context)
        self.scale = float(scale)
        self.output_dropout = nn.Dropout(output_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, apply_dropout: bool = True):
        """``apply_dropout=False`` skips the output dropout (the caller applies it, e.g. after
        repeating a pooled vector shared by several flows)."""
        scores = torch.tanh(self.proj(x)) @ self.context.t()  # [B, T, 1]
        alpha = masked_softmax(self.scale * scores.squeeze(-1), mask, dim=-1)  # [B, T]
        pooled = torch.bmm(alpha.unsqueeze(1), x).squeeze(1)  # [B, D]
        return (self.output_dropout(pooled) if apply_dropout else pooled), alpha


def mlp(in_dim: int, layers: Sequence[int], dropout: float = 0.3) -> nn.Sequential:
    """MERTools' ``MLP(in_dim, "a,b")``: ``[Linear, ReLU, Dropout]`` for every width in ``layers``.

    Note that, as in the official SDUMC/MERTools code, the MLP *ends* with ReLU + Dropout, so its
    output is non-negative.
    """
    if not layers:
        raise ValueError("mlp: give at least one layer width")
    mods: list[nn.Module] = []
    d = int(in_dim)
    for width in layers:
        mods += [nn.Linear(d, int(width)), nn.ReLU(), nn.Dropout(dropout)]
        d = int(width)
    return nn.Sequential(*mods)
