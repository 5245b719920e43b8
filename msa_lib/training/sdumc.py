r"""Training SDUMC and its baselines: the double-flow trainer, model selection, evaluation.

Methods (``METHODS``; all share :class:`msa_lib.models.UMCANet`):

=====================  =================================================================================
``teacher``            UMCA trained on complete data only (real text), one flow, MSE. No MIA.
``modality_dropout``   UMCA trained with *text dropout*: for each training sample, with probability
                       ``text_dropout_rate`` the real text is replaced by the simulated text. One flow,
                       MSE, no MIA. The usual robustness baseline: it sees both kinds of text, but
                       nothing ties the two representations together.
``sdumc``              the double flow (teacher flow on real text, student flow on simulated text, shared
                       weights, one optimiser step) with the full loss of
                       :class:`msa_lib.losses.SelfDistillationLoss` and MIA on the student flow.
``sdumc_no_mia``       ``sdumc`` without the MIA autoencoders (the official code's actual setting).
``sdumc_no_rnc``       ``sdumc`` with the Rank-N-Contrast weight set to 0.
=====================  =================================================================================

``teacher_zero_text`` is not trained: it is the ``teacher`` model evaluated with the text *removed*
(features zeroed and masked) under ``text_missing`` — what a complete-data model does when the text
is simply gone, without simulated text. Its ``complete`` condition is the teacher's complete one.

**Model selection** (validation split only; the test split is never seen during training):

* ``teacher``: valid MAE on complete data (it is meant for complete data);
* every other method: the **mean of the valid MAE under ``complete`` and under ``text_missing``**,
  one epoch for both conditions. The official code picks the best *test* epoch for each condition
  separately; ours is one model that must serve both, chosen without the test set.

**Optimisation** follows the official script (Adam, coupled L2 weight decay, linear warm-up for
``warmup_epochs`` then ×``decay_factor`` every ``decay_every`` epochs, stepped once per epoch), with
shuffled batches and seeds (the official code has neither), and early stopping on the selection
score (``patience``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data import apply_condition, drop_modalities, make_loader, require_task
from ..losses.sdumc import SelfDistillationLoss, SelfDistillationWeights
from ..metrics import regression_metrics
from ..models.umca import UMCAConfig, UMCANet
from .checkpoints import checkpoint_dir, checkpoint_stamp, fit_or_load, stamp_key
from .core import FitConfig, FitResult, fit, predict, seed_everything, select_device
from .results import result_row

#: Methods :func:`train_method` trains.
METHODS = ("teacher", "modality_dropout", "sdumc", "sdumc_no_mia", "sdumc_no_rnc")
#: Methods :func:`evaluate_method` / the results file know (``teacher_zero_text`` reuses the teacher).
EVAL_METHODS = ("teacher", "teacher_zero_text", "modality_dropout", "sdumc", "sdumc_no_mia", "sdumc_no_rnc")
#: The two test conditions of SDUMC.
SDUMC_CONDITIONS = ("complete", "text_missing")


@dataclass
class SDUMCTrainConfig:
    """Hyper-parameters of one training run. :meth:`full` = the official recipe, :meth:`quick` = a
    CPU-sized run for the notebooks' quick mode.

    Attributes:
        epochs: maximum epochs (official active shell line: 25).
        batch_size: training batch size (official: 96).
        eval_batch_size: batch size for validation / test passes (results do not depend on it: masks).
        lr: Adam learning rate (official 1e-4).
        weight_decay: Adam's coupled L2 weight decay (official 1e-5).
        warmup_epochs: linear warm-up length, factor ``(e+1)/warmup_epochs`` (official 5).
        decay_every, decay_factor: then ×``decay_factor`` every ``decay_every`` epochs (official 10, 0.9).
        patience: early stopping on the selection score (the official code has none: 25 = off).
        grad_clip: global gradient-norm clipping (official: none).
        model: the :class:`UMCAConfig` (``use_mia`` is set per method by :meth:`for_method`).
        weights: the :class:`SelfDistillationWeights` of the SDUMC loss.
        text_dropout_rate: ``modality_dropout``: probability to replace a sample's text by the
            simulated text during training (0.5: each kind of text half of the time, as in the
            double flow).
        amp: bf16 autocast on CUDA.
    """

    epochs: int = 25
    batch_size: int = 96
    eval_batch_size: int = 256
    lr: float = 1e-4
    weight_decay: float = 1e-5
    warmup_epochs: int = 5
    decay_every: int = 10
    decay_factor: float = 0.9
    patience: int = 25
    grad_clip: float | None = None
    model: UMCAConfig = field(default_factory=UMCAConfig)
    weights: SelfDistillationWeights = field(default_factory=SelfDistillationWeights)
    text_dropout_rate: float = 0.5
    amp: bool = True

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("SDUMCTrainConfig: epochs, batch_size and eval_batch_size must be >= 1")
        if not 0.0 <= self.text_dropout_rate <= 1.0:
            raise ValueError(f"SDUMCTrainConfig.text_dropout_rate must be in [0, 1], got {self.text_dropout_rate}")
        if self.warmup_epochs < 0 or self.decay_every < 1:
            raise ValueError("SDUMCTrainConfig: warmup_epochs must be >= 0 and decay_every >= 1")

    @classmethod
    def full(cls, **overrides) -> "SDUMCTrainConfig":
        """The official recipe (reference/sdumc.md §6): 25 epochs, batch 96, Adam 1e-4, official widths."""
        return dataclasses.replace(cls(), **overrides)

    @classmethod
    def quick(cls, **overrides) -> "SDUMCTrainConfig":
        """Seconds on a CPU with the quick synthetic set: 8 epochs, batch 64, lr 5e-3, warm-up 1 epoch,
        decay every 4, patience 4, :meth:`UMCAConfig.small` widths. Far from converged: for
        demonstrations, not for conclusions (use full mode for those)."""
        base = cls(epochs=8, batch_size=64, lr=5e-3, warmup_epochs=1, decay_every=4, patience=4,
                   model=UMCAConfig.small())
        return dataclasses.replace(base, **overrides)

    @classmethod
    def for_mode(cls, quick: bool, **overrides) -> "SDUMCTrainConfig":
        return cls.quick(**overrides) if quick else cls.full(**overrides)

    def replace(self, **changes) -> "SDUMCTrainConfig":
        """A copy with some fields changed, e.g. ``cfg.replace(epochs=40)`` or
        ``cfg.replace(model=cfg.model.replace(use_masks=False))``."""
        return dataclasses.replace(self, **changes)

    def for_method(self, method: str) -> "SDUMCTrainConfig":
        """The configuration a method actually uses (MIA and RnC switched per method)."""
        _check_method(method, METHODS)
        use_mia = method in ("sdumc", "sdumc_no_rnc")
        weights = self.weights.replace(rnc=0.0) if method == "sdumc_no_rnc" else self.weights
        return dataclasses.replace(self, model=self.model.replace(use_mia=use_mia), weights=weights)

    def lr_factor(self, epoch: int) -> float:
        """The official LambdaLR factor for 0-based ``epoch``: ``(e+1)/W`` during warm-up, then
        ``decay_factor ** ((e + 1 - W) // decay_every)``."""
        w = self.warmup_epochs
        if epoch < w:
            return (epoch + 1) / w
        return self.decay_factor ** ((epoch + 1 - w) // self.decay_every)


def _check_method(method: str, allowed: Sequence[str]) -> None:
    if method not in allowed:
        raise ValueError(f"unknown method {method!r}; choose one of {list(allowed)}")


# ----------------------------------------------------------------------------------------------
# batch transforms and loss functions
# ----------------------------------------------------------------------------------------------
def replace_text_with_simulated(batch: Mapping[str, Any], replace: torch.Tensor) -> dict:
    """Per-sample text replacement: where ``replace`` [B] is True, ``text`` := ``text_sim``.

    Texts are right-padded to a common length. Returns a new dict; ``batch["text_simulated_mask"]``
    [B] records which samples were replaced.
    """
    for key in ("text", "text_mask", "text_sim", "text_sim_mask"):
        if key not in batch:
            raise KeyError(f"replace_text_with_simulated: the batch has no '{key}'")
    text, sim = batch["text"], batch["text_sim"]
    t = max(text.shape[1], sim.shape[1])
    text = F.pad(text, (0, 0, 0, t - text.shape[1]))
    sim = F.pad(sim, (0, 0, 0, t - sim.shape[1]))
    text_mask = F.pad(batch["text_mask"], (0, t - batch["text_mask"].shape[1]))
    sim_mask = F.pad(batch["text_sim_mask"], (0, t - batch["text_sim_mask"].shape[1]))
    replace = torch.as_tensor(replace, device=text.device).to(torch.bool).reshape(-1)
    if replace.shape[0] != text.shape[0]:
        raise ValueError(f"replace_text_with_simulated: {replace.shape[0]} flags for a batch of {text.shape[0]}")
    out = dict(batch)
    out["text"] = torch.where(replace[:, None, None], sim, text)
    out["text_mask"] = torch.where(replace[:, None], sim_mask, text_mask)
    out["text_simulated_mask"] = replace
    return out


def text_dropout_transform(rate: float):
    """``train_transform`` for ``modality_dropout``: replace each sample's text by the simulated
    text with probability ``rate`` (drawn from fit's seeded generator)."""

    def transform(batch, generator):
        b = batch["label"].shape[0]
        flags = torch.rand(b, generator=generator) < rate
        return replace_text_with_simulated(batch, flags)

    return transform


def mse_loss_fn(model, batch):
    """Single-flow MSE (``teacher``, ``modality_dropout``): ``(loss, {"mse": ...})``."""
    pred = model(batch)["pred"]
    loss = F.mse_loss(pred.float(), batch["label"].reshape(-1).float())
    return loss, {"mse": float(loss.detach())}


def double_flow_loss_fn(weights: SelfDistillationWeights | None = None):
    """The SDUMC ``loss_fn(model, batch)`` for :func:`msa_lib.training.fit`: both flows in one
    forward pass (:meth:`UMCANet.double_flow`) and :class:`SelfDistillationLoss`."""
    criterion = SelfDistillationLoss(weights)

    def loss_fn(model, batch):
        teacher, student = model.double_flow(batch)
        return criterion(teacher, student, batch["label"])

    return loss_fn


def condition_transform(condition: str, method: str | None = None):
    """The batch transform of a test condition; for ``teacher_zero_text`` the ``text_missing``
    condition removes the text (zeroed, mask all False, ``text_missing`` flag) instead of
    substituting the simulated text."""
    if method == "teacher_zero_text" and condition == "text_missing":
        return lambda batch: drop_modalities(batch, ("text",))
    return lambda batch: apply_condition(batch, condition)


def mean_mae_selector(conditions: Sequence[str] = SDUMC_CONDITIONS, dataset: str = "mosei", log: list | None = None):
    """``select_fn`` for :func:`fit`: the mean valid MAE over ``conditions`` (lower is better).

    When ``log`` is a list, each call appends ``{f"valid_{c}_MAE": ...}`` so the per-condition
    learning curves can be merged into the history afterwards.
    """

    def select(model, loader):
        maes = {}
        for c in conditions:
            pred, true = predict(model, loader, transform=condition_transform(c))
            maes[f"valid_{c}_MAE"] = float(regression_metrics(pred, true, dataset=dataset)["MAE"])
        if log is not None:
            log.append(maes)
        return float(np.mean(list(maes.values())))

    return select


# ----------------------------------------------------------------------------------------------
# high-level entry points
# ----------------------------------------------------------------------------------------------
def build_model(method: str, input_dims: Mapping[str, int], config: SDUMCTrainConfig) -> UMCANet:
    """The :class:`UMCANet` of ``method`` (MIA only for ``sdumc`` and ``sdumc_no_rnc``)."""
    return UMCANet(input_dims, config.for_method(method).model)


def _needs_text_sim(method: str, dataset) -> None:
    if method != "teacher" and "text_sim" not in dataset.input_dims:
        raise ValueError(
            f"method {method!r} needs simulated text, but data set {dataset.name!r} has no 'text_sim' "
            "(MERTools: pass simulated_text=<folder>; MMSA pickles: add 'text_sim' arrays)"
        )


#: The modules whose code decides an SDUMC-family model's weights and scores (checkpoints and results files
#: record their :func:`msa_lib.provenance.code_version`).
CODE_MODULES = (
    "msa_lib.models.umca", "msa_lib.models.mia", "msa_lib.models._blocks", "msa_lib.losses.sdumc",
    "msa_lib.losses.rnc", "msa_lib.losses.precision", "msa_lib.training.sdumc", "msa_lib.training.core", "msa_lib.data.loader",
    "msa_lib.data.missing", "msa_lib.metrics",
)


def method_config(method: str, config: SDUMCTrainConfig) -> dict[str, Any]:
    """The full resolved configuration of ``method`` under ``config``: what its config hash covers.

    ``teacher_zero_text`` is the teacher evaluated without text: its configuration is the teacher's
    (``"trains": "teacher"``).
    """
    _check_method(method, EVAL_METHODS)
    trains = "teacher" if method == "teacher_zero_text" else method
    return {"method": method, "trains": trains, **dataclasses.asdict(config.for_method(trains))}


def method_configs(config: SDUMCTrainConfig, methods: Sequence[str] = EVAL_METHODS) -> dict[str, dict]:
    """``{method: method_config(method, config)}``: the ``configs`` of a results file."""
    return {m: method_config(m, config) for m in methods}


def checkpoint_stamp_of(method: str, dataset, seed: int, config: SDUMCTrainConfig) -> dict[str, str]:
    """The stamp (config hash with the seed, data fingerprint, code version) of one trained model."""
    return checkpoint_stamp(config={"seed": int(seed), **method_config(method, config)}, dataset=dataset,
                            code_modules=CODE_MODULES)


def checkpoint_path(method: str, dataset, seed: int, config: SDUMCTrainConfig,
                    directory: str | Path | None = None) -> Path:
    """``<checkpoint dir>/sdumc/<dataset>_<method>_seed<seed>_<key>.pt``: the key hashes the model's stamp
    (:func:`checkpoint_stamp_of`: every setting that changes the weights, the data's content and the code)."""
    key = stamp_key(checkpoint_stamp_of(method, dataset, seed, config))
    return Path(directory or checkpoint_dir()) / "sdumc" / f"{dataset.name}_{method}_seed{int(seed)}_{key}.pt"


def train_method(
    method: str,
    dataset,
    seed: int = 0,
    quick: bool = True,
    device: str | torch.device | None = None,
    *,
    config: SDUMCTrainConfig | None = None,
    progress: bool = False,
    checkpoint: bool | str | Path = False,
    retrain: bool = False,
) -> tuple[UMCANet, FitResult]:
    """Train one method on ``dataset`` with one seed; returns ``(model, FitResult)``.

    Args:
        method: one of :data:`METHODS`.
        dataset: an :class:`msa_lib.data.MSADataset` (with ``text_sim`` unless ``method="teacher"``).
        seed: seeds weights, shuffling, dropout and the text-dropout draws.
        quick: :meth:`SDUMCTrainConfig.quick` vs :meth:`SDUMCTrainConfig.full` (ignored when
            ``config`` is given).
        device: ``None`` = :func:`select_device`.
        config: explicit hyper-parameters.
        progress: tqdm bars.
        checkpoint: ``True`` (or a folder) = load the weights if a checkpoint for exactly these
            settings exists, else train and save one (the notebooks' "load if present, else train").
        retrain: with ``checkpoint``, train even if a checkpoint exists.

    The model is returned on ``device`` in eval mode, holding the weights of the best validation epoch.
    """
    _check_method(method, METHODS)
    require_task(dataset, "regression", method="SDUMC", instead="Chapter 05 (CorrKD) handles IEMOCAP.")
    _needs_text_sim(method, dataset)
    config = config or SDUMCTrainConfig.for_mode(quick)
    run_config = config.for_method(method)
    device = select_device(device)
    seed_everything(int(seed))
    model = build_model(method, dataset.input_dims, config)

    path = stamp = None
    if checkpoint:
        path = checkpoint_path(method, dataset, seed, config, None if checkpoint is True else checkpoint)
        stamp = checkpoint_stamp_of(method, dataset, seed, config)

    train_loader = make_loader(dataset["train"], run_config.batch_size, shuffle=True, seed=int(seed))
    valid_loader = make_loader(dataset["valid"], run_config.eval_batch_size)
    fit_config = FitConfig(
        epochs=run_config.epochs, lr=run_config.lr, weight_decay=run_config.weight_decay,
        grad_clip=run_config.grad_clip, patience=run_config.patience, select_metric="MAE",
        select_mode="min", amp=run_config.amp, device=str(device), progress=progress, seed=int(seed),
    )
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=run_config.lr,
        weight_decay=run_config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, run_config.lr_factor)

    condition_log: list[dict] = []
    if method == "teacher":
        loss_fn, train_transform, select_fn = mse_loss_fn, None, None
    elif method == "modality_dropout":
        loss_fn = mse_loss_fn
        train_transform = text_dropout_transform(run_config.text_dropout_rate)
        select_fn = mean_mae_selector(SDUMC_CONDITIONS, dataset.metric_dataset, condition_log)
    else:
        loss_fn = double_flow_loss_fn(run_config.weights)
        train_transform = None
        select_fn = mean_mae_selector(SDUMC_CONDITIONS, dataset.metric_dataset, condition_log)

    def train() -> FitResult:
        result = fit(
            model, train_loader, valid_loader, loss_fn, config=fit_config, optimizer=optimizer,
            scheduler=scheduler, train_transform=train_transform, metric_dataset=dataset.metric_dataset,
            select_fn=select_fn,
        )
        for row, extra_row in zip(result.history, condition_log):
            row.update(extra_row)
        return result

    _, result = fit_or_load(path, model, train, retrain=retrain, stamp=stamp)
    model.to(device).eval()
    return model, (result if isinstance(result, FitResult) else FitResult(**result))


def evaluate_method(
    model: torch.nn.Module,
    dataset,
    conditions: Iterable[str] = SDUMC_CONDITIONS,
    *,
    method: str | None = None,
    split: str = "test",
    batch_size: int = 256,
    device: str | torch.device | None = None,
    predictions: dict | None = None,
) -> dict[str, dict[str, float]]:
    """MMSA metrics of ``model`` on ``dataset[split]`` under each condition: ``{condition: metrics}``.

    ``method="teacher_zero_text"`` evaluates ``text_missing`` with the text removed (zeros, empty
    mask) instead of the simulated text (see the module docstring). ``predictions``, when given, receives
    ``{condition: pred}`` (NumPy [N], in the split's order), for the paired bootstrap of :mod:`msa_lib.stats`.
    """
    loader = make_loader(dataset[split], batch_size)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    out = {}
    for c in conditions:
        pred, true = predict(model, loader, transform=condition_transform(c, method), device=device)
        out[c] = regression_metrics(pred, true, dataset=dataset.metric_dataset)
        if predictions is not None:
            predictions[c] = np.asarray(pred, np.float32)
    return out


def run_missing_text_experiment(
    dataset,
    seeds: Sequence[int] = (0, 1, 2),
    quick: bool = True,
    methods: Sequence[str] = EVAL_METHODS,
    *,
    device: str | torch.device | None = None,
    config: SDUMCTrainConfig | None = None,
    conditions: Sequence[str] = SDUMC_CONDITIONS,
    checkpoint: bool | str | Path = False,
    progress: bool = False,
    predictions: dict | None = None,
    seconds: dict | None = None,
) -> tuple[list[dict], dict[tuple[str, int], FitResult]]:
    """Train every method for every seed and evaluate on the test split under each condition.

    Returns ``(rows, fits)``: ``rows`` in the results-file format (:func:`result_row`), ``fits``
    maps ``(method, seed)`` to the :class:`FitResult` (for learning curves and best epochs).
    ``teacher_zero_text`` reuses the ``teacher`` model of the same seed. When given, ``predictions``
    receives ``{(method, condition, seed): test predictions}`` and ``seconds`` ``{(method, seed): wall-clock
    seconds of its training (or loading)}``: both go to :func:`~msa_lib.training.write_results`.
    """
    for m in methods:
        _check_method(m, EVAL_METHODS)
    rows: list[dict] = []
    fits: dict[tuple[str, int], FitResult] = {}
    for seed in seeds:
        teacher = None
        for method in methods:
            train_name = "teacher" if method == "teacher_zero_text" else method
            if train_name == "teacher" and teacher is not None:
                model = teacher
            else:
                started = time.perf_counter()
                model, fits[(train_name, int(seed))] = train_method(
                    train_name, dataset, seed=int(seed), quick=quick, device=device, config=config,
                    checkpoint=checkpoint, progress=progress)
                if seconds is not None:
                    seconds[(train_name, int(seed))] = time.perf_counter() - started
                if train_name == "teacher":
                    teacher = model
            preds: dict = {}
            for condition, metrics in evaluate_method(model, dataset, conditions, method=method,
                                                      predictions=preds).items():
                rows.append(result_row(method, condition, int(seed), metrics))
                if predictions is not None:
                    predictions[(method, condition, int(seed))] = preds[condition]
    return rows, fits


def write_missing_text_results(
    name: str,
    dataset,
    rows: Sequence[dict],
    fits: Mapping[tuple[str, int], FitResult],
    *,
    config: SDUMCTrainConfig,
    methods: Sequence[str],
    seeds: Sequence[int],
    quick: bool,
    command: str,
    seconds: Mapping | None = None,
    predictions: Mapping | None = None,
    wall_seconds: float | None = None,
    extra: Mapping | None = None,
):
    """:func:`~msa_lib.training.write_results` for :func:`run_missing_text_experiment`'s output, with the
    provenance the staleness check needs: every method's resolved config (:func:`method_configs`), this
    family's :data:`CODE_MODULES`, the data set (fingerprinted), every model's per-epoch history, the training
    times and the test predictions. Returns the path written."""
    from .results import write_results

    return write_results(name, rows, quick=quick, seeds=seeds, dataset=dataset, command=command,
                         configs=method_configs(config, methods), code_modules=CODE_MODULES, histories=fits,
                         seconds=seconds, predictions=predictions, wall_seconds=wall_seconds,
                         extra={"best_epochs": {f"{m}/{s}": f.best_epoch for (m, s), f in fits.items()},
                                **(extra or {})})


def summarise_rows(rows: Sequence[Mapping[str, Any]], metric: str = "MAE") -> dict[tuple[str, str], tuple[float, float, int]]:
    """``{(method, condition): (mean, std, n_seeds)}`` of one metric; the std is the sample std over seeds
    (``ddof=1``; NaN for one seed), and a NaN seed makes the mean NaN (never dropped), as in
    :func:`~msa_lib.training.results_table`."""
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["condition"]), []).append(float(r["metrics"][metric]))
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else math.nan, len(v))
            for k, v in groups.items()}


__all__ = [
    "METHODS", "EVAL_METHODS", "SDUMC_CONDITIONS", "SDUMCTrainConfig", "replace_text_with_simulated",
    "text_dropout_transform", "mse_loss_fn", "double_flow_loss_fn", "condition_transform",
    "mean_mae_selector", "build_model", "CODE_MODULES", "method_config", "method_configs", "checkpoint_stamp_of",
    "checkpoint_path", "train_method", "evaluate_method",
    "run_missing_text_experiment", "write_missing_text_results", "summarise_rows",
]
