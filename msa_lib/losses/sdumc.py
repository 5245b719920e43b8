r"""SDUMC's self-distillation objective (paper §2.3–2.4; reference/sdumc.md §3–4).

One network with shared weights runs two flows on every batch: the **teacher flow** (T) sees the
real text, the **student flow** (S) the text simulated from audio. With labels :math:`y`, the
regressions :math:`\hat y`, the text queries :math:`q_t` [B, D], the text cross features
:math:`c_t` [B, 7, C], the fused embeddings :math:`e` [B, C], the Rank-N-Contrast projections
:math:`r` [B, P] and :math:`\mathrm{sg}` = stop-gradient:

.. math::
    \mathcal{L} = w_T\,\mathrm{MSE}(\hat y^T, y) + w_S\,\mathrm{MSE}(\hat y^S, y)
      + w_q\,\mathrm{RMSE}(q_t^S, \mathrm{sg}(q_t^T))
      + w_c\,\mathrm{RMSE}(c_t^S, \mathrm{sg}(c_t^T))
      + w_e\,\mathrm{RMSE}(e^S, e^T)
      + w_r\,\mathcal{L}_{\mathrm{RnC}}\big([r^T; r^S], y\big)

* the two MSE terms train both flows to regress;
* the two text terms distil the teacher's text representations into the student (in the student
  flow they come out of MIA, so they are also MIA's "imagination" targets). Note the official code
  names them the other way round: its ``text_feat`` is the query :math:`q_t`, its
  ``text_query_feat`` the cross features :math:`c_t`;
* the fused-embedding term aligns the two flows; as in the official code it is **not** detached
  (it pulls the teacher toward the student too): ``detach_teacher_fused=True`` ablates that;
* Rank-N-Contrast (:func:`msa_lib.losses.rnc_loss`, SDUMC's tie tolerance 1e-4, τ = 2) uses the
  teacher and student projections of each utterance as its two views.

RMSE is :func:`stable_rmse`, whose gradient stays finite when both sides are equal (the official
``sqrt(mean)`` has an infinite gradient there).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from .rnc import rnc_loss


def stable_rmse(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r"""Root mean squared error over all elements, with a finite gradient at 0.

    .. math:: \mathrm{RMSE}_\epsilon(a, b) = \sqrt{\tfrac{1}{N}\textstyle\sum (a - b)^2 + \epsilon} - \sqrt{\epsilon}

    It is exactly 0 when ``pred == target``; its gradient is bounded by
    :math:`1/(\sqrt{N\epsilon})` per element instead of infinite (``sqrt(mean)`` at 0 gives NaN
    gradients once the student matches the teacher). 3-D inputs are compared element-wise, as the
    official code does after flattening.
    """
    if pred.shape != target.shape:
        raise ValueError(f"stable_rmse: shapes differ: pred {tuple(pred.shape)} vs target {tuple(target.shape)}")
    if eps <= 0:
        raise ValueError(f"stable_rmse: eps must be > 0, got {eps}")
    mse = (pred - target).pow(2).mean()
    return torch.sqrt(mse + eps) - torch.sqrt(torch.full_like(mse, eps))


@dataclass
class SelfDistillationWeights:
    """Weights of the SDUMC loss terms. Defaults: 0.5 / 0.5 / 0.1 / 0.7 / 0.13 / 0.5, the row echoed
    by the official inference script and the commented training lines of
    ``shell/main_text_missing_icassp.sh`` (reference/sdumc.md §4: the most plausible source of the
    reported numbers; the active shell line sets the two text terms to 0, the argparse defaults are
    0.1 / 0.8 for fused / RnC — see :meth:`argparse_defaults` and :meth:`active_shell_line`).

    Attributes:
        teacher_mse: w_T, MSE of the teacher flow (official ``w_full``).
        student_mse: w_S, MSE of the student flow (``w_miss``).
        text_query: w_q, RMSE of the student's text query toward the detached teacher's (``text_feat``).
        text_cross: w_c, RMSE of the student's text cross features (``text_query_feat``).
        fused: w_e, RMSE between the fused embeddings of the two flows (``features``).
        rnc: w_r, Rank-N-Contrast across the two flows (0 switches it off: ``sdumc_no_rnc``).
        rnc_temperature: τ of Rank-N-Contrast (official 2.0).
        rnc_tie_tolerance: SDUMC's ε in ``d_ik >= d_ij - ε`` (official RnC: 0).
        detach_teacher_fused: stop the fused term's gradient into the teacher (official: False).
        rmse_eps: ε of :func:`stable_rmse`.
    """

    teacher_mse: float = 0.5
    student_mse: float = 0.5
    text_query: float = 0.1
    text_cross: float = 0.7
    fused: float = 0.13
    rnc: float = 0.5
    rnc_temperature: float = 2.0
    rnc_tie_tolerance: float = 1e-4
    detach_teacher_fused: bool = False
    rmse_eps: float = 1e-8

    def __post_init__(self):
        for name in ("teacher_mse", "student_mse", "text_query", "text_cross", "fused", "rnc"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"SelfDistillationWeights.{name} must be a number >= 0, got {v!r}")

    @classmethod
    def argparse_defaults(cls, **overrides) -> "SelfDistillationWeights":
        """The official ``main_frame_val_text_missing.py`` argparse defaults: 0.5/0.5/0.1/0.7/0.1/0.8."""
        return dataclasses.replace(cls(fused=0.1, rnc=0.8), **overrides)

    @classmethod
    def active_shell_line(cls, **overrides) -> "SelfDistillationWeights":
        """The active line 6 of the official shell script: 0.5/0.5/0/0/0.13/0.5 (no text terms)."""
        return dataclasses.replace(cls(text_query=0.0, text_cross=0.0), **overrides)

    def replace(self, **changes) -> "SelfDistillationWeights":
        return dataclasses.replace(self, **changes)


def _get(flow: Mapping[str, Any], key: str, which: str) -> torch.Tensor:
    if key not in flow:
        raise KeyError(f"SelfDistillationLoss: the {which} output has no '{key}' (keys: {sorted(flow)})")
    return flow[key]


class SelfDistillationLoss:
    """The SDUMC objective (module docstring). ``loss(teacher, student, labels) -> (total, logs)``.

    ``teacher`` and ``student`` are :class:`msa_lib.models.UMCANet` output dicts (e.g. from
    ``model.double_flow(batch)``); ``labels`` is [B]. ``logs`` holds each unweighted term as a float
    (``teacher_mse``, ``student_mse``, ``text_query``, ``text_cross``, ``fused``, ``rnc``); terms with
    weight 0 are not computed.
    """

    def __init__(self, weights: SelfDistillationWeights | None = None):
        self.weights = weights or SelfDistillationWeights()

    def terms(self, teacher: Mapping[str, Any], student: Mapping[str, Any], labels: torch.Tensor):
        """The unweighted terms with a non-zero weight, as tensors: ``{name: scalar}``."""
        w = self.weights
        y = labels.reshape(-1).float()
        out: dict[str, torch.Tensor] = {}
        for name, flow, which in (("teacher_mse", teacher, "teacher"), ("student_mse", student, "student")):
            if getattr(w, name) > 0:
                pred = _get(flow, "pred", which).reshape(-1).float()
                if pred.shape != y.shape:
                    raise ValueError(f"SelfDistillationLoss: {which} pred has {pred.shape[0]} values, labels {y.shape[0]}")
                out[name] = F.mse_loss(pred, y)
        if w.text_query > 0:
            out["text_query"] = stable_rmse(
                _get(student, "text_query", "student").float(),
                _get(teacher, "text_query", "teacher").detach().float(), w.rmse_eps)
        if w.text_cross > 0:
            out["text_cross"] = stable_rmse(
                _get(student, "text_cross", "student").float(),
                _get(teacher, "text_cross", "teacher").detach().float(), w.rmse_eps)
        if w.fused > 0:
            target = _get(teacher, "fused", "teacher").float()
            if w.detach_teacher_fused:
                target = target.detach()
            out["fused"] = stable_rmse(_get(student, "fused", "student").float(), target, w.rmse_eps)
        if w.rnc > 0:
            views = torch.stack([_get(teacher, "proj", "teacher"), _get(student, "proj", "student")], dim=1)
            out["rnc"] = rnc_loss(views.float(), y, temperature=w.rnc_temperature,
                                  tie_tolerance=w.rnc_tie_tolerance)
        return out

    def __call__(self, teacher, student, labels):
        terms = self.terms(teacher, student, labels)
        if not terms:
            raise ValueError("SelfDistillationLoss: every weight is 0, there is nothing to optimise")
        total = sum(getattr(self.weights, name) * value for name, value in terms.items())
        logs = {name: float(value.detach()) for name, value in terms.items()}
        return total, logs
