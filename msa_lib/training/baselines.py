"""The field's classic models trained as MMSA trains them, and every model of the book under both protocols.

* :func:`train_baseline` — LF-DNN, TFN or MulT (:mod:`msa_lib.models.baselines`) on complete data: MMSA's L1 loss,
  Adam with its learning rate and weight decay, its gradient clipping for MulT, its early stopping (8 epochs
  without a better validation MAE), selection on the validation split only.
* :func:`evaluate_protocols` — any model that maps a batch to ``{"pred"}`` under **both** protocols of this
  book: SDUMC's (``complete`` and ``text_missing``: the real text replaced by text simulated from audio) and
  CorrKD's (the six modality subsets and frame-missing rates 0.0–0.9, masks fixed by the seed).
* :func:`run_head_to_head` — chapter 07's experiment: the baselines, the SDUMC teacher and network, the CorrKD
  teacher and student, each trained by its own recipe, each evaluated under both protocols, per seed.

Decisions: MMSA trains without an epoch cap until early stopping; here ``epochs`` caps it (100 in full mode,
far beyond where MMSA's patience stops these models on MOSI-size data; the history says where each stopped).
MMSA's MulT also lowers its learning rate on a plateau; this one keeps it constant (the other two have no
scheduler in MMSA either), so that the three baselines share one recipe.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data import require_task
from ..data.loader import make_loader
from ..models.baselines import BASELINES, LFDNNConfig, MulTConfig, TFNConfig, build_baseline
from ..provenance import plain
from .checkpoints import checkpoint_dir as default_checkpoint_dir, checkpoint_stamp, fit_or_load, stamp_key
from .core import FitConfig, FitResult, fit, predict, seed_everything, select_device
from .results import result_row

__all__ = ["BaselineTrainConfig", "train_baseline", "evaluate_protocols", "run_head_to_head", "HEAD_TO_HEAD_METHODS",
           "HeadToHead", "head_to_head_configs", "head_to_head_code", "head_to_head_data", "CODE_MODULES"]

#: chapter 07's methods: the field's baselines, then the book's two methods and their teachers
HEAD_TO_HEAD_METHODS = ("lf_dnn", "tfn", "mult", "sdumc_teacher", "sdumc", "corrkd_teacher", "corrkd")

CODE_MODULES = ("msa_lib.models.baselines", "msa_lib.training.baselines", "msa_lib.training.core",
                "msa_lib.data.loader", "msa_lib.data.missing", "msa_lib.metrics")

# MMSA's config_regression.json: batch size, learning rate, weight decay, gradient clipping (MOSI, MOSEI)
_MMSA_RECIPES = {
    ("lf_dnn", "mosi"): (128, 1e-3, 0.01, None), ("lf_dnn", "mosei"): (64, 2e-3, 1e-3, None),
    ("tfn", "mosi"): (32, 1e-3, 0.0, None), ("tfn", "mosei"): (128, 5e-3, 0.0, None),
    ("mult", "mosi"): (16, 2e-3, 5e-3, 0.6), ("mult", "mosei"): (4, 5e-4, 1e-3, 0.6),
}
_QUICK_MODELS = {"lf_dnn": LFDNNConfig(hidden_dims=(32, 8, 16), text_out=32, post_fusion_dim=32),
                 "tfn": TFNConfig(hidden_dims=(16, 8, 8), text_out=8, post_fusion_dim=16),
                 "mult": MulTConfig(d_model=16, n_heads=4, n_layers=1, kernels=(3, 3, 3))}


@dataclass
class BaselineTrainConfig:
    """How one baseline is trained. :meth:`full` = MMSA's recipe for the model (MOSI's settings by default, the
    closest in size to the synthetic default; ``dataset="mosei"`` for MOSEI's); :meth:`quick` = seconds on a CPU."""

    name: str
    model: Any = None
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    grad_clip: float | None = None
    epochs: int = 100
    patience: int = 8
    eval_batch_size: int = 256
    amp: bool = True
    device: str | None = None
    progress: bool = False

    def __post_init__(self):
        if self.name not in BASELINES:
            raise ValueError(f"BaselineTrainConfig: unknown baseline {self.name!r}; choose one of {sorted(BASELINES)}")
        if self.model is None:
            self.model = BASELINES[self.name][1]()

    @classmethod
    def full(cls, name: str, dataset: str = "mosi", **overrides) -> "BaselineTrainConfig":
        if (name, dataset) not in _MMSA_RECIPES:
            raise ValueError(f"BaselineTrainConfig.full: no MMSA recipe for {name!r} on {dataset!r}")
        batch, lr, wd, clip = _MMSA_RECIPES[(name, dataset)]
        model = BASELINES[name][1].mosei() if dataset == "mosei" else BASELINES[name][1]()
        return cls(**{**dict(name=name, model=model, batch_size=batch, lr=lr, weight_decay=wd, grad_clip=clip),
                      **overrides})

    @classmethod
    def quick(cls, name: str, **overrides) -> "BaselineTrainConfig":
        if name not in _QUICK_MODELS:
            raise ValueError(f"BaselineTrainConfig.quick: unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
        return cls(**{**dict(name=name, model=_QUICK_MODELS[name], batch_size=64, lr=3e-3, epochs=4, patience=2),
                      **overrides})

    @classmethod
    def for_mode(cls, name: str, quick: bool) -> "BaselineTrainConfig":
        return cls.quick(name) if quick else cls.full(name)

    def settings(self) -> dict[str, Any]:
        """What changes the trained weights (for checkpoint stamps and results files)."""
        out = plain(self)
        for key in ("device", "progress", "eval_batch_size"):
            out.pop(key)
        return out


def _l1(model, batch):
    loss = F.l1_loss(model(batch)["pred"].float(), batch["label"].reshape(-1).float())
    return loss, {}


def train_baseline(name: str, dataset, seed: int = 0, quick: bool = True, config: BaselineTrainConfig | None = None,
                   *, checkpoint_dir: str | Path | bool | None = False, retrain: bool = False):
    """Train (or load) one baseline on complete data; returns ``(model in eval mode, FitResult)``.

    ``checkpoint_dir``: False (default) = no checkpoint; True / None = the checkpoint folder; or a folder. The
    checkpoint's name hashes the settings, the seed, the data's content and this module's code."""
    require_task(dataset, "regression", method=name, instead="Chapter 05 (CorrKD) handles classification data.")
    config = config or BaselineTrainConfig.for_mode(name, quick)
    if config.name != name:
        raise ValueError(f"train_baseline: the config is for {config.name!r}, not {name!r}")
    seed_everything(int(seed))
    dims = {m: d for m, d in dataset.input_dims.items() if m in ("text", "audio", "vision")}
    model = build_baseline(name, dims, config.model)
    device = select_device(config.device)
    stamp = checkpoint_stamp(config={"seed": int(seed), **config.settings()}, dataset=dataset,
                             code_modules=CODE_MODULES)
    path = None
    if checkpoint_dir is not False:
        root = Path(checkpoint_dir) if checkpoint_dir not in (None, True) else default_checkpoint_dir()
        path = root / f"baseline_{name}_{stamp_key(stamp)}.pt"

    def train() -> FitResult:
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        return fit(model, make_loader(dataset["train"], config.batch_size, shuffle=True, seed=int(seed)),
                   make_loader(dataset["valid"], config.eval_batch_size), _l1, optimizer=optimizer,
                   config=FitConfig(epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay,
                                    grad_clip=config.grad_clip, patience=config.patience, select_metric="MAE",
                                    select_mode="min", amp=config.amp, device=str(device), progress=config.progress,
                                    seed=int(seed)),
                   metric_dataset=dataset.metric_dataset)

    _, result = fit_or_load(path, model, train, retrain=retrain, stamp=stamp)
    model.to(device).eval()
    return model, (result if isinstance(result, FitResult) else FitResult(**result))


def evaluate_protocols(model: torch.nn.Module, dataset, *, seed: int = 0, split: str = "test",
                       batch_size: int = 256, predictions: dict | None = None,
                       condition_kwargs: Mapping | None = None) -> dict[str, dict[str, float]]:
    """``{condition: metrics}`` of ``model`` on ``dataset[split]`` under both protocols.

    SDUMC's ``text_missing`` (real text := simulated text) needs ``text_sim`` in the data and is left out
    without it; CorrKD's conditions (:data:`msa_lib.training.corrkd.DEFAULT_CONDITIONS`: ``complete``, the six
    subsets, ``frame_missing_0.0`` … ``0.9``, plus ``frame_missing_1.0``, where every frame of every modality is
    gone and a model can only answer with what it learned the empty input means) use masks fixed by ``seed``, the
    same for every model of a seed.
    ``predictions``, when given, receives ``{condition: pred [N]}``."""
    from .corrkd import DEFAULT_CONDITIONS, evaluate_conditions
    from .sdumc import condition_transform

    from ..metrics import regression_metrics

    loader = make_loader(dataset[split], batch_size)
    out: dict[str, dict[str, float]] = {}
    preds: dict = {}
    out.update(evaluate_conditions(model, dataset, (*DEFAULT_CONDITIONS, "frame_missing_1.0"), split=split, seed=seed,
                                   loader=loader,
                                   condition_kwargs=condition_kwargs, predictions=preds))
    if "text_sim" in dataset.input_dims:
        pred, true = predict(model, loader, transform=condition_transform("text_missing"),
                             device=next(model.parameters()).device)
        out["text_missing"] = regression_metrics(pred, true, dataset=dataset.metric_dataset)
        preds["text_missing"] = np.asarray(pred, np.float32)
    if predictions is not None:
        predictions.update(preds)
    return out


@dataclass
class HeadToHead:
    """What :func:`run_head_to_head` returns: result rows, histories, training times, test predictions, and the
    resolved configuration of every method (for :func:`~msa_lib.training.write_results`)."""

    rows: list = field(default_factory=list)
    histories: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    configs: dict = field(default_factory=dict)

    def write(self, name: str, dataset, *, quick: bool, seeds: Sequence[int], command: str,
              extra: Mapping | None = None, wall_seconds: float | None = None):
        from .results import write_results

        return write_results(name, self.rows, quick=quick, seeds=seeds, dataset=dataset, command=command,
                             configs=self.configs, code_modules=list(head_to_head_code()),
                             histories=self.histories, seconds=self.seconds, predictions=self.predictions,
                             wall_seconds=wall_seconds if wall_seconds is not None else sum(self.seconds.values()),
                             extra=dict(extra) if extra else None)


def _check_head_to_head_methods(methods: Sequence[str]) -> None:
    unknown = [m for m in methods if m not in HEAD_TO_HEAD_METHODS]
    if unknown:
        raise ValueError(f"run_head_to_head: unknown methods {unknown}; choose from {HEAD_TO_HEAD_METHODS}")


def _head_to_head_recipes(methods: Sequence[str], quick: bool, device: str | None = None, progress: bool = False):
    """The training configs of chapter 07: SDUMC's, CorrKD's, and each baseline's (MMSA's MOSI recipe in full mode)."""
    from . import corrkd as ck
    from . import sdumc as sd

    sd_config = sd.SDUMCTrainConfig.for_mode(quick)
    ck_config = dataclasses.replace(ck.CorrKDTrainConfig.quick() if quick else ck.CorrKDTrainConfig.full(),
                                    progress=progress, device=device)
    baselines = {m: dataclasses.replace(BaselineTrainConfig.for_mode(m, quick), device=device, progress=progress)
                 for m in methods if m in BASELINES}
    return sd_config, ck_config, baselines


def head_to_head_configs(methods: Sequence[str] = HEAD_TO_HEAD_METHODS, *, quick: bool) -> dict[str, dict]:
    """``{method: full resolved config}`` of chapter 07's methods (what the results file's config hashes cover)."""
    from . import corrkd as ck
    from . import sdumc as sd

    _check_head_to_head_methods(methods)
    sd_config, ck_config, baselines = _head_to_head_recipes(methods, quick)
    out = {}
    for m in methods:
        if m in BASELINES:
            out[m] = {"method": m, **baselines[m].settings()}
        elif m.startswith("sdumc"):
            out[m] = sd.method_config("teacher" if m == "sdumc_teacher" else "sdumc", sd_config)
        else:
            out[m] = ck.method_config("teacher" if m == "corrkd_teacher" else "corrkd", ck_config)
    return out


def head_to_head_code() -> tuple[str, ...]:
    """The modules whose code decides chapter 07's numbers (the baselines', SDUMC's and CorrKD's)."""
    from .corrkd import CODE_MODULES as CORRKD_CODE
    from .sdumc import CODE_MODULES as SDUMC_CODE

    return tuple(sorted({*CODE_MODULES, *SDUMC_CODE, *CORRKD_CODE, "msa_lib.data.annotator_story"}))


#: chapter 07's quick data: the annotator story at a size a CPU trains seven models on in about a minute
HEAD_TO_HEAD_QUICK_SIZES = (160, 64, 96)


def head_to_head_data(data_path=None, *, quick: bool, seed: int = 7, root=None):
    """Chapter 07's data set: ``data_path`` through :func:`msa_lib.data.load_dataset` when given; else the
    annotator story's MMSA ``aligned_50.pkl`` (:func:`msa_lib.data.annotator_story.annotator_mosi`) at CMU-MOSI's
    sizes in full mode, at :data:`HEAD_TO_HEAD_QUICK_SIZES` in quick mode, scored with the MOSI / MOSEI metrics.
    The default is written once into ``root`` (the checkpoint folder's ``data/``) and read back through
    :func:`~msa_lib.data.load_mmsa` like any downloaded file; SDUMC's simulated text is fitted on it (cached)."""
    from ..data import load_dataset
    from ..data.annotator_story import MOSI_SIZES, annotator_mosi

    if data_path is not None:
        return load_dataset(data_path, quick=quick)
    path = annotator_mosi(root, seed=seed, sizes=HEAD_TO_HEAD_QUICK_SIZES if quick else MOSI_SIZES)
    import warnings

    with warnings.catch_warnings():  # no simulated text by design: load_dataset fits it; its warning is noise here
        warnings.filterwarnings("ignore", message=".*has no simulated text")
        return load_dataset(path, quick=False, metric_dataset="mosei")  # MOSI and MOSEI share one metric set


def run_head_to_head(dataset, seeds: Sequence[int] = (0, 1), *, quick: bool = True,
                     methods: Sequence[str] = HEAD_TO_HEAD_METHODS, checkpoint_dir: str | Path | bool | None = False,
                     device: str | None = None, progress: bool = False) -> HeadToHead:
    """Chapter 07: every method of ``methods`` trained with each seed by its own recipe (the baselines:
    :func:`train_baseline`; ``sdumc_teacher`` / ``sdumc``: :func:`msa_lib.training.sdumc.train_method`;
    ``corrkd_teacher`` / ``corrkd``: :func:`msa_lib.training.corrkd.train_teacher` / ``train_student``), then
    evaluated by :func:`evaluate_protocols`. Validation selects every model; the test split is read once per
    model and condition. ``device``: ``None`` = :func:`~msa_lib.training.select_device` (a GPU when there is one).
    :mod:`msa_lib.training.grid` runs the same calls one (method, seed) per Ray task."""
    from . import corrkd as ck
    from . import sdumc as sd

    _check_head_to_head_methods(methods)
    run = HeadToHead()
    sd_config, ck_config, baseline_configs = _head_to_head_recipes(methods, quick, device, progress)
    run.configs = head_to_head_configs(methods, quick=quick)
    ckpt = checkpoint_dir if checkpoint_dir is not None else True
    for seed in seeds:
        seed = int(seed)
        corrkd_teacher = None
        for m in methods:
            started = time.perf_counter()
            if m in BASELINES:
                model, hist = train_baseline(m, dataset, seed, quick, baseline_configs[m], checkpoint_dir=ckpt)
            elif m.startswith("sdumc"):
                model, hist = sd.train_method("teacher" if m == "sdumc_teacher" else "sdumc", dataset, seed=seed,
                                              config=sd_config, device=device, checkpoint=ckpt,
                                              progress=progress)
            else:
                if corrkd_teacher is None:
                    corrkd_teacher, teacher_hist = ck.train_teacher(dataset, seed, quick, ck_config, checkpoint_dir=ckpt)
                if m == "corrkd_teacher":
                    model, hist = corrkd_teacher, teacher_hist
                else:
                    model, hist = ck.train_student("corrkd", dataset, corrkd_teacher, seed, quick, ck_config,
                                                   checkpoint_dir=ckpt)
            run.seconds[(m, seed)] = time.perf_counter() - started
            run.histories[(m, seed)] = hist
            preds: dict = {}
            for c, metrics in evaluate_protocols(model, dataset, seed=seed, predictions=preds).items():
                run.rows.append(result_row(m, c, seed, metrics))
                run.predictions[(m, c, seed)] = preds[c]
    return run
