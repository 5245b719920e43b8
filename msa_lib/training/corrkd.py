r"""CorrKD training: the teacher, the student under Modality Random Missing, baselines and ablations.

The recipe (Li et al., CVPR 2024, §3; reference/corrkd.md §1.2, §2.4, §3.1):

1. **Teacher.** A :class:`~msa_lib.models.CorrKDNet` trained on *complete* data with the task loss
   alone (:func:`train_teacher`), selected on the complete validation split, then frozen.
2. **Student.** A fresh :class:`~msa_lib.models.CorrKDNet` (same structure, separate parameters)
   trained on randomly corrupted copies of the samples the teacher sees complete
   (:func:`modality_random_missing`), with

   .. math::

       \mathcal L = \mathcal L_{task} + \lambda_{SCD}\mathcal L_{SCD} + \lambda_{CPD}\mathcal L_{CPD}
                    + \lambda_{RCD}\mathcal L_{RCD}

   (:func:`train_student`). Only the student is used at test time.

Methods (:data:`METHODS`), all with the *same* student, the same MRM and the same task loss:

============================  ===================================================================
``corrkd``                     task + SCD + CPD + RCD
``student_no_kd``              task only (no teacher): what the missingness training alone gives
``student_plain_kd``           task + vanilla logit KD + feature / output matching
                               (:func:`msa_lib.losses.corrkd.plain_kd_loss`)
``corrkd_no_scd`` / ``_cpd``   ablations: one term removed
``corrkd_no_rcd``              RCD removed (no replacement)
``corrkd_rcd_kl``              the paper's "w/o RCD" ablation: RCD replaced by vanilla KL
``corrkd_zero_missing``        CorrKD whose student gives a missing modality a zero block
                               (``CorrKDConfig.missing_modality="zero"``) instead of encoding its zero
                               input: what distillation can reach when a modality is absent
============================  ===================================================================

Decisions the paper leaves open (each documented where it is made):

* **Task loss** (:class:`CorrKDLossConfig`): L1 on the regression head (MMSA's regression loss)
  plus cross-entropy on the 7-class head (the paper's CE), weight 1 each.
* **MRM** (:class:`MRMConfig`): per sample, a uniformly drawn non-empty subset of modalities is kept
  (the complete set included), then a frame-missing rate uniform in {0.0, ..., 0.9} zeroes frames of
  the kept modalities (masks unchanged, MMSA semantics).
* **Model selection** (:class:`CorrKDTrainConfig.select_conditions`): the student is selected on the
  *validation* split by its mean MAE over a fixed mix of conditions (complete, the six CorrKD
  conditions and frame-missing 0.3 / 0.6), with frame masks drawn from a fixed seed so every epoch
  and every method is scored on the same corrupted copies. The teacher is selected on complete
  validation data. The test split is only touched by :func:`evaluate_conditions`.

**Classification data sets** (``dataset.task == "classification"``: IEMOCAP's 4 emotions). Everything is
derived from the data set (``dataset.task``, ``dataset.classes``), nothing is specific to IEMOCAP:

* teacher and student are :meth:`CorrKDNet.for_dataset` networks: one ``len(dataset.classes)``-way head, no
  regression head, ``pred`` = the argmax class id (a float, so :func:`~msa_lib.training.predict` works);
* the task loss is cross-entropy on the class id alone (no L1 term; ``classification_weight`` and
  ``regression_loss`` do not apply), and CPD's categories and RCD's target / non-target classes are the
  data set's classes (not :func:`~msa_lib.models.corrkd.sentiment_classes` bins); the plain-KD baseline drops
  its regression-output term (``pred`` is an argmax, it has no gradient);
* **model selection** uses the data set's primary metric (:func:`msa_lib.metrics.primary_metric`:
  ``Avg_F1``, the mean per-emotion weighted F1, higher is better): the teacher on the complete validation
  split, the student on its mean over ``select_conditions`` (same fixed masks). The metric the tables report
  is the one selected on, as the reference's §4 suggests ("validation F1 averaged over a fixed set of missing
  conditions"); the validation cross-entropy would be smoother but is not what is reported;
* :func:`evaluate_conditions` returns :func:`msa_lib.metrics.classification_metrics` dicts (``<emotion>_F1``,
  ``<emotion>_acc``, ``Avg_F1``, ``Avg_acc``, ``Acc_4``, ``Macro_F1``).

Regression data sets are trained exactly as before (same losses, MAE selection).
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data import (
    CORRKD_CONDITIONS,
    apply_condition,
    drop_modalities,
    frame_missing_rate,
    make_loader,
    random_frame_missing,
)
from ..losses.corrkd import RCDLoss, cpd_loss, plain_kd_loss, scd_loss
from ..metrics import DATASETS, evaluation_metrics, lower_is_better, primary_metric
from ..models.corrkd import CorrKDConfig, CorrKDNet, sentiment_classes
from .checkpoints import checkpoint_dir as default_checkpoint_dir, checkpoint_stamp, fit_or_load, stamp_key
from .core import FitConfig, fit, predict, seed_everything, select_device
from .results import result_row

__all__ = [
    "METHODS",
    "MAIN_METHODS",
    "ABLATION_METHODS",
    "MODALITY_SUBSETS",
    "teacher_checkpoint_path",
    "DEFAULT_CONDITIONS",
    "MRMConfig",
    "CorrKDLossConfig",
    "CorrKDTrainConfig",
    "modality_random_missing",
    "task_loss",
    "class_targets",
    "CorrKDStudentLoss",
    "train_teacher",
    "train_student",
    "evaluate_conditions",
    "condition_generator",
    "CorrKDRun",
    "run_corrkd",
    "CODE_MODULES",
    "method_config",
    "method_configs",
    "method_model",
    "missing_block_distance",
]

MODALITIES = ("text", "audio", "vision")
#: Every method :func:`train_student` knows.
METHODS = (
    "corrkd", "student_no_kd", "student_plain_kd",
    "corrkd_no_scd", "corrkd_no_cpd", "corrkd_no_rcd", "corrkd_rcd_kl", "corrkd_zero_missing",
)
#: CorrKD and its two baselines (the results table and the curves).
MAIN_METHODS = ("corrkd", "student_no_kd", "student_plain_kd")
#: The ablation: CorrKD without each of its three terms.
ABLATION_METHODS = ("corrkd_no_scd", "corrkd_no_cpd", "corrkd_no_rcd")
#: The 7 non-empty subsets of kept modalities, in a fixed order (MRM draws one per sample).
MODALITY_SUBSETS = (
    ("text",), ("audio",), ("vision",),
    ("text", "audio"), ("text", "vision"), ("audio", "vision"),
    ("text", "audio", "vision"),
)
#: The test conditions of notebook 05: complete, CorrKD's six, and frame-missing 0.0 ... 0.9.
DEFAULT_CONDITIONS = ("complete", *CORRKD_CONDITIONS, *[f"frame_missing_{k / 10:.1f}" for k in range(10)])


# ----------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------
@dataclass
class MRMConfig:
    r"""Modality Random Missing: how the student's training copies are corrupted (§3.1 of the reference).

    Per sample, resampled for every batch:

    1. **inter-modality**: keep the subset ``MODALITY_SUBSETS[k]`` with probability
       ``subset_weights[k] / sum(subset_weights)`` and zero the others entirely (mask all False);
       default uniform over the 7 non-empty subsets (the complete set included, so 1 in 7 training
       copies is complete);
    2. **intra-modality**: draw a rate r uniformly from ``frame_rates`` (default 0.0, 0.1, ..., 0.9)
       and drop every real frame of the kept modalities with probability r (zeroed, mask unchanged:
       MMSA semantics; ``hide_dropped=True`` also hides them from the mask).

    The paper reports neither the probabilities nor the ranges ("replaces selected frame features
    with zero vectors and can remove whole modalities"); uniform choices favour no condition.
    CMAD's weights, for comparison: ``(2, 3, 3, 1, 1, 3, 1)``.
    """

    subset_weights: tuple[float, ...] = (1.0,) * 7
    frame_rates: tuple[float, ...] = tuple(k / 10 for k in range(10))
    hide_dropped: bool = False

    def __post_init__(self):
        self.subset_weights = tuple(float(w) for w in self.subset_weights)
        self.frame_rates = tuple(float(r) for r in self.frame_rates)
        if len(self.subset_weights) != len(MODALITY_SUBSETS):
            raise ValueError(
                f"MRMConfig.subset_weights needs {len(MODALITY_SUBSETS)} weights (one per subset in "
                f"MODALITY_SUBSETS), got {len(self.subset_weights)}"
            )
        if any(w < 0 for w in self.subset_weights) or sum(self.subset_weights) <= 0:
            raise ValueError(f"MRMConfig.subset_weights must be >= 0 with a positive sum, got {self.subset_weights}")
        if not self.frame_rates or any(not 0.0 <= r <= 1.0 for r in self.frame_rates):
            raise ValueError(f"MRMConfig.frame_rates must be non-empty rates in [0, 1], got {self.frame_rates}")


@dataclass
class CorrKDLossConfig:
    """Weights and settings of the student's losses (defaults: every weight 1, as the paper sums them).

    Attributes:
        regression_loss: ``"l1"`` (MMSA's regression loss; default) or ``"mse"`` (HRLF's).
        classification_weight: weight of the 7-class cross-entropy in the task loss.
        lambda_scd, lambda_cpd, lambda_rcd: weights of the three distillation terms.
        margin: SCD's margin eta (on L2-normalised representations; tune in {0.5, 1, 2}).
        scd_normalize: L2-normalise h before SCD (see :func:`msa_lib.losses.scd_loss`).
        cpd_prototypes: ``"own"`` or ``"teacher"`` (see :func:`msa_lib.losses.cpd_loss`).
        rcd_temperature, rcd_hidden, rcd_negatives: see :class:`msa_lib.losses.RCDLoss`.
        kd_temperature, kd_feature_weight, kd_regression_weight: the ``student_plain_kd`` baseline.
    """

    regression_loss: str = "l1"
    classification_weight: float = 1.0
    lambda_scd: float = 1.0
    lambda_cpd: float = 1.0
    lambda_rcd: float = 1.0
    margin: float = 1.0
    scd_normalize: bool = True
    cpd_prototypes: str = "own"
    rcd_temperature: float = 1.0
    rcd_hidden: int = 128
    rcd_negatives: str = "all"
    kd_temperature: float = 1.0
    kd_feature_weight: float = 1.0
    kd_regression_weight: float = 1.0

    def __post_init__(self):
        if self.regression_loss not in ("l1", "mse"):
            raise ValueError(f"CorrKDLossConfig.regression_loss must be 'l1' or 'mse', got {self.regression_loss!r}")


@dataclass
class CorrKDTrainConfig:
    """Everything a CorrKD run needs (defaults = full mode; :meth:`quick` for notebooks on a CPU).

    Attributes:
        model: the :class:`~msa_lib.models.CorrKDConfig` of teacher and student.
        losses: :class:`CorrKDLossConfig`.
        mrm: :class:`MRMConfig`.
        epochs, teacher_epochs: maximum epochs of student / teacher (HRLF's MOSEI: 20).
        batch_size: training batch (HRLF's MOSEI: 16; MOSI: 128).
        eval_batch_size: batch for validation and test.
        lr, weight_decay, grad_clip: Adam(W) settings (HRLF's MOSEI lr: 2e-3; no weight decay).
        patience: early stopping on the validation score.
        select_conditions: the fixed validation mix the student is selected on (mean MAE).
        select_seed: seed of the frame masks of that mix (the same masks every epoch and method).
        condition_kwargs: passed to :func:`~msa_lib.data.random_frame_missing` by the frame-missing
            conditions of selection and test (e.g. ``{"keep_text_ends": True}`` for MMSA BERT text).
        device, amp, progress: see :class:`~msa_lib.training.FitConfig`.
    """

    model: CorrKDConfig = field(default_factory=CorrKDConfig)
    losses: CorrKDLossConfig = field(default_factory=CorrKDLossConfig)
    mrm: MRMConfig = field(default_factory=MRMConfig)
    epochs: int = 20
    teacher_epochs: int = 20
    batch_size: int = 16
    eval_batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    patience: int = 6
    select_conditions: tuple[str, ...] = ("complete", *CORRKD_CONDITIONS, "frame_missing_0.3", "frame_missing_0.6")
    select_seed: int = 2024
    condition_kwargs: dict = field(default_factory=dict)
    device: str | None = None
    amp: bool = True
    progress: bool = True

    @classmethod
    def full(cls, **overrides) -> "CorrKDTrainConfig":
        """Full mode (GPU): d = 40, 8 heads, 3 layers, 20 epochs, batch 16, lr 2e-3 (HRLF's MOSEI)."""
        return cls(**overrides)

    @classmethod
    def quick(cls, **overrides) -> "CorrKDTrainConfig":
        """Quick mode (CPU, a few seconds per model on the quick synthetic set): d = 16, 4 heads,
        1 layer, 2 student epochs (3 for the teacher), batch 64, lr 3e-3, a 3-condition selection mix.
        Enough to run every step and draw every figure; too short to rank methods."""
        base = dict(
            model=CorrKDConfig(d_model=16, n_heads=4, n_layers=1),
            losses=CorrKDLossConfig(rcd_hidden=32),
            epochs=2, teacher_epochs=3, batch_size=64, lr=3e-3, patience=2,
            select_conditions=("complete", "audio+vision", "frame_missing_0.5"),
        )
        base.update(overrides)
        return cls(**base)


# ----------------------------------------------------------------------------------------------
# Modality Random Missing and the losses
# ----------------------------------------------------------------------------------------------
def modality_random_missing(
    batch: Mapping, generator: torch.Generator | None = None, config: MRMConfig | None = None
) -> dict:
    """CorrKD's training-time corruption (:class:`MRMConfig`); returns a new batch dict.

    Adds ``kept_subset`` (long [B], the index into :data:`MODALITY_SUBSETS`) and
    ``frame_missing_rate`` (float [B]) so plots can show what each sample lost. Randomness: one
    draw of subsets, one of rates, then one ``[B, T_m]`` draw per modality, all from ``generator``.
    """
    config = config or MRMConfig()
    b = batch["label"].shape[0]
    gen_device = generator.device if generator is not None else torch.device("cpu")
    weights = torch.tensor(config.subset_weights, dtype=torch.float32, device=gen_device)
    subset = torch.multinomial(weights, b, replacement=True, generator=generator)
    keep = torch.tensor(
        [[m in s for m in MODALITIES] for s in MODALITY_SUBSETS], dtype=torch.bool, device=gen_device
    )[subset]  # [B, 3]
    out = drop_modalities(batch, {m: ~keep[:, k] for k, m in enumerate(MODALITIES)})
    rates_table = torch.tensor(config.frame_rates, dtype=torch.float32, device=gen_device)
    rates = rates_table[torch.randint(len(config.frame_rates), (b,), generator=generator, device=gen_device)]
    out = random_frame_missing(out, rates, generator=generator, modalities=MODALITIES,
                               hide_dropped=config.hide_dropped)
    device = batch["label"].device
    out["kept_subset"] = subset.to(device)
    out["frame_missing_rate"] = rates.to(device)
    return out


def class_targets(batch: Mapping, task: str, num_classes: int, label_range: float = 3.0) -> torch.Tensor:
    """The category of every sample, long [B]: the label itself (a class id) for ``task="classification"``,
    else :func:`~msa_lib.models.corrkd.sentiment_classes` of the sentiment score (CPD's and RCD's classes)."""
    if task == "classification":
        return batch["label"].reshape(-1).round().long()
    return sentiment_classes(batch["label"], num_classes, label_range)


def task_loss(out: Mapping, batch: Mapping, config: CorrKDLossConfig, num_classes: int,
              label_range: float = 3.0, *, task: str = "regression") -> tuple[torch.Tensor, dict[str, float]]:
    r"""The task loss of teacher and student: :math:`|\hat y - y|` (or squared) + w CE(o, c(y)).

    ``c(y)`` = :func:`~msa_lib.models.corrkd.sentiment_classes` (7 classes by default). With
    ``task="classification"`` the loss is CE(o, y) on the class id alone (logs ``task_ce`` only).
    """
    if task == "classification":
        ce = F.cross_entropy(out["logits"].float(), class_targets(batch, task, num_classes))
        return ce, {"task_ce": float(ce.detach())}
    y = batch["label"].reshape(-1).float()
    pred = out["pred"].float()
    reg = F.l1_loss(pred, y) if config.regression_loss == "l1" else F.mse_loss(pred, y)
    ce = F.cross_entropy(out["logits"].float(), sentiment_classes(y, num_classes, label_range))
    loss = reg + config.classification_weight * ce
    return loss, {"task_reg": float(reg.detach()), "task_ce": float(ce.detach())}


def _method_terms(method: str) -> dict[str, Any]:
    if method not in METHODS:
        raise ValueError(f"unknown CorrKD method {method!r}; choose one of {list(METHODS)}")
    corr = method.startswith("corrkd")
    return {
        "teacher": method != "student_no_kd",
        "scd": corr and method != "corrkd_no_scd",
        "cpd": corr and method != "corrkd_no_cpd",
        "rcd": "kl" if method == "corrkd_rcd_kl" else (corr and method != "corrkd_no_rcd"),
        "plain_kd": method == "student_plain_kd",
    }


class CorrKDStudentLoss:
    """``loss_fn(student, batch) -> (loss, logs)`` for :func:`msa_lib.training.fit`.

    The batch arrives complete: the frozen teacher sees it as is (under ``no_grad``), the student
    sees :func:`modality_random_missing` of it, drawn from this object's own generator (seeded, so
    the same seed gives the same corruptions). The RCD critics live in ``self.rcd`` and must be
    optimised with the student (:func:`train_student` does).

    ``classes`` (a classification data set's ``dataset.classes``) switches to the classification task:
    cross-entropy on the class id, CPD / RCD over those classes (see the module docstring).
    """

    def __init__(self, method: str, teacher: CorrKDNet | None, config: CorrKDTrainConfig,
                 seed: int = 0, label_range: float = 3.0, *, classes: Sequence[str] | None = None):
        self.method = method
        self.terms = _method_terms(method)
        if self.terms["teacher"] and teacher is None:
            raise ValueError(f"method {method!r} distils from a teacher: pass teacher=")
        self.teacher = teacher
        self.config = config
        self.label_range = float(label_range)
        self.task = "classification" if classes else "regression"
        self.num_classes = len(classes) if classes else config.model.num_classes
        self.generator = torch.Generator().manual_seed(int(seed) + 7919)
        lc = config.losses
        self.rcd = None
        if self.terms["rcd"]:
            self.rcd = RCDLoss(
                num_classes=self.num_classes, hidden=lc.rcd_hidden, temperature=lc.rcd_temperature,
                negatives=lc.rcd_negatives, mode="kl" if self.terms["rcd"] == "kl" else "mi",
                generator=torch.Generator().manual_seed(int(seed) + 104729),
            )
        if teacher is not None:
            teacher.eval()
            for p in teacher.parameters():
                p.requires_grad_(False)

    def parameters(self):
        """Trainable parameters of the loss itself (the RCD critics)."""
        return list(self.rcd.parameters()) if self.rcd is not None else []

    def to(self, device):
        if self.rcd is not None:
            self.rcd.to(device)
        if self.teacher is not None:
            self.teacher.to(device)
        return self

    def __call__(self, student: CorrKDNet, batch: Mapping) -> tuple[torch.Tensor, dict[str, float]]:
        lc = self.config.losses
        teacher_out = None
        if self.terms["teacher"]:
            with torch.no_grad():
                self.teacher.eval()
                teacher_out = self.teacher(batch)
        corrupted = modality_random_missing(batch, self.generator, self.config.mrm)
        out = student(corrupted)
        loss, logs = task_loss(out, batch, lc, self.num_classes, self.label_range, task=self.task)
        classes = class_targets(batch, self.task, self.num_classes, self.label_range)
        if self.terms["scd"]:
            l_scd = scd_loss(out["joint"].float(), teacher_out["joint"].float(), lc.margin, normalize=lc.scd_normalize)
            loss = loss + lc.lambda_scd * l_scd
            logs["scd"] = float(l_scd.detach())
        if self.terms["cpd"]:
            l_cpd = cpd_loss(out["joint"].float(), teacher_out["joint"].float(), classes, prototypes=lc.cpd_prototypes)
            loss = loss + lc.lambda_cpd * l_cpd
            logs["cpd"] = float(l_cpd.detach())
        if self.rcd is not None:
            self.rcd.train()
            l_rcd = self.rcd(out["logits"].float(), teacher_out["logits"].float(), classes)
            loss = loss + lc.lambda_rcd * l_rcd
            logs["rcd"] = float(l_rcd.detach())
            logs.update(self.rcd.last_logs)
        if self.terms["plain_kd"]:
            l_kd, kd_logs = plain_kd_loss(
                out, teacher_out, temperature=lc.kd_temperature,
                feature_weight=lc.kd_feature_weight,
                regression_weight=lc.kd_regression_weight if self.task == "regression" else 0.0,
            )
            loss = loss + l_kd
            logs.update(kd_logs)
        return loss, logs


# ----------------------------------------------------------------------------------------------
# evaluation under conditions
# ----------------------------------------------------------------------------------------------
def condition_generator(condition: str, seed: int = 0) -> torch.Generator:
    """The generator of a condition's frame masks: fixed by (condition, seed), so every method and
    every epoch is scored on the same corrupted copies."""
    return torch.Generator().manual_seed((zlib.crc32(condition.encode()) + 1_000_003 * int(seed)) % 2**63)


def _check_condition(condition: str) -> None:
    if condition in ("complete", "text_missing") or condition in CORRKD_CONDITIONS:
        return
    if not isinstance(condition, str) or frame_missing_rate(condition) is None:
        raise ValueError(
            f"unknown condition {condition!r}; use 'complete', 'text_missing', one of {CORRKD_CONDITIONS} "
            "or 'frame_missing_<rate>' (e.g. 'frame_missing_0.3')"
        )


def _condition_transform(condition: str, seed: int, condition_kwargs: Mapping | None = None) -> Callable[[dict], dict]:
    _check_condition(condition)
    if condition == "complete":
        return lambda batch: batch
    if condition.startswith("frame_missing_"):
        generator, kw = condition_generator(condition, seed), dict(condition_kwargs or {})
        return lambda batch: apply_condition(batch, condition, generator=generator, **kw)
    return lambda batch: apply_condition(batch, condition)


@torch.no_grad()
def missing_block_distance(student: CorrKDNet, teacher: CorrKDNet, split, *, batch_size: int = 256,
                           modalities: Sequence[str] = MODALITIES) -> dict[str, float]:
    r"""How close the student's block of a *missing* modality comes to the teacher's, where SCD compares them.

    SCD compares L2-normalised joint representations :math:`\hat h = h / \lVert h \rVert`. For each modality m
    and every utterance i of ``split``, with :math:`\hat h^s_i` the student's when m is removed
    (:func:`~msa_lib.data.drop_modalities`), :math:`\hat h^t_i` the teacher's on the complete utterance, and
    :math:`[\cdot]_m` the block of m:

    .. math::

        \delta_m = \frac{\sum_i \lVert [\hat h^s_i]_m - [\hat h^t_i]_m \rVert^2}{\sum_i \lVert [\hat h^t_i]_m \rVert^2}

    A zero block (``missing_modality="zero"``) gives exactly 1: the block adds nothing to the match, and no loss
    can change that. Below 1, the block of an absent modality has moved toward the teacher's; the gap between
    CorrKD and ``student_no_kd`` (same network, no teacher, so no reason to align with it) is what SCD and CPD
    transfer into it. An encoded block is the same vector for every utterance, so the teacher's mean block
    bounds how far it can go.

    Returns ``{modality: delta_m}``. Needs ``fusion="concat"`` (with ``"mlp"`` the blocks mix).
    """
    for net in (student, teacher):
        if net.config.fusion != "concat":
            raise ValueError("missing_block_distance: the blocks of h are only separate with fusion='concat'")
    d = student.config.d_model
    block = {m: slice(k * d, (k + 1) * d) for k, m in enumerate(student.config.modalities)}
    device = next(student.parameters()).device
    was = student.training, teacher.training
    student.eval()
    teacher.eval()
    num = {m: 0.0 for m in modalities}
    den = {m: 0.0 for m in modalities}
    try:
        for batch in make_loader(split, batch_size):
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            ref = F.normalize(teacher.encode(batch)["joint"].float(), dim=-1)
            for m in modalities:
                got = F.normalize(student.encode(drop_modalities(batch, m))["joint"].float(), dim=-1)
                num[m] += float((got[:, block[m]] - ref[:, block[m]]).pow(2).sum())
                den[m] += float(ref[:, block[m]].pow(2).sum())
    finally:
        student.train(was[0])
        teacher.train(was[1])
    return {m: num[m] / den[m] if den[m] > 0 else float("nan") for m in modalities}


def evaluate_conditions(
    model: torch.nn.Module,
    dataset,
    conditions: Sequence[str] = DEFAULT_CONDITIONS,
    *,
    split: str = "test",
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    loader=None,
    condition_kwargs: Mapping | None = None,
    predictions: dict | None = None,
) -> dict[str, dict[str, float]]:
    """The metrics of ``model`` on ``dataset[split]`` under each named condition: MMSA's regression metrics,
    or :func:`~msa_lib.metrics.classification_metrics` for a classification data set
    (:func:`~msa_lib.metrics.evaluation_metrics` dispatches on ``dataset.metric_dataset``).

    Frame-missing masks come from :func:`condition_generator` (condition, ``seed``): two models
    evaluated with one seed see the same corrupted test copies. ``condition_kwargs`` go to
    :func:`~msa_lib.data.random_frame_missing` for the frame-missing conditions, e.g.
    ``{"keep_text_ends": True}`` to never drop BERT's [CLS]/[SEP] on MMSA pickles, as MMSA does.
    Returns ``{condition: metrics}``; ``predictions``, when given, receives ``{condition: pred}`` (NumPy [N]
    in the split's order: scores, or class ids for a classification data set).
    """
    for c in conditions:
        _check_condition(c)
    loader = loader or make_loader(dataset[split], batch_size)
    device = select_device(device) if device is not None else next(model.parameters()).device
    results = {}
    for c in conditions:
        pred, true = predict(model, loader, transform=_condition_transform(c, seed, condition_kwargs), device=device)
        results[c] = evaluation_metrics(pred, true, dataset)
        if predictions is not None:
            predictions[c] = np.asarray(pred, np.float32)
    return results


def _select_fn(conditions: Sequence[str], seed: int, metric_dataset, condition_kwargs=None,
               metric: str = "MAE") -> Callable:
    """The student's validation score: the mean of ``metric`` over ``conditions`` (``metric_dataset``: a
    metric-data-set name or the data set)."""
    def select(model, valid_loader) -> float:
        scores = []
        for c in conditions:
            pred, true = predict(model, valid_loader, transform=_condition_transform(c, seed, condition_kwargs))
            scores.append(evaluation_metrics(pred, true, metric_dataset)[metric])
        return float(np.mean(scores))

    return select


def _is_classification(dataset) -> bool:
    return getattr(dataset, "task", "regression") == "classification"


def _dataset_classes(dataset) -> tuple[str, ...] | None:
    """The class names of a classification data set (what the networks' heads and CPD / RCD use), else None."""
    if not _is_classification(dataset):
        return None
    classes = tuple(getattr(dataset, "classes", ()) or ())
    if len(classes) < 2:
        raise ValueError(f"{getattr(dataset, 'name', 'dataset')}: a classification data set needs >= 2 classes, got {classes}")
    return classes


def _selection(dataset) -> tuple[str, str]:
    """(metric, "min" | "max") the teacher and the student are selected on: MAE for regression (as
    before), the primary metric (``Avg_F1``) for classification."""
    if not _is_classification(dataset):
        return "MAE", "min"
    metric = primary_metric(dataset)
    return metric, "min" if lower_is_better(metric) else "max"


# ----------------------------------------------------------------------------------------------
# training entry points
# ----------------------------------------------------------------------------------------------
def label_range(dataset) -> float:
    """The largest absolute sentiment score (3 for MOSI / MOSEI, 1 for CH-SIMS(v2)), which scales the
    sentiment bins; 3.0 (unused) for a classification data set or an unknown metric name."""
    if _is_classification(dataset):
        return 3.0
    family = DATASETS.get(str(getattr(dataset, "metric_dataset", "mosei")).lower(), "mosei")
    return 1.0 if family == "sims" else 3.0


_label_range = label_range  # the name the trainer uses


#: The modules whose code decides a CorrKD-family model's weights and scores (checkpoints and results files
#: record their :func:`msa_lib.provenance.code_version`).
CODE_MODULES = (
    "msa_lib.models.corrkd", "msa_lib.models._blocks", "msa_lib.losses.corrkd", "msa_lib.losses.precision", "msa_lib.training.corrkd",
    "msa_lib.training.core", "msa_lib.data.loader", "msa_lib.data.missing", "msa_lib.metrics",
)


def _config_key(config: CorrKDTrainConfig) -> dict:
    """The settings that change the trained weights (not where or how verbosely they are computed)."""
    key = dataclasses.asdict(config)
    for name in ("device", "progress", "eval_batch_size"):
        key.pop(name)
    return key


def method_model(method: str, config: CorrKDTrainConfig) -> CorrKDConfig:
    """The network configuration ``method``'s student is built with: ``config.model``, except for
    ``corrkd_zero_missing`` (``missing_modality="zero"``)."""
    _method_terms(method)
    if method == "corrkd_zero_missing":
        return dataclasses.replace(config.model, missing_modality="zero")
    return config.model


def method_config(method: str, config: CorrKDTrainConfig) -> dict[str, Any]:
    """The full resolved configuration of ``method`` (``"teacher"`` or one of :data:`METHODS`) under ``config``.

    The teacher depends on the model, the task losses and the optimisation, not on the student's MRM,
    distillation weights or selection conditions; a student without teacher (``student_no_kd``) does not
    depend on ``teacher_epochs``.
    """
    if method == "teacher":
        return {"method": "teacher", "model": dataclasses.asdict(config.model),
                "losses": dataclasses.asdict(config.losses), "epochs": config.teacher_epochs,
                "batch_size": config.batch_size, "lr": config.lr, "weight_decay": config.weight_decay,
                "grad_clip": config.grad_clip, "patience": config.patience, "amp": config.amp}
    key = _config_key(config)
    key["model"] = dataclasses.asdict(method_model(method, config))
    if not _method_terms(method)["teacher"]:
        key.pop("teacher_epochs")
    return {"method": method, **key}


def method_configs(config: CorrKDTrainConfig, methods: Sequence[str] = ("teacher", *MAIN_METHODS)) -> dict[str, dict]:
    """``{method: method_config(method, config)}``: the ``configs`` of a results file."""
    return {m: method_config(m, config) for m in methods}


def _stamp(method: str, dataset, seed: int, config: CorrKDTrainConfig, teacher_seed: int | None = None) -> dict:
    settings = {"seed": int(seed), **method_config(method, config)}
    if method != "teacher" and _method_terms(method)["teacher"]:
        settings["teacher_seed"] = int(seed if teacher_seed is None else teacher_seed)
    return checkpoint_stamp(config=settings, dataset=dataset, code_modules=CODE_MODULES)


def _checkpoint_path(checkpoint_dir, kind: str, stamp: dict) -> Path | None:
    if checkpoint_dir is False:
        return None
    root = Path(checkpoint_dir) if checkpoint_dir not in (None, True) else default_checkpoint_dir()
    return root / f"corrkd_{kind}_{stamp_key(stamp)}.pt"


def _fit_config(config: CorrKDTrainConfig, epochs: int, seed: int, dataset=None) -> FitConfig:
    metric, mode = _selection(dataset) if dataset is not None else ("MAE", "min")
    return FitConfig(
        epochs=epochs, lr=config.lr, weight_decay=config.weight_decay, grad_clip=config.grad_clip,
        patience=config.patience, select_metric=metric, select_mode=mode, amp=config.amp,
        device=config.device, progress=config.progress, seed=seed,
    )


def teacher_checkpoint_path(dataset, seed: int, config: CorrKDTrainConfig,
                            checkpoint_dir: str | Path | bool | None = None) -> Path | None:
    """Where :func:`train_teacher` saves (and looks for) the teacher of ``seed`` under ``config``; the name
    hashes its stamp (every setting that changes its weights, the data's content fingerprint and the code
    version). ``None`` when ``checkpoint_dir`` is False."""
    return _checkpoint_path(checkpoint_dir, "teacher", _stamp("teacher", dataset, seed, config))


def train_teacher(
    dataset,
    seed: int = 0,
    quick: bool = True,
    config: CorrKDTrainConfig | None = None,
    *,
    checkpoint_dir: str | Path | bool | None = None,
    retrain: bool = False,
) -> tuple[CorrKDNet, dict | None]:
    """Train (or load) the CorrKD teacher: complete data, task loss, selected on complete valid MAE
    (the primary metric, ``Avg_F1``, for a classification data set; see the module docstring).

    Args:
        dataset: an :class:`~msa_lib.data.MSADataset`.
        seed: seeds the weights, the shuffling and the dropout.
        quick: :meth:`CorrKDTrainConfig.quick` when ``config`` is None, else ``full``.
        checkpoint_dir: ``None`` = :func:`~msa_lib.training.checkpoint_dir`; a folder; ``False`` =
            never save or load. The file name hashes every setting that matters.
        retrain: train even when a checkpoint exists.

    Returns:
        ``(teacher, history)``: the frozen teacher in eval mode, and the FitResult as a dict
        (``history`` key: one row per epoch), or whatever the checkpoint holds.
    """
    config = config or (CorrKDTrainConfig.quick() if quick else CorrKDTrainConfig.full())
    seed_everything(seed)
    teacher = CorrKDNet.for_dataset(dataset, config.model)
    stamp = _stamp("teacher", dataset, seed, config)
    path = _checkpoint_path(checkpoint_dir, "teacher", stamp)
    lc, n_cls, label_range = config.losses, teacher.num_classes, _label_range(dataset)
    task = teacher.task

    def loss_fn(model, batch):
        return task_loss(model(batch), batch, lc, n_cls, label_range, task=task)

    def train():
        return fit(
            teacher,
            make_loader(dataset["train"], config.batch_size, shuffle=True, seed=seed),
            make_loader(dataset["valid"], config.eval_batch_size),
            loss_fn, config=_fit_config(config, config.teacher_epochs, seed, dataset),
            metric_dataset=dataset if _is_classification(dataset) else dataset.metric_dataset,
        )

    _, history = fit_or_load(path, teacher, train, retrain=retrain, stamp=stamp)
    teacher.to(select_device(config.device)).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher, history


def train_student(
    method: str,
    dataset,
    teacher: CorrKDNet | None,
    seed: int = 0,
    quick: bool = True,
    config: CorrKDTrainConfig | None = None,
    *,
    checkpoint_dir: str | Path | bool | None = None,
    retrain: bool = False,
    teacher_seed: int | None = None,
) -> tuple[CorrKDNet, dict | None]:
    """Train (or load) a student with ``method`` (one of :data:`METHODS`) under MRM.

    The student is selected on the validation split by the mean MAE over
    ``config.select_conditions`` (fixed frame masks, seed ``config.select_seed``); by the mean primary
    metric (``Avg_F1``, higher is better) for a classification data set. ``teacher`` may be
    None only for ``student_no_kd``. ``teacher_seed`` (default ``seed``) enters the checkpoint name.

    Returns ``(student, history)`` as :func:`train_teacher`.
    """
    config = config or (CorrKDTrainConfig.quick() if quick else CorrKDTrainConfig.full())
    terms = _method_terms(method)
    seed_everything(seed)
    student = CorrKDNet.for_dataset(dataset, method_model(method, config))
    device = select_device(config.device)
    loss = CorrKDStudentLoss(method, teacher if terms["teacher"] else None, config, seed=seed,
                             label_range=_label_range(dataset), classes=_dataset_classes(dataset)).to(device)
    metrics_of = dataset if _is_classification(dataset) else dataset.metric_dataset
    select_metric, _ = _selection(dataset)
    stamp = _stamp(method, dataset, seed, config, teacher_seed)
    path = _checkpoint_path(checkpoint_dir, method, stamp)

    def train():
        params = list(student.parameters()) + loss.parameters()
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        return fit(
            student,
            make_loader(dataset["train"], config.batch_size, shuffle=True, seed=seed),
            make_loader(dataset["valid"], config.eval_batch_size),
            loss, config=_fit_config(config, config.epochs, seed, dataset), optimizer=optimizer,
            metric_dataset=metrics_of,
            select_fn=_select_fn(config.select_conditions, config.select_seed, metrics_of,
                                 config.condition_kwargs, metric=select_metric),
        )

    _, history = fit_or_load(path, student, train, retrain=retrain, stamp=stamp)
    student.to(device).eval()
    return student, history


# ----------------------------------------------------------------------------------------------
# one call for a whole experiment
# ----------------------------------------------------------------------------------------------
@dataclass
class CorrKDRun:
    """What :func:`run_corrkd` returns.

    Attributes:
        rows: :func:`~msa_lib.training.result_row` dicts (method, condition, seed, metrics), ready for
            :func:`~msa_lib.training.write_results`; method ``"teacher"`` rows are the complete-data
            teacher under the same conditions.
        teachers: seed → teacher; students: (method, seed) → student.
        histories: (method, seed) → FitResult dict (``"teacher"`` included).
        seconds: (method, seed) → wall-clock training (or loading) time.
        predictions: (method, condition, seed) → test predictions [N] (for :mod:`msa_lib.stats`).
    """

    rows: list = field(default_factory=list)
    teachers: dict = field(default_factory=dict)
    students: dict = field(default_factory=dict)
    histories: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)

    def write(self, name: str, dataset, *, config: "CorrKDTrainConfig", quick: bool, seeds: Sequence[int],
              command: str, extra: Mapping | None = None):
        """:func:`~msa_lib.training.write_results` for this run, with the provenance the staleness check needs:
        the resolved config of every method in the rows (:func:`method_configs`), :data:`CODE_MODULES`, the data
        set (fingerprinted), every model's per-epoch history, the training times and the test predictions.
        Returns the path written."""
        from .results import write_results

        methods = list(dict.fromkeys(r["method"] for r in self.rows))
        return write_results(name, self.rows, quick=quick, seeds=seeds, dataset=dataset, command=command,
                             configs=method_configs(config, methods), code_modules=CODE_MODULES,
                             histories={k: v for k, v in self.histories.items() if v is not None},
                             seconds=self.seconds, predictions=self.predictions,
                             wall_seconds=sum(self.seconds.values()), extra=extra)


def run_corrkd(
    dataset,
    methods: Sequence[str] = MAIN_METHODS,
    seeds: Sequence[int] = (0, 1),
    *,
    quick: bool = True,
    config: CorrKDTrainConfig | None = None,
    conditions: Sequence[str] = DEFAULT_CONDITIONS,
    evaluate_teacher: bool = True,
    checkpoint_dir: str | Path | bool | None = None,
    retrain: bool = False,
    run: CorrKDRun | None = None,
) -> CorrKDRun:
    """Teacher per seed, then every method's student per seed, each evaluated on the test split
    under every condition (the same seeded masks for all methods of a seed).

    Pass a previous ``run`` to add methods to it: its teachers are reused (a teacher put into
    ``run.teachers[seed]`` by hand is used as is), and the teacher of a seed is evaluated once.
    """
    config = config or (CorrKDTrainConfig.quick() if quick else CorrKDTrainConfig.full())
    run = run or CorrKDRun()
    for m in methods:
        _method_terms(m)
    test_loader = make_loader(dataset["test"], config.eval_batch_size)
    for seed in seeds:
        seed = int(seed)
        teacher = run.teachers.get(seed)
        if teacher is None and (evaluate_teacher or any(_method_terms(m)["teacher"] for m in methods)):
            started = time.perf_counter()
            teacher, hist = train_teacher(dataset, seed, quick, config, checkpoint_dir=checkpoint_dir, retrain=retrain)
            run.teachers[seed], run.histories[("teacher", seed)] = teacher, hist
            run.seconds[("teacher", seed)] = time.perf_counter() - started
        done = {(r["method"], r["seed"]) for r in run.rows}
        if evaluate_teacher and teacher is not None and ("teacher", seed) not in done:
            preds: dict = {}
            for c, metrics in evaluate_conditions(teacher, dataset, conditions, seed=seed, loader=test_loader,
                                                   condition_kwargs=config.condition_kwargs,
                                                   predictions=preds).items():
                run.rows.append(result_row("teacher", c, seed, metrics))
                run.predictions[("teacher", c, seed)] = preds[c]
        for method in methods:
            started = time.perf_counter()
            student, hist = train_student(method, dataset, teacher, seed, quick, config,
                                          checkpoint_dir=checkpoint_dir, retrain=retrain)
            run.students[(method, seed)], run.histories[(method, seed)] = student, hist
            run.seconds[(method, seed)] = time.perf_counter() - started
            preds = {}
            for c, metrics in evaluate_conditions(student, dataset, conditions, seed=seed, loader=test_loader,
                                                   condition_kwargs=config.condition_kwargs,
                                                   predictions=preds).items():
                run.rows.append(result_row(method, c, seed, metrics))
                run.predictions[(method, c, seed)] = preds[c]
    return run
