"""The book's full-mode experiments as grids of trials, run on Ray: one laptop, one GPU box or a cluster.

A full evaluation is a grid: methods × seeds (× ablations and exercise variants) on one data set. :class:`Grid`
describes it once — the experiment (``"missing_text"``: chapter 04, ``"corrkd"``: chapter 05, ``"head_to_head"``:
chapter 07), the seeds, the methods, the mode and the data — and derives everything else from the library: the
trained configurations are those of :mod:`msa_lib.training.experiments` (what the staleness check hashes), the
trials and their order are :meth:`Grid.trials`, and each trial is the library's own "load if present, else
train" call with keyed checkpoints. :func:`run_grid` runs the trials:

* on **Ray** (default): every trial is a Ray task with ``cpus_per_trial`` CPUs (1: two at once on a 2-core
  machine) or a fraction of a GPU (``gpus_per_trial``, e.g. 0.25: four small models share one GPU). With no
  cluster, ``ray.init()`` starts a local Ray on this machine; with ``RAY_ADDRESS`` (or ``address=``) set, the same
  call runs on an existing cluster (the checkpoint folder, ``$MSA_CHECKPOINT_DIR``, must then be shared storage);
* in this process (``use_ray=False``), one trial after the other: what a notebook does.

Why Ray Core tasks and not Ray Tune: the trials are fixed configurations, not a search; a student needs its
teacher's model, which Ray Core expresses directly (the student's task takes the teacher's task as an argument
and starts when it has finished); and Tune's own trial folders and checkpointing would duplicate the keyed
checkpoints the notebooks already share.

**Resumable and idempotent.** Each finished trial stores its result (rows, history, time, test predictions)
under a name that hashes the trial, its configuration, the data's content and the code
(``<checkpoint folder>/grid/<experiment>-<mode>/``); a grid started again loads those and schedules only the
rest, and a model whose checkpoint exists is loaded, not retrained. A trial that raises is retried once
(``retries``), then reported by name with its error; the other trials go on and their rows are written. One
writer merges the trials into ``results/<name>.json`` with the provenance fields
(:func:`~msa_lib.training.write_results`); nothing is merged by hand. Chapter 05's file is written by its
notebook (it computes more than rows from the trained models): its grid trains every model and says so.

Command line (one per chapter; ``--address`` or ``RAY_ADDRESS`` for a cluster)::

    python -m msa_lib.training.grid missing_text --seeds 0 1 2 3 4
    python -m msa_lib.training.grid corrkd && papermill notebooks/05_corrkd.ipynb out.ipynb -p QUICK False
    python -m msa_lib.training.grid head_to_head --device cuda --gpus-per-trial 0.25
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

__all__ = ["GRID_EXPERIMENTS", "Trial", "Grid", "TrialResult", "GridReport", "run_grid"]

#: the experiments a grid can run: chapter 04's, chapter 05's and chapter 07's
GRID_EXPERIMENTS = ("missing_text", "corrkd", "head_to_head")


@dataclass(frozen=True)
class Trial:
    """One model of a grid: ``method`` (with an optional exercise ``variant``) trained with ``seed``; ``needs``
    names the trial that must finish first (a CorrKD student's teacher)."""

    experiment: str
    method: str
    seed: int
    variant: str | None = None
    needs: str | None = None

    @property
    def name(self) -> str:
        return f"{self.experiment}:{self.method}{'/' + self.variant if self.variant else ''}:seed{self.seed}"


@dataclass
class TrialResult:
    """What a trial returns: result rows (none for chapter 05's trials, whose notebook evaluates), the per-epoch
    history of each model it trained, training seconds and test predictions, keyed as
    :func:`~msa_lib.training.write_results` takes them."""

    trial: str
    rows: list = field(default_factory=list)
    histories: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)


@dataclass
class GridReport:
    """What :func:`run_grid` returns: every finished trial's result (loaded or run now), the failures by trial
    name, which trials were run in this call, and the results file written (or None)."""

    results: dict[str, TrialResult]
    failed: dict[str, str]
    ran: list[str]
    path: Path | None
    seconds: float

    @property
    def rows(self) -> list[dict]:
        return [r for res in self.results.values() for r in res.rows]


# ----------------------------------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Grid:
    """A full (or quick) evaluation: ``experiment`` on ``data_path`` (None: the chapter's default data) with
    ``seeds`` and ``methods`` (None: the experiment's methods). ``device``: where each trial trains (None:
    :func:`~msa_lib.training.select_device` in the worker)."""

    experiment: str
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    methods: tuple[str, ...] | None = None
    quick: bool = False
    data_path: str | None = None
    device: str | None = None
    exercise_seed: int = 0

    def __post_init__(self):
        if self.experiment not in GRID_EXPERIMENTS:
            raise ValueError(f"Grid: unknown experiment {self.experiment!r}; choose one of {GRID_EXPERIMENTS}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        allowed = self.default_methods()
        methods = tuple(self.methods) if self.methods is not None else allowed
        unknown = [m for m in methods if m not in allowed]
        if unknown:
            raise ValueError(f"Grid({self.experiment!r}): unknown methods {unknown}; choose from {list(allowed)}")
        object.__setattr__(self, "methods", methods)
        if self.data_path is not None:
            object.__setattr__(self, "data_path", str(self.data_path))

    # -- what the experiment is -------------------------------------------------------------------------
    def default_methods(self) -> tuple[str, ...]:
        """The experiment's methods, as :data:`msa_lib.training.experiments.EXPERIMENTS` lists them."""
        from .experiments import EXPERIMENTS

        return tuple(EXPERIMENTS[self.experiment].methods())

    def sdumc_config(self):
        from .sdumc import SDUMCTrainConfig

        return SDUMCTrainConfig.for_mode(self.quick)

    def corrkd_config(self, variant: str | None = None):
        from .corrkd import CorrKDTrainConfig, MRMConfig

        config = dataclasses.replace(CorrKDTrainConfig.quick() if self.quick else CorrKDTrainConfig.full(),
                                     device=self.device, progress=False)
        if variant is None:
            return config
        if variant == "margin_2":  # chapter 05, exercise 1
            return dataclasses.replace(config, losses=dataclasses.replace(config.losses, margin=2.0))
        if variant == "cmad_weights":  # chapter 05, exercise 2
            return dataclasses.replace(config, mrm=MRMConfig(subset_weights=(2, 3, 3, 1, 1, 3, 1)))
        raise ValueError(f"unknown CorrKD variant {variant!r}")

    def trials(self) -> list[Trial]:
        """Every trial, seed-major in the methods' order (a student after its teacher)."""
        exp = self.experiment
        if exp == "missing_text":
            trained = list(dict.fromkeys("teacher" if m == "teacher_zero_text" else m for m in self.methods))
            return [Trial(exp, m, s) for s in self.seeds for m in trained]
        if exp == "head_to_head":
            out = []
            for s in self.seeds:
                teacher = Trial(exp, "corrkd_teacher", s)
                out += [Trial(exp, m, s, needs=teacher.name if m == "corrkd" and "corrkd_teacher" in self.methods
                              else None) for m in self.methods]
            return out
        from .corrkd import _method_terms

        teachers = {s: Trial(exp, "teacher", s) for s in self.seeds}
        students = [m for m in self.methods if m != "teacher"]

        def student(m, s, variant=None):
            needs = _method_terms(m)["teacher"]
            if needs and "teacher" not in self.methods:
                raise ValueError(f"Grid('corrkd'): {m!r} distils from the teacher; keep 'teacher' in the methods")
            return Trial(exp, m, s, variant, teachers[s].name if needs else None)

        out = [teachers[s] for s in self.seeds] if "teacher" in self.methods else []
        out += [student(m, s) for s in self.seeds for m in students]
        if self.exercise_seed in self.seeds:  # the exercises' students (chapter 05's solutions)
            out += [student(m, self.exercise_seed, v) for m, v in (("corrkd", "margin_2"),
                                                                   ("student_no_kd", "cmad_weights"))
                    if m in self.methods]
        return out

    def load_data(self):
        """The data set every trial trains on (read once per process)."""
        return _load_data(self.experiment, self.data_path, self.quick)

    def results_name(self, dataset) -> str:
        from .results import results_name

        if self.experiment == "head_to_head" and self.data_path is None:
            return "head_to_head"  # the chapter's own data, as the synthetic default is for 04 and 05
        return results_name(self.experiment, dataset)

    def code_modules(self) -> tuple[str, ...]:
        from .experiments import EXPERIMENTS

        return tuple(EXPERIMENTS[self.experiment].code_modules())

    def trial_config(self, trial: Trial) -> dict[str, Any]:
        """The full resolved configuration of the model(s) ``trial`` trains (what its stored result is keyed on)."""
        if self.experiment == "missing_text":
            from .sdumc import method_config

            return method_config(trial.method, self.sdumc_config())
        if self.experiment == "head_to_head":
            from .baselines import head_to_head_configs

            configs = head_to_head_configs([trial.method], quick=self.quick)
            if trial.method == "corrkd":  # trains (or loads) its teacher too
                configs.update(head_to_head_configs(["corrkd_teacher"], quick=self.quick))
            return configs
        from .corrkd import method_config

        return method_config(trial.method, self.corrkd_config(trial.variant))

    def trial_key(self, trial: Trial, dataset) -> str:
        from .checkpoints import checkpoint_stamp, stamp_key

        stamp = checkpoint_stamp(config={"trial": trial.name, "quick": self.quick, **self.trial_config(trial)},
                                 dataset=dataset, code_modules=self.code_modules())
        return stamp_key(stamp)

    def store(self) -> Path:
        """Where finished trials are kept: ``<checkpoint folder>/grid/<experiment>-<mode>/``."""
        from .checkpoints import checkpoint_dir

        return checkpoint_dir() / "grid" / f"{self.experiment}-{'quick' if self.quick else 'full'}"

    def trial_path(self, trial: Trial, dataset) -> Path:
        slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in trial.name)
        return self.store() / f"{slug}_{self.trial_key(trial, dataset)}.pkl"

    # -- one trial ------------------------------------------------------------------------------------
    def run_trial(self, trial: Trial) -> TrialResult:
        """Train (or load) the trial's model and, for chapters 04 and 07, evaluate it on the test split; store the
        result (atomically) and return it."""
        dataset = self.load_data()
        result = getattr(self, f"_{self.experiment}_trial")(trial, dataset)
        path = self.trial_path(trial, dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump(result, f)
        os.replace(tmp, path)
        return result

    def _missing_text_trial(self, trial: Trial, dataset) -> TrialResult:
        from .sdumc import run_missing_text_experiment

        methods = [trial.method] + (["teacher_zero_text"] if trial.method == "teacher"
                                    and "teacher_zero_text" in self.methods else [])
        methods = [m for m in self.methods if m in methods]  # the grid's order
        seconds, predictions = {}, {}
        rows, fits = run_missing_text_experiment(dataset, seeds=[trial.seed], quick=self.quick, methods=methods,
                                                 device=self.device, config=self.sdumc_config(), checkpoint=True,
                                                 predictions=predictions, seconds=seconds)
        return TrialResult(trial.name, rows, dict(fits), seconds, predictions)

    def _head_to_head_trial(self, trial: Trial, dataset) -> TrialResult:
        from .baselines import run_head_to_head

        run = run_head_to_head(dataset, seeds=[trial.seed], quick=self.quick, methods=[trial.method],
                               checkpoint_dir=True, device=self.device)
        return TrialResult(trial.name, run.rows, run.histories, run.seconds, run.predictions)

    def _corrkd_trial(self, trial: Trial, dataset) -> TrialResult:
        from .corrkd import train_student, train_teacher

        config = self.corrkd_config(trial.variant)
        started = time.perf_counter()
        if trial.method == "teacher":
            _, history = train_teacher(dataset, trial.seed, self.quick, config, checkpoint_dir=True)
        else:
            teacher = (train_teacher(dataset, trial.seed, self.quick, self.corrkd_config(), checkpoint_dir=True)[0]
                       if trial.needs else None)
            _, history = train_student(trial.method, dataset, teacher, trial.seed, self.quick, config,
                                       checkpoint_dir=True)
        key = (trial.method if trial.variant is None else f"{trial.method}/{trial.variant}", trial.seed)
        return TrialResult(trial.name, [], {key: history}, {key: time.perf_counter() - started})

    # -- the file ---------------------------------------------------------------------------------------
    def write(self, results: Sequence[TrialResult], dataset, *, command: str, wall_seconds: float,
              failed: dict[str, str]) -> Path | None:
        """Merge the trials' results into ``results/<name>.json`` (quick runs: ``results/quick/``), with
        provenance; chapter 05's grid writes nothing (its notebook does). Failed trials are listed in the file."""
        extra = {"runner": "msa_lib.training.grid", "failed_trials": dict(failed)}
        rows = [r for res in results for r in res.rows]
        seconds = {k: v for res in results for k, v in res.seconds.items()}
        predictions = {k: v for res in results for k, v in res.predictions.items()}
        histories = {k: v for res in results for k, v in res.histories.items()}
        name = self.results_name(dataset)
        if self.experiment == "missing_text":
            from .sdumc import write_missing_text_results

            return write_missing_text_results(name, dataset, rows, histories, config=self.sdumc_config(),
                                              methods=list(self.methods), seeds=list(self.seeds), quick=self.quick,
                                              command=command, seconds=seconds, predictions=predictions,
                                              wall_seconds=wall_seconds, extra=extra)
        if self.experiment == "head_to_head":
            from .baselines import HeadToHead, head_to_head_configs

            run = HeadToHead(rows=rows, histories=histories, seconds=seconds, predictions=predictions,
                             configs=head_to_head_configs(self.methods, quick=self.quick))
            return run.write(name, dataset, quick=self.quick, seeds=list(self.seeds), command=command, extra=extra,
                             wall_seconds=wall_seconds)
        return None


@lru_cache(maxsize=4)
def _load_data(experiment: str, data_path: str | None, quick: bool):
    import warnings

    if experiment == "head_to_head":
        from .baselines import head_to_head_data

        return head_to_head_data(data_path, quick=quick)
    from ..data import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the driver has shown load_dataset's warnings once already
        # CorrKD never uses simulated text (chapter 05's SIMULATED_TEXT = "none"); SDUMC needs it
        return load_dataset(data_path, quick=quick, seed=0,
                            simulated_text="none" if experiment == "corrkd" else "auto")


def _trial_task(grid: Grid, trial: Trial, threads: int, *prerequisites):
    """A Ray task: one trial in a worker process (``prerequisites``: the results of the trials it needs, which
    Ray hands over only once they have finished)."""
    import torch

    torch.set_num_threads(threads)
    return grid.run_trial(trial)


# ----------------------------------------------------------------------------------------------- the runner
def _load_finished(grid: Grid, trials: Sequence[Trial], dataset) -> dict[str, TrialResult]:
    out = {}
    for t in trials:
        path = grid.trial_path(t, dataset)
        if path.is_file():
            try:
                with open(path, "rb") as f:
                    out[t.name] = pickle.load(f)
            except Exception as err:  # a damaged store file: run the trial again, say why
                print(f"[grid] {path} cannot be read ({type(err).__name__}: {err}); {t.name} runs again",
                      file=sys.stderr)
    return out


def _error_text(err: BaseException) -> str:
    cause = getattr(err, "cause", None)  # Ray's RayTaskError carries the trial's own exception
    inner = cause if isinstance(cause, BaseException) else err
    text = f"{type(inner).__name__}: {inner}".strip()
    return text.splitlines()[0] if text else type(inner).__name__


class _Progress:
    """Trials done / running / failed with an ETA: a ``tqdm`` bar on a terminal, and one plain line per finished
    trial where there is no terminal (a log file, ``nohup``, CI; also when ``TQDM_DISABLE`` is set), so that a
    grid left running in the background can be followed with ``tail -f``. The ETA is the wall time per finished
    trial in this sitting times the trials left (trials loaded from earlier sittings do not count)."""

    def __init__(self, experiment: str, total: int, loaded: int, enabled: bool, running=None):
        from tqdm.auto import tqdm

        self.total, self.done, self.failed = total, loaded, 0
        self.loaded, self.started, self.running = loaded, time.perf_counter(), running or (lambda: None)
        self.bar = tqdm(total=total, initial=loaded, desc=f"grid {experiment}", unit="trial",
                        disable=not enabled or None, dynamic_ncols=True)
        self.lines = enabled and self.bar.disable  # no bar shown: plain lines instead

    def eta(self) -> str:
        finished = self.done + self.failed - self.loaded
        left = self.total - self.done - self.failed
        if finished <= 0 or left <= 0:
            return "" if left <= 0 else "ETA after the first trial"
        seconds = (time.perf_counter() - self.started) / finished * left
        when = time.strftime("%H:%M", time.localtime(time.time() + seconds))
        return f"ETA {when} ({seconds / 3600:.1f} h)" if seconds >= 3600 else f"ETA {when} ({seconds / 60:.0f} min)"

    def update(self, name: str, ok: bool) -> None:
        self.done += ok
        self.failed += not ok
        left = self.total - self.done - self.failed
        running = self.running()
        running = None if running is None else min(running, left)
        self.bar.update(1)
        self.bar.set_postfix(**({} if running is None else {"running": running}), failed=self.failed, left=left,
                             refresh=True)
        if self.lines:
            print(f"[grid] {time.strftime('%H:%M:%S')} {'finished' if ok else 'FAILED'} {name}: {self.done} of "
                  f"{self.total} done, " + ("" if running is None else f"{running} running, ")
                  + f"{self.failed} failed; {self.eta()}", flush=True)

    def close(self) -> None:
        self.bar.close()


def _ray_running(cpus_per_trial: float, gpus_per_trial: float):
    """How many trials Ray is running now, from the resources they hold (``None`` when Ray cannot say)."""

    def running() -> int | None:
        import ray

        try:
            total, free = ray.cluster_resources(), ray.available_resources()
            key, per = ("GPU", gpus_per_trial) if gpus_per_trial else ("CPU", cpus_per_trial)
            return round((total.get(key, 0.0) - free.get(key, 0.0)) / per) if per else None
        except Exception:  # noqa: BLE001 - progress only: never stop a grid over a count
            return None

    return running


def _run_in_process(grid: Grid, todo: Sequence[Trial], threads: int, retries: int, failed: dict, finished) -> None:
    """The trials one after the other in this process, each with ``threads`` torch threads (as a Ray task)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # as each Ray task does: the same sums in the same order, the same numbers
    try:
        for t in todo:
            if t.needs in failed:
                finished(t.name, None, f"not run: {t.needs} failed")
                continue
            result, error = None, None
            for _ in range(retries + 1):
                try:
                    result = grid.run_trial(t)
                    break
                except Exception as err:  # noqa: BLE001 - reported by name, the grid goes on
                    error = _error_text(err)
            finished(t.name, result, error)
    finally:
        torch.set_num_threads(before)


def run_grid(grid: Grid, *, use_ray: bool = True, address: str | None = None, num_cpus: int | None = None,
             cpus_per_trial: float = 1, gpus_per_trial: float = 0.0, retries: int = 1, write: bool = True,
             command: str | None = None, progress: bool = True) -> GridReport:
    """Run every trial of ``grid`` that has not finished before, then write the results file (see the module
    docstring). ``address``: a Ray cluster (default ``$RAY_ADDRESS``; none: a local Ray with ``num_cpus``, default
    all of this machine's). Returns a :class:`GridReport`; failed trials are in ``report.failed`` by name and
    do not stop the others. In process, the trials run with ``cpus_per_trial`` torch threads, as on Ray: both
    runners then give the same numbers. (One thread per trial also keeps trials from oversubscribing the
    cores: with both cores busy, an LSTM step took 12x longer with two threads than with one.)"""
    started = time.perf_counter()
    dataset = grid.load_data()  # writes the default data file / fits the simulator once, before any worker
    trials = grid.trials()
    results = _load_finished(grid, trials, dataset)
    todo = [t for t in trials if t.name not in results]
    failed: dict[str, str] = {}
    ran: list[str] = []
    threads = max(1, int(cpus_per_trial))
    shown = _Progress(grid.experiment, len(trials), len(results), progress,
                      running=_ray_running(cpus_per_trial, gpus_per_trial) if use_ray else lambda: 1)
    if results and progress:
        print(f"[grid] {len(results)} of {len(trials)} trials finished earlier: loaded, not run again", flush=True)
    if todo and progress and shown.lines:
        print(f"[grid] {time.strftime('%H:%M:%S')} {len(todo)} trials to run", flush=True)

    def finished(name: str, result: TrialResult | None, error: str | None) -> None:
        if result is not None:
            results[name] = result
            ran.append(name)
        else:
            failed[name] = error
            print(f"[grid] FAILED {name}: {error}", file=sys.stderr, flush=True)
        shown.update(name, result is not None)

    if todo and not use_ray:
        _run_in_process(grid, todo, threads, retries, failed, finished)
    elif todo:
        import ray

        own = not ray.is_initialized()
        if own:
            address = address or os.environ.get("RAY_ADDRESS") or None
            ray.init(address=address, num_cpus=None if address else num_cpus, log_to_driver=False,
                     logging_level="ERROR", configure_logging=True,
                     runtime_env={"env_vars": {k: v for k, v in os.environ.items()
                                               if k.startswith("MSA_") or k in ("TQDM_DISABLE", "HF_HUB_OFFLINE")}})
        try:
            task = ray.remote(_trial_task).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial,
                                                   max_retries=retries, retry_exceptions=True)
            refs: dict[str, Any] = {}
            names: dict[Any, str] = {}
            for t in todo:
                needs = [refs[t.needs]] if t.needs in refs else []
                ref = task.remote(grid, t, threads, *needs)
                refs[t.name] = ref
                names[ref] = t.name
            pending = list(refs.values())
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=60)
                for ref in ready:
                    try:
                        finished(names[ref], ray.get(ref), None)
                    except Exception as err:  # noqa: BLE001 - RayTaskError: the trial's exception, by name
                        finished(names[ref], None, _error_text(err))
        finally:
            if own:
                ray.shutdown()
    shown.close()
    ordered = {t.name: results[t.name] for t in trials if t.name in results}  # the grid's order
    wall = time.perf_counter() - started
    path = None
    if write and ordered:
        command = command or ("python -m msa_lib.training.grid " + " ".join(sys.argv[1:])).strip()
        path = grid.write(list(ordered.values()), dataset, command=command, wall_seconds=wall, failed=failed)
    if progress:
        print(f"[grid] {grid.experiment}: {len(ran)} trials run, {len(trials) - len(todo)} loaded, {len(failed)} "
              f"failed in {wall:.0f} s" + (f"; wrote {path}" if path else ""), flush=True)
        if grid.experiment == "corrkd" and not failed:
            print("[grid] every model of chapter 05 is trained: make results/corrkd.json with "
                  "papermill notebooks/05_corrkd.ipynb out.ipynb --cwd notebooks -p QUICK False", flush=True)
    return GridReport(ordered, failed, ran, path, wall)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m msa_lib.training.grid",
                                     description="Run a chapter's full-mode grid on Ray (resumable).")
    parser.add_argument("experiment", choices=GRID_EXPERIMENTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=None, help="default: the chapter's methods")
    parser.add_argument("--quick", action="store_true", help="quick mode (writes results/quick/)")
    parser.add_argument("--data-path", default=None, help="default: the chapter's own data")
    parser.add_argument("--device", default=None, help="where trials train (default: cuda > mps > cpu)")
    parser.add_argument("--address", default=None, help="a Ray cluster (default: $RAY_ADDRESS, else a local Ray)")
    parser.add_argument("--num-cpus", type=int, default=None, help="local Ray's CPUs (default: all)")
    parser.add_argument("--cpus-per-trial", type=float, default=1)
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="e.g. 0.25: four trials share a GPU")
    parser.add_argument("--no-ray", action="store_true", help="run the trials one after another in this process")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    grid = Grid(args.experiment, seeds=tuple(args.seeds), methods=tuple(args.methods) if args.methods else None,
                quick=args.quick, data_path=args.data_path, device=args.device)
    report = run_grid(grid, use_ray=not args.no_ray, address=args.address, num_cpus=args.num_cpus,
                      cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                      write=not args.no_write)
    return 1 if report.failed else 0


if __name__ == "__main__":
    # run the importable module's main, so that Ray's workers find the task and the Grid class by name
    from msa_lib.training.grid import main as _main

    sys.exit(_main())
