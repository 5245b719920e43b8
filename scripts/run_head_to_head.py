"""Full-mode run of chapter 07 without Jupyter: the same library calls as notebooks/07_head_to_head.ipynb with
QUICK=False, with the seeds trained in parallel worker processes.

    python scripts/run_head_to_head.py --seeds 0 1 2 3 4 --workers 5            # writes results/head_to_head.json
    python scripts/run_head_to_head.py --seeds 0 --methods tfn sdumc_teacher --no-write   # a sanity run
    python scripts/run_head_to_head.py --workers 5 --device cuda                 # one GPU shared by five workers

Each worker runs :func:`msa_lib.training.baselines.run_head_to_head` for one seed (one torch thread per worker
on a CPU; several workers can share one GPU, the models are small), with checkpoints in the checkpoint folder,
so an interrupted run resumes where it stopped. The main process merges the seeds (:meth:`HeadToHead.merge`)
and writes the file with its provenance. The data are chapter 07's default — the annotator story's MMSA
``aligned_50.pkl`` at CMU-MOSI's sizes (:func:`msa_lib.training.baselines.head_to_head_data`) — or ``--data-path``,
which writes ``results/head_to_head__<data set>.json`` instead.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from msa_lib.training import results_name, results_table  # noqa: E402
from msa_lib.training.baselines import HEAD_TO_HEAD_METHODS, HeadToHead, head_to_head_data, run_head_to_head  # noqa: E402


def _seed_job(job):
    """One seed in a worker process: every method trained (or loaded) and evaluated under both protocols."""
    import torch

    seed, methods, data_path, device, threads = job
    torch.set_num_threads(threads)
    dataset = head_to_head_data(data_path, quick=False)
    started = time.perf_counter()
    run = run_head_to_head(dataset, seeds=[seed], quick=False, methods=methods, checkpoint_dir=True, device=device)
    return seed, run, time.perf_counter() - started


def _selected(fit) -> str:
    """``best / epochs run`` of a FitResult or of CorrKD's history dict."""
    if fit is None:
        return "?"
    if isinstance(fit, dict):
        return f"{fit.get('best_epoch')}/{len(fit.get('history', []))}"
    return f"{fit.best_epoch}/{len(fit.history)}"


def output_name(data_path, dataset) -> str:
    """``head_to_head`` for the chapter's default data, else ``head_to_head__<data set>``."""
    return "head_to_head" if data_path is None else results_name("head_to_head", dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-path", default=None, help="MMSA .pkl or MERTools folder (default: the annotator story, MOSI size)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", default=list(HEAD_TO_HEAD_METHODS))
    parser.add_argument("--device", default=None)
    parser.add_argument("--workers", type=int, default=1, help="parallel seed processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--no-write", action="store_true", help="do not write the results file")
    args = parser.parse_args()

    started = time.perf_counter()
    dataset = head_to_head_data(args.data_path, quick=False)  # writes the default file once, fits the simulator once
    print(dataset, flush=True)
    jobs = [(s, list(args.methods), args.data_path, args.device, args.threads) for s in args.seeds]
    if args.workers > 1:
        with mp.get_context("spawn").Pool(min(args.workers, len(jobs))) as pool:
            done = list(pool.imap_unordered(_seed_job, jobs))
    else:
        done = [_seed_job(j) for j in jobs]
    by_seed = {seed: (run, secs) for seed, run, secs in done}
    for seed in args.seeds:
        run, secs = by_seed[seed]
        best = ", ".join(f"{m} {_selected(h)}" for (m, _), h in run.histories.items())
        print(f"seed {seed}: {secs:.0f} s; selected epoch / epochs run: {best}", flush=True)
    run = HeadToHead.merge([by_seed[s][0] for s in args.seeds])
    shown = [c for c in ("complete", "text_missing", "frame_missing_0.5") if any(r["condition"] == c for r in run.rows)]
    print(results_table([r for r in run.rows if r["condition"] in shown], metrics=["MAE", "Corr", "Non0_acc_2",
                                                                                 "Mult_acc_7"]).to_string())
    wall = time.perf_counter() - started
    print(f"total {wall:.0f} s")
    if not args.no_write:
        command = ("python scripts/run_head_to_head.py " + " ".join(sys.argv[1:])).strip()
        path = run.write(output_name(args.data_path, dataset), dataset, quick=False, seeds=args.seeds, command=command)
        print("wrote", path)


if __name__ == "__main__":
    main()
