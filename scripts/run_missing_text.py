"""Full-mode run of chapter 04 without Jupyter: the same library calls as
notebooks/04_missing_text_evaluation.ipynb with QUICK=False, for machines that have PyTorch but no
notebook stack (e.g. a rented GPU), and in parallel single-thread workers on a CPU.

    python scripts/run_missing_text.py --seeds 0 1 2 3 4 --workers 2    # writes results/missing_text.json
    python scripts/run_missing_text.py --seeds 0 --methods teacher sdumc --no-write   # a sanity run
    python scripts/run_missing_text.py --workers 8 --device cuda --deadline 420      # one GPU, a time limit

With ``--workers N`` the models are trained by N processes (one torch thread each, jobs handed out in order)
into the checkpoint folder (several workers can share one GPU: the models are small); the main process then loads every model from its checkpoint (the name hashes the
settings, the data's content and the code), evaluates it and writes the file, exactly as the notebook would.
Prints every training's per-epoch validation scores, the mean ± std table and the file it wrote.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from msa_lib.data import load_dataset  # noqa: E402
from msa_lib.training import checkpoint_dir, results_name, results_table  # noqa: E402
from msa_lib.training.sdumc import (  # noqa: E402
    EVAL_METHODS,
    SDUMCTrainConfig,
    run_missing_text_experiment,
    train_method,
    write_missing_text_results,
)


def _config(args) -> SDUMCTrainConfig:
    config = SDUMCTrainConfig.full()
    if args.epochs is not None:
        config = config.replace(epochs=args.epochs)
    if args.lr is not None:
        config = config.replace(lr=args.lr)
    return config


def _train_job(job):
    """One (method, seed) in a worker process: train into the checkpoint folder, return the seconds."""
    import torch

    torch.set_num_threads(1)
    method, seed, data_path, config, device, folder = job
    dataset = load_dataset(data_path, quick=False, seed=0)
    started = time.perf_counter()
    _, fit = train_method(method, dataset, seed=seed, config=config, device=device, checkpoint=folder)
    return method, seed, time.perf_counter() - started, fit.best_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-path", default=None, help="MMSA .pkl or MERTools folder (default: synthetic, full size)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=list(EVAL_METHODS))
    parser.add_argument("--epochs", type=int, default=None, help="override SDUMCTrainConfig.full().epochs")
    parser.add_argument("--lr", type=float, default=None, help="override SDUMCTrainConfig.full().lr")
    parser.add_argument("--device", default=None)
    parser.add_argument("--workers", type=int, default=1, help="parallel training processes (1 torch thread each)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="with --workers: stop training this many seconds after the start (a rented machine's time limit) "
                             "and evaluate only the seeds whose models all finished")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = parser.parse_args()

    config = _config(args)
    started = time.perf_counter()
    dataset = load_dataset(args.data_path, quick=False, seed=0)
    print(dataset, flush=True)
    folder = checkpoint_dir()
    seconds = {}
    seeds = list(args.seeds)
    if args.workers > 1:
        trained = list(dict.fromkeys("teacher" if m == "teacher_zero_text" else m for m in args.methods))
        jobs = [(m, s, args.data_path, config, args.device, folder) for s in seeds for m in trained]  # seed-major
        with mp.get_context("spawn").Pool(args.workers) as pool:
            done = pool.imap_unordered(_train_job, jobs)
            while len(seconds) < len(jobs):
                left = None if args.deadline is None else args.deadline - (time.perf_counter() - started)
                try:
                    method, seed, secs, best = done.next(timeout=None if left is None else max(left, 0.0))
                except mp.TimeoutError:
                    pool.terminate()
                    break
                seconds[(method, seed)] = secs
                print(f"trained {method} seed {seed} in {secs:.0f} s (best epoch {best})", flush=True)
        complete = [s for s in seeds if all((m, s) in seconds for m in trained)]
        if complete != seeds:
            if not complete:
                sys.exit(f"--deadline {args.deadline} s: no seed has all its models trained; nothing written")
            print(f"!! --deadline {args.deadline} s reached: {len(seconds)} of {len(jobs)} models trained; "
                  f"evaluating and writing the complete seeds {complete} only (the file records them)", flush=True)
            seeds = complete
    predictions = {}
    rows, fits = run_missing_text_experiment(dataset, seeds=seeds, config=config, methods=args.methods,
                                             device=args.device, checkpoint=folder, predictions=predictions,
                                             seconds=seconds if args.workers <= 1 else None)
    for (method, seed), fit in fits.items():
        scores = " ".join(f"{h['valid_score']:.3f}" for h in fit.history)
        print(f"{method:16s} seed {seed}: best epoch {fit.best_epoch:2d}, valid scores {scores}", flush=True)
    print(results_table(rows, metrics=["MAE", "Corr", "Non0_acc_2", "Mult_acc_7"]).to_string())
    wall = time.perf_counter() - started
    print(f"total {wall:.0f} s")
    if not args.no_write:
        command = "python scripts/run_missing_text.py " + " ".join(sys.argv[1:])
        path = write_missing_text_results(
            results_name("missing_text", dataset), dataset, rows, fits, config=config, methods=args.methods,
            seeds=seeds, quick=False, command=command.strip(), seconds=seconds, predictions=predictions,
            wall_seconds=wall, extra={"workers": args.workers})
        print("wrote", path)


if __name__ == "__main__":
    main()
