"""What the Ray grid runner (msa_lib.training.grid) costs: scheduling overhead per trial, and the idle share of
the CPUs over a grid. Prints figures; nothing here is a timed test.

    python benchmarks/bench_grid.py                      # overhead of empty trials + a quick grid (~2 min, 2 CPUs)
    python benchmarks/bench_grid.py --grid corrkd --full # chapter 05's full grid (hours on 2 CPUs): wall time and
                                                         # idle share, against --baseline-minutes of another runner
    python benchmarks/bench_grid.py --from-store DIR --wall-seconds S  # the same figures for a grid that already
                                                         # ran (python -m msa_lib.training.grid prints S at its end)
    python benchmarks/bench_grid.py --from-store DIR --since "2026-12-07 14:24:51"  # one segment of a grid that
                                                         # ran in several sittings (stopped and resumed)
    python benchmarks/bench_grid.py --against-lockfile   # chapter 05's quick grid (47 trials) through this runner
                                                         # and through the lock-file runner it replaced, side by side

* **Overhead per trial**: ``n`` empty Ray tasks of 1 CPU each (what a trial pays for scheduling, argument and
  result transfer), against a plain Python call, after Ray has started (its start-up is printed separately).
* **Against the runner it replaced** (``--against-lockfile``): ``scripts/train_corrkd_full.py`` (worker processes
  claiming jobs with lock files, a student polling every 5 s for its teacher's checkpoint), taken unchanged from
  the commit before it was retired (``git show 00e501a^:...``, so this needs a git checkout), except for the two
  lines that fix it to full mode: there, as in the Ray grid's ``--quick``, ``CorrKDTrainConfig.quick()`` and the
  quick synthetic set. Both train the same 47 models with 2 workers, each into its own empty checkpoint folder;
  the wall time includes each runner's start-up (Ray's, the workers' imports). Quick trials last seconds, so this
  is where a runner's own overhead shows most; on the full grid (trials of 5-30 min) both are bounded below by
  the trials' own time / slots, which ``--from-store`` compares against.
* **Idle share**: over a grid run, ``1 - (sum of the trials' own seconds) / (wall seconds × CPU slots)``: the part
  of the machine the runner left unused (start-up, waiting on a teacher, the last trial running alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _empty(x):
    return x


def overhead(n: int, cpus: int) -> None:
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, log_to_driver=False, logging_level="ERROR", include_dashboard=False)
    start = time.perf_counter() - t0
    task = ray.remote(_empty).options(num_cpus=1)
    ray.get([task.remote(i) for i in range(cpus)])  # warm the workers
    t0 = time.perf_counter()
    ray.get([task.remote(i) for i in range(n)])
    per_task = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for i in range(n):
        _empty(i)
    plain = (time.perf_counter() - t0) / n
    ray.shutdown()
    print(f"Ray start-up (local, {cpus} CPUs): {start:.1f} s")
    print(f"empty trial: {per_task * 1e3:.2f} ms per task on Ray vs {plain * 1e6:.2f} µs in process "
          f"({n} tasks, {cpus} at once)")


def grid_run(experiment: str, quick: bool, seeds, cpus: int, baseline_minutes: float | None) -> None:
    from msa_lib.training.grid import Grid, run_grid

    grid = Grid(experiment, seeds=tuple(seeds), quick=quick)
    report = run_grid(grid, num_cpus=cpus, write=False, progress=False)
    busy = sum(sum(r.seconds.values()) for r in report.results.values())
    idle = 1 - busy / (report.seconds * cpus)
    print(f"grid {experiment} ({'quick' if quick else 'full'}, seeds {list(seeds)}): {len(report.ran)} trials in "
          f"{report.seconds:.0f} s wall on {cpus} CPU slots; trials' own time {busy:.0f} s; idle share {idle:.1%}"
          + (f"; failed: {sorted(report.failed)}" if report.failed else ""))
    if baseline_minutes:
        print(f"against the other runner's {baseline_minutes:.0f} min: ratio {report.seconds / 60 / baseline_minutes:.2f}"
              " (below 1: the Ray runner is faster)")


LOCKFILE_RUNNER = ("00e501a^", "scripts/train_corrkd_full.py")  # the last commit that had it, and its path


def against_lockfile(cpus: int, seeds) -> None:
    """Chapter 05's quick grid through the Ray runner and through the retired lock-file runner (module docstring)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    rev, path = LOCKFILE_RUNNER
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, check=True, capture_output=True,
                            text=True).stdout
    to_quick = {"CorrKDTrainConfig.full()": "CorrKDTrainConfig.quick()",
                "load_dataset(None, quick=False, seed=seed_data)":
                    'load_dataset(None, quick=True, seed=seed_data, simulated_text="none")'}
    for old, new in to_quick.items():
        if source.count(old) != 1:
            raise SystemExit(f"{rev}:{path}: expected one {old!r} to switch to quick mode; the script has changed")
        source = source.replace(old, new)
    work = Path(tempfile.mkdtemp(prefix="bench-lockfile-"))
    script = work / "train_corrkd_full.py"
    script.write_text(source.replace("ROOT = Path(__file__).resolve().parents[1]", f"ROOT = Path({str(root)!r})"))
    env = {**os.environ, "MSA_CHECKPOINT_DIR": str(work / "ckpt"), "TQDM_DISABLE": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script), "--workers", str(cpus), "--seeds", *map(str, seeds)], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    lockfile = time.perf_counter() - started
    trained = len(list((work / "ckpt").glob("corrkd_*.pt")))

    from msa_lib.training.grid import Grid, run_grid

    os.environ["MSA_CHECKPOINT_DIR"] = str(work / "ckpt-ray")
    started = time.perf_counter()
    report = run_grid(Grid("corrkd", seeds=tuple(seeds), quick=True), num_cpus=cpus, write=False, progress=False)
    ray_wall = time.perf_counter() - started
    busy = sum(sum(r.seconds.values()) for r in report.results.values())
    print(f"chapter 05's quick grid, seeds {list(seeds)}, {cpus} workers: lock-file runner {lockfile:.0f} s "
          f"({trained} checkpoints); Ray runner {ray_wall:.0f} s ({len(report.ran)} trials, trials' own time "
          f"{busy:.0f} s, Ray start-up included); ratio Ray / lock-file {ray_wall / lockfile:.2f} "
          "(below 1: the Ray runner is faster)")


def from_store(store: Path, wall: float | None, cpus: int, baseline_minutes: float | None,
               baseline_trials: int | None, since: datetime | None = None) -> None:
    """Busy time, idle share and wall time per trial of a grid that ran through ``python -m msa_lib.training.grid``,
    from its stored trials (``<checkpoint folder>/grid/<experiment>-<mode>/*.pkl``) and the wall time it printed.

    ``since``: only the trials stored after this time (the start of one sitting of a grid that was stopped and
    resumed); without ``wall``, the sitting's wall time is then taken to end when its last trial was stored. The
    trials still running at that moment are not counted as busy, so the idle share is then an upper bound."""
    import pickle

    paths = sorted(Path(store).glob("*.pkl"))
    if since is not None:
        paths = [p for p in paths if p.stat().st_mtime >= since.timestamp()]
    results = [pickle.loads(p.read_bytes()) for p in paths]
    if not results:
        raise SystemExit(f"{store}: no stored trials (*.pkl)" + (f" after {since}" if since else ""))
    if wall is None:
        if since is None:
            raise SystemExit("from_store: give the grid's wall time, or --since to measure a sitting")
        wall = max(p.stat().st_mtime for p in paths) - since.timestamp()
        print(f"sitting from {since:%Y-%m-%d %H:%M:%S} to the last stored trial: {wall:.0f} s")
    per_trial = sorted((sum(r.seconds.values()), r.trial) for r in results)
    busy = sum(s for s, _ in per_trial)
    print(f"{store}: {len(results)} trials, wall {wall:.0f} s on {cpus} CPU slots ({wall / len(results):.0f} s of wall "
          f"per trial); trials' own time {busy:.0f} s (median {per_trial[len(per_trial) // 2][0]:.0f} s, longest "
          f"{per_trial[-1][0]:.0f} s: {per_trial[-1][1]}); idle share {1 - busy / (wall * cpus):.1%}")
    print(f"no runner can run these trials on {cpus} slots in less than their own time / {cpus} = {busy / cpus:.0f} s; "
          f"this one took {wall / (busy / cpus):.3f}x that")
    if baseline_minutes and baseline_trials:
        base = baseline_minutes * 60 / baseline_trials
        print(f"against the other runner's {baseline_minutes:.0f} min for {baseline_trials} trials ({base:.0f} s of wall "
              f"per trial): ratio per trial {wall / len(results) / base:.2f} (below 1: the Ray runner is faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--grid", default="head_to_head", choices=("missing_text", "corrkd", "head_to_head"))
    parser.add_argument("--full", action="store_true", help="the full-mode grid (hours on a CPU)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="default: 0 1 for the grid run, the chapter's 0-4 with --against-lockfile")
    parser.add_argument("--overhead-only", action="store_true", help="only the empty-trial overhead")
    parser.add_argument("--baseline-minutes", type=float, default=None,
                        help="wall time of the same grid through another runner, for the ratio")
    parser.add_argument("--from-store", type=Path, default=None,
                        help="a finished grid's store folder: print its figures instead of running anything")
    parser.add_argument("--wall-seconds", type=float, default=None, help="with --from-store: the grid's wall time")
    parser.add_argument("--against-lockfile", action="store_true",
                        help="chapter 05's quick grid through this runner and the retired lock-file runner")
    parser.add_argument("--since", type=datetime.fromisoformat, default=None,
                        help='with --from-store: only trials stored after this local time ("YYYY-MM-DD HH:MM:SS")')
    parser.add_argument("--baseline-trials", type=int, default=None,
                        help="with --from-store: how many trials --baseline-minutes covered (a per-trial ratio)")
    args = parser.parse_args()
    if args.from_store is not None:
        if args.wall_seconds is None and args.since is None:
            parser.error("--from-store needs --wall-seconds (printed by the grid at its end) or --since")
        from_store(args.from_store, args.wall_seconds, args.cpus, args.baseline_minutes, args.baseline_trials,
                   args.since)
        return
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.against_lockfile:
        against_lockfile(args.cpus, args.seeds or [0, 1, 2, 3, 4])
        return
    os.environ.setdefault("MSA_CHECKPOINT_DIR", tempfile.mkdtemp(prefix="bench-grid-"))  # nothing loaded from before
    overhead(args.tasks, args.cpus)
    if not args.overhead_only:
        grid_run(args.grid, not args.full, args.seeds or [0, 1], args.cpus, args.baseline_minutes)


if __name__ == "__main__":
    main()
