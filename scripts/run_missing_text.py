"""Full-mode run of chapter 04 without Jupyter: the same library calls as
notebooks/04_missing_text_evaluation.ipynb with QUICK=False, for machines that have PyTorch but no
notebook stack (e.g. a rented GPU).

    python scripts/run_missing_text.py                      # writes results/missing_text.json
    python scripts/run_missing_text.py --seeds 0 --methods teacher sdumc --no-write   # a sanity run

Prints every training's per-epoch validation scores, the mean ± std table and the file it wrote.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from msa_lib.data import load_dataset  # noqa: E402
from msa_lib.training import results_table, write_results  # noqa: E402
from msa_lib.training.sdumc import EVAL_METHODS, SDUMCTrainConfig, run_missing_text_experiment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-path", default=None, help="MMSA .pkl or MERTools folder (default: synthetic, full size)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(EVAL_METHODS))
    parser.add_argument("--epochs", type=int, default=None, help="override SDUMCTrainConfig.full().epochs")
    parser.add_argument("--lr", type=float, default=None, help="override SDUMCTrainConfig.full().lr")
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-write", action="store_true", help="do not write results/missing_text.json")
    args = parser.parse_args()

    config = SDUMCTrainConfig.full()
    if args.epochs is not None:
        config = config.replace(epochs=args.epochs)
    if args.lr is not None:
        config = config.replace(lr=args.lr)
    started = time.perf_counter()
    dataset = load_dataset(args.data_path, quick=False, seed=0)
    print(dataset, flush=True)
    rows, fits = run_missing_text_experiment(dataset, seeds=args.seeds, config=config, methods=args.methods,
                                             device=args.device)
    for (method, seed), fit in fits.items():
        scores = " ".join(f"{h['valid_score']:.3f}" for h in fit.history)
        print(f"{method:16s} seed {seed}: best epoch {fit.best_epoch:2d}, valid scores {scores}", flush=True)
    print(results_table(rows, metrics=["MAE", "Corr", "Non0_acc_2", "Mult_acc_7"]).to_string())
    print(f"total {time.perf_counter() - started:.0f} s")
    if not args.no_write:
        command = "python scripts/run_missing_text.py " + " ".join(sys.argv[1:])
        path = write_results("missing_text", rows, quick=False, seeds=args.seeds, dataset=dataset.name,
                             command=command.strip(), extra={"epochs": config.epochs, "lr": config.lr,
                                                             "data_info": {k: str(v) for k, v in dataset.info.items()},
                                                             "best_epochs": {f"{m}/{s}": f.best_epoch for (m, s), f in fits.items()}})
        print("wrote", path)


if __name__ == "__main__":
    main()
