"""Train every model of chapter 05's full mode ahead of the notebook, in parallel CPU workers.

notebooks/05_corrkd.ipynb with ``QUICK=False`` trains, per seed, a teacher and the students of
``MAIN_METHODS``, the ablation (``ABLATION_METHODS`` and ``corrkd_rcd_kl``) and the two exercise students, one
after the other in one process. Its models are small (d = 40), so on a CPU one thread per model is almost as
fast as two, and two workers on a 2-core machine finish the whole set in about 60 % of the time. This script
trains exactly those models, with the notebook's settings, into the notebook's checkpoint folder
(``notebooks/checkpoints``, or ``$MSA_CHECKPOINT_DIR``); the notebook then *loads* each one ("load if present, else train") and computes and
writes ``results/corrkd.json`` itself::

    python scripts/train_corrkd_full.py --workers 2          # trains (hours on a 2-core CPU, minutes on a GPU)
    papermill notebooks/05_corrkd.ipynb /tmp/05.ipynb -k python3 --cwd notebooks -p QUICK False

Jobs are claimed through lock files, so workers never train the same model twice; a student waits until its
teacher's checkpoint exists. Nothing here is evaluated on the test split: that happens in the notebook.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the notebook's checkpoint folder: $MSA_CHECKPOINT_DIR when set (give the notebook the same), else
# notebooks/checkpoints (its CHECKPOINT_DIR, with cwd notebooks/)
CHECKPOINTS = Path(os.environ["MSA_CHECKPOINT_DIR"]) if os.environ.get("MSA_CHECKPOINT_DIR") \
    else ROOT / "notebooks" / "checkpoints"


def notebook_config(seed_data: int = 0):
    """The notebook's full-mode CONFIG and dataset (cell 4 of 05_corrkd with QUICK=False, defaults)."""
    from msa_lib.data import load_dataset
    from msa_lib.training.corrkd import CorrKDTrainConfig

    config = dataclasses.replace(CorrKDTrainConfig.full(), device=None, progress=False)
    return config, load_dataset(None, quick=False, seed=seed_data)


def jobs(seeds, exercise_seed: int):
    """(kind, seed, variant) in priority order: teachers, the main table, the ablation, the exercises."""
    from msa_lib.training.corrkd import ABLATION_METHODS, MAIN_METHODS

    out = [("teacher", s, None) for s in seeds]
    out += [(m, s, None) for s in seeds for m in MAIN_METHODS]
    out += [(m, s, None) for s in seeds for m in (*ABLATION_METHODS, "corrkd_rcd_kl", "corrkd_zero_missing")]
    out += [("corrkd", exercise_seed, "margin_2"), ("student_no_kd", exercise_seed, "cmad_weights")]
    return out


def variant_config(config, variant):
    """The exercise cells' configurations (solutions of exercises 1 and 2)."""
    from msa_lib.training.corrkd import MRMConfig

    if variant is None:
        return config
    if variant == "margin_2":
        return dataclasses.replace(config, losses=dataclasses.replace(config.losses, margin=2.0))
    if variant == "cmad_weights":
        return dataclasses.replace(config, mrm=MRMConfig(subset_weights=(2, 3, 3, 1, 1, 3, 1)))
    raise ValueError(f"unknown variant {variant!r}")


def worker(rank: int, seeds, exercise_seed: int, threads: int, lock_dir: Path) -> None:
    import torch

    from msa_lib.training.corrkd import _method_terms, teacher_checkpoint_path, train_student, train_teacher

    torch.set_num_threads(threads)
    config, dataset = notebook_config()
    pending = jobs(seeds, exercise_seed)

    def needs_teacher(kind):  # the library's own answer (student_no_kd trains without one)
        return kind != "teacher" and _method_terms(kind)["teacher"]

    def teacher_file(seed):
        return teacher_checkpoint_path(dataset, seed, config, CHECKPOINTS)

    while pending:
        ready = [j for j in pending if not needs_teacher(j[0]) or teacher_file(j[1]).is_file()]
        if not ready:
            time.sleep(5)
            continue
        job = ready[0]
        pending.remove(job)
        lock = lock_dir / ("_".join(str(x) for x in job) + ".lock")
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue  # another worker has it
        kind, seed, variant = job
        started = time.perf_counter()
        if kind == "teacher":
            _, hist = train_teacher(dataset, seed, False, config, checkpoint_dir=CHECKPOINTS)
        else:
            teacher = (train_teacher(dataset, seed, False, config, checkpoint_dir=CHECKPOINTS)[0]
                       if needs_teacher(kind) else None)
            _, hist = train_student(kind, dataset, teacher, seed, False, variant_config(config, variant),
                                    checkpoint_dir=CHECKPOINTS)
        best = hist.get("best_epoch") if hist else None
        print(f"[worker {rank}] {kind}{'/' + variant if variant else ''} seed {seed}: "
              f"{time.perf_counter() - started:.0f} s, best epoch {best}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="the notebook's SEEDS")
    parser.add_argument("--exercise-seed", type=int, default=0, help="the notebook's SEED")
    args = parser.parse_args()

    lock_dir = CHECKPOINTS / f".locks_{os.getpid()}"
    lock_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    procs = [mp.get_context("spawn").Process(target=worker, args=(r, args.seeds, args.exercise_seed, args.threads,
                                                                    lock_dir)) for r in range(args.workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    for f in lock_dir.iterdir():
        f.unlink()
    lock_dir.rmdir()
    failed = [p.exitcode for p in procs if p.exitcode]
    print(f"all jobs done in {time.perf_counter() - started:.0f} s" + (f"; worker exit codes {failed}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
