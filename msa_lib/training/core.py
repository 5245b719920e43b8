"""The training core shared by every method: seeds, devices, the fit loop, prediction and evaluation.

One loop serves the SDUMC double flow, the CorrKD teacher and student and every baseline. A method
supplies a ``loss_fn(model, batch) -> (loss, logs)``; the loop owns the rest:

* **model selection on the validation split only** — the test split is never passed to :func:`fit`;
* early stopping after ``patience`` epochs without a better validation score, then the best weights
  are loaded back (MMSA's ``KeyEval`` protocol, but with selection on valid, never on test);
* automatic mixed precision (bfloat16 autocast) on CUDA, full float32 elsewhere;
* ``tqdm.auto`` progress bars (silenced by ``TQDM_DISABLE=1`` or ``progress=False``);
* seeded missingness transforms: ``train_transform(batch, generator)`` receives a
  :class:`torch.Generator` seeded from ``FitConfig.seed``, so two runs with one seed see the same
  masks.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from ..metrics import evaluation_metrics

Batch = dict[str, Any]
LossFn = Callable[[torch.nn.Module, Batch], "tuple[torch.Tensor, Mapping[str, float]]"]
PredictFn = Callable[[torch.nn.Module, Batch], torch.Tensor]


# ----------------------------------------------------------------------------------------------
# seeds and devices
# ----------------------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device).

    The same seed then gives the same initial weights, the same shuffling (loaders take their own
    ``seed`` too) and the same dropout masks on CPU. On GPUs some kernels stay non-deterministic
    (atomics in scatter/index_add); we do not force ``torch.use_deterministic_algorithms`` because
    it slows attention kernels and raises on some ops — CPU runs are bit-reproducible, GPU runs are
    reproducible up to floating-point summation order.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def select_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``prefer`` when given, else CUDA, then Apple MPS, then CPU.

    ``prefer`` may be ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a :class:`torch.device`;
    asking for an accelerator that is not there raises a clear error rather than falling back
    silently.
    """
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {str(prefer)!r} was asked for, but CUDA is not available here")
        if device.type == "mps" and not (
            getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
        ):
            raise RuntimeError(f"device {str(prefer)!r} was asked for, but MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def amp_autocast(device: torch.device | str, enabled: bool = True):
    """Mixed precision where it pays: bfloat16 autocast on CUDA, a no-op context elsewhere.

    bfloat16 keeps float32's exponent range, so no gradient scaler is needed (unlike float16).
    GPUs without bfloat16 support (pre-Ampere) fall back to float16 autocast; the caller's
    :func:`fit` then uses a gradient scaler.
    """
    device = torch.device(device)
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


def move_to_device(batch: Mapping[str, Any], device: torch.device | str) -> Batch:
    """A new batch dict with every tensor on ``device`` (non-tensors such as ``id`` kept as they are)."""
    device = torch.device(device)
    return {
        k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()
    }


def default_predict(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """The prediction of a model whose ``forward(batch)`` returns a dict with ``pred`` [B]."""
    return model(batch)["pred"]


def count_parameters(model: torch.nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# ----------------------------------------------------------------------------------------------
# prediction and evaluation
# ----------------------------------------------------------------------------------------------
def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    loader: Iterable[Batch],
    *,
    predict_fn: PredictFn | None = None,
    transform: Callable[[Batch], Batch] | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and labels over a whole loader, in loader order.

    ``transform(batch) -> batch`` is applied to every batch before the model sees it (a fixed
    missing-modality condition, e.g. ``lambda b: apply_condition(b, "text_missing")``). The model
    is put in eval mode and its previous mode restored afterwards.

    Returns ``(pred, true)``, both float32 numpy arrays of shape [N].
    """
    predict_fn = predict_fn or default_predict
    device = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    preds, trues = [], []
    try:
        for batch in loader:
            if transform is not None:
                batch = transform(batch)
            batch = move_to_device(batch, device)
            with amp_autocast(device, enabled=amp):
                pred = predict_fn(model, batch)
            if pred.dim() > 1:
                pred = pred.reshape(pred.shape[0], -1)
                if pred.shape[1] != 1:
                    raise ValueError(
                        f"predict_fn must return one value per sample ([B] or [B, 1]); got shape "
                        f"{tuple(pred.shape)}"
                    )
                pred = pred[:, 0]
            preds.append(pred.float().cpu())
            trues.append(batch["label"].reshape(-1).float().cpu())
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("predict() got an empty loader: there is nothing to evaluate")
    return torch.cat(preds).numpy().astype(np.float32), torch.cat(trues).numpy().astype(np.float32)


def evaluate(
    model: torch.nn.Module,
    loader: Iterable[Batch],
    *,
    predict_fn: PredictFn | None = None,
    transform: Callable[[Batch], Batch] | None = None,
    device: torch.device | str | None = None,
    dataset: Any = "mosei",
) -> dict[str, float]:
    """The metrics of ``model`` on ``loader``: :func:`msa_lib.metrics.evaluation_metrics` (MMSA's
    regression metrics, or the classification metrics for ``"iemocap"``; ``dataset`` is a metric-data-set
    name or a data set)."""
    pred, true = predict(model, loader, predict_fn=predict_fn, transform=transform, device=device)
    return evaluation_metrics(pred, true, dataset)


# ----------------------------------------------------------------------------------------------
# the fit loop
# ----------------------------------------------------------------------------------------------
@dataclass
class FitConfig:
    """Settings of :func:`fit`; the defaults follow MMSA's regression trainers where they exist.

    Attributes:
        epochs: maximum number of passes over the training loader.
        lr: AdamW learning rate (used when no optimizer is passed).
        weight_decay: AdamW weight decay.
        grad_clip: clip the global gradient norm to this value (MulT/MMSA use 1.0); ``None`` = off.
        patience: stop after this many epochs without a better validation score (MMSA: 8).
        select_metric: validation metric that picks the best epoch (MMSA's ``KeyEval``: the loss; we
            use ``MAE``, the regression metric MMSA's Loss is for these models).
        select_mode: ``"min"`` or ``"max"``: whether a smaller or larger score is better.
        amp: bfloat16 autocast for the training step on CUDA (ignored on CPU/MPS); the validation pass that
            selects the epoch always runs in float32, like every test evaluation.
        device: ``None`` = :func:`select_device`'s choice.
        progress: show ``tqdm`` progress bars (also silenced by ``TQDM_DISABLE=1``).
        seed: seeds the generator handed to ``train_transform`` (random missingness).
        min_delta: an improvement must beat the best score by more than this to count.
    """

    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    patience: int = 8
    select_metric: str = "MAE"
    select_mode: str = "min"
    amp: bool = True
    device: str | None = None
    progress: bool = True
    seed: int = 0
    min_delta: float = 0.0

    def __post_init__(self):
        if self.select_mode not in ("min", "max"):
            raise ValueError(f"FitConfig.select_mode must be 'min' or 'max', got {self.select_mode!r}")
        if self.epochs < 1:
            raise ValueError(f"FitConfig.epochs must be >= 1, got {self.epochs}")
        if self.patience < 1:
            raise ValueError(f"FitConfig.patience must be >= 1, got {self.patience}")


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        best_epoch: 1-based epoch whose weights the model holds after :func:`fit`.
        best_score: the validation score of that epoch (``select_fn``'s value, or ``select_metric``).
        best_valid: validation metrics of that epoch.
        history: one dict per epoch: ``epoch``, ``train_loss``, the mean of every training log,
            ``valid_<metric>`` for every metric, ``valid_score`` and ``seconds``.
        stopped_early: whether patience ran out before ``epochs``.
    """

    best_epoch: int
    best_score: float
    best_valid: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False

    def curve(self, key: str) -> list[float]:
        """The values of one history key over epochs (for learning-curve plots)."""
        return [h.get(key, math.nan) for h in self.history]


def _is_better(score: float, best: float, mode: str, min_delta: float) -> bool:
    if math.isnan(score):
        return False
    if math.isnan(best):
        return True
    return score < best - min_delta if mode == "min" else score > best + min_delta


def fit(
    model: torch.nn.Module,
    train_loader: Iterable[Batch],
    valid_loader: Iterable[Batch],
    loss_fn: LossFn,
    *,
    predict_fn: PredictFn | None = None,
    config: FitConfig | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    train_transform: Callable[[Batch, torch.Generator], Batch] | None = None,
    valid_transform: Callable[[Batch], Batch] | None = None,
    metric_dataset: Any = "mosei",
    select_fn: Callable[[torch.nn.Module, Iterable[Batch]], float] | None = None,
    callbacks: Iterable[Callable[[int, dict], None]] = (),
) -> FitResult:
    """Train ``model`` with ``loss_fn``, selecting the best epoch on the validation split.

    Per epoch: one pass over ``train_loader`` (each batch through ``train_transform(batch,
    generator)`` if given, moved to the device, ``loss, logs = loss_fn(model, batch)``, backward,
    gradient clipping, optimizer step), then validation:

    * with ``select_fn``: ``score = select_fn(model, valid_loader)`` (e.g. the mean valid MAE over
      several missing-modality conditions) and the metrics are those of ``valid_loader`` under
      ``valid_transform``;
    * otherwise ``score = evaluation_metrics(valid, metric_dataset)[config.select_metric]``.

    The weights of the best-scoring epoch are kept (a copy of the ``state_dict``) and loaded back at
    the end; training stops after ``config.patience`` epochs without improvement. The test split is
    never seen here: evaluate it afterwards with :func:`evaluate`.

    Args:
        model: the network; put on the configured device.
        train_loader, valid_loader: loaders of batch dicts (see :mod:`msa_lib.data`).
        loss_fn: ``(model, batch) -> (scalar loss, logs)``; the batch is on the device and the model
            in train mode. ``logs`` maps names to floats (or 0-d tensors); their epoch means enter
            the history.
        predict_fn: ``(model, batch) -> pred [B]``; default ``model(batch)["pred"]``.
        config: :class:`FitConfig`.
        optimizer: default AdamW(lr, weight_decay) over the parameters that require grad.
        scheduler: anything with ``step()``; stepped once per epoch after validation.
        train_transform: seeded random missingness for training batches.
        valid_transform: a fixed condition applied to validation batches.
        metric_dataset: ``"mosei"`` (MOSI/MOSEI metrics), ``"sims"``, ``"iemocap"`` (classification
            metrics; ``pred`` must then be class ids), or a data set (its ``.metric_dataset`` and ``.classes``);
            see :func:`msa_lib.metrics.evaluation_metrics`.
        select_fn: optional custom validation score.
        callbacks: called as ``cb(epoch, history_row)`` after every epoch (e.g. live plots).
    """
    config = config or FitConfig()
    device = select_device(config.device)
    model.to(device)
    use_amp = bool(config.amp and device.type == "cuda")
    scaler = None
    if use_amp and not torch.cuda.is_bf16_supported():
        scaler = torch.amp.GradScaler("cuda")
    if optimizer is None:
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("fit(): the model has no trainable parameters")
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(int(config.seed))
    predict_fn = predict_fn or default_predict
    disable_bar = (not config.progress) or os.environ.get("TQDM_DISABLE", "") not in ("", "0")

    history: list[dict[str, float]] = []
    best_score, best_epoch, best_valid, best_state = math.nan, 0, {}, None
    epochs_without_improvement = 0
    stopped_early = False

    epoch_bar = tqdm(range(1, config.epochs + 1), desc="epochs", disable=disable_bar, leave=False)
    for epoch in epoch_bar:
        started = time.perf_counter()
        model.train()
        loss_sum, n_batches, log_sums = 0.0, 0, {}
        for batch in tqdm(train_loader, desc=f"epoch {epoch}", disable=disable_bar, leave=False):
            if train_transform is not None:
                batch = train_transform(batch, generator)
            batch = move_to_device(batch, device)
            optimizer.zero_grad(set_to_none=True)
            with amp_autocast(device, enabled=use_amp):
                loss, logs = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"fit(): the training loss became {loss.item()} at epoch {epoch}, batch "
                    f"{n_batches + 1} (logs: { {k: float(v) for k, v in dict(logs).items()} }); "
                    "lower the learning rate or check the inputs for NaN/inf"
                )
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(
                    [p for g in optimizer.param_groups for p in g["params"]], config.grad_clip
                )
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            loss_sum += float(loss.detach())
            n_batches += 1
            for k, v in dict(logs).items():
                log_sums[k] = log_sums.get(k, 0.0) + float(v)
        if n_batches == 0:
            raise ValueError("fit(): the training loader yielded no batch")

        # selection in float32, as every test evaluation is: an epoch picked by a bfloat16 pass could be
        # one that float32 would not pick (autocast is for the training step only)
        pred, true = predict(
            model, valid_loader, predict_fn=predict_fn, transform=valid_transform, device=device,
            amp=False,
        )
        valid_metrics = evaluation_metrics(pred, true, metric_dataset)
        if select_fn is not None:
            score = float(select_fn(model, valid_loader))
        else:
            if config.select_metric not in valid_metrics:
                raise KeyError(
                    f"FitConfig.select_metric={config.select_metric!r} is not a validation metric; "
                    f"choose one of {sorted(valid_metrics)}"
                )
            score = float(valid_metrics[config.select_metric])
        if scheduler is not None:
            scheduler.step()

        row = {"epoch": epoch, "train_loss": loss_sum / n_batches}
        row.update({k: v / n_batches for k, v in log_sums.items()})
        row.update({f"valid_{k}": float(v) for k, v in valid_metrics.items()})
        row["valid_score"] = score
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        for cb in callbacks:
            cb(epoch, row)

        if _is_better(score, best_score, config.select_mode, config.min_delta):
            best_score, best_epoch, best_valid = score, epoch, dict(valid_metrics)
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            epochs_without_improvement = 0
        else:
            epochs_without_improvement += 1
        epoch_bar.set_postfix(loss=f"{row['train_loss']:.3f}", valid=f"{score:.4f}", best=best_epoch)
        if epochs_without_improvement >= config.patience:
            stopped_early = epoch < config.epochs
            break

    if best_state is None:
        raise FloatingPointError("fit(): every validation score was NaN; no epoch could be selected")
    model.load_state_dict(best_state)
    return FitResult(
        best_epoch=best_epoch,
        best_score=best_score,
        best_valid=best_valid,
        history=history,
        stopped_early=stopped_early,
    )
