"""Benchmarks for msa_lib.data: generation, loader throughput and memory. Prints figures.

    .venv/bin/python benchmarks/bench_data.py                 # everything (~15 min on 2 busy cores; the MMSA
                                                              # writer peaks at ~7.7 GB RAM, its reader at ~4.7 GB)
    .venv/bin/python benchmarks/bench_data.py --only synthetic loader_synthetic
    .venv/bin/python benchmarks/bench_data.py --mertools-gb 0.2 --mmsa-n 2000   # a small smoke run

Sections (each runs in its own subprocess, so its peak RSS is its own):

* ``synthetic``: :func:`synthetic_mosei` at MOSEI scale (16,326 / 1,871 / 4,659; dims 768 / 74 / 35):
  generation time, peak RSS, bytes held by the arrays.
* ``loader_synthetic``: batches/s of :func:`make_loader` (batch 64) on the quick and the MOSEI-scale
  synthetic sets, plus the cost of the missingness transforms per batch.
* ``mmsa``: a MOSEI-scale MMSA-format pickle written to /tmp, then load time, peak RSS and loader
  batches/s. **Aligned** 50 / 50 / 50 frames (× 768 / 74 / 35) at full N: the unaligned 50 / 500 / 500
  layout would be ~10 GB. Deleted afterwards.
* ``learnability``: test MAE of the ridge probe and of a small per-frame MLP with masked mean pooling
  (3 seeds) per modality on the synthetic set: text should beat simulated text, which should beat audio
  and vision alone. (A check of the data's design, printed here because it takes ~2 minutes.)
* ``mertools``: a MERTools folder of at least ``--mertools-gb`` GB (SDUMC-like dims 1024 / 4096 / 1024)
  generated in /tmp, evicted from the page cache (fsync + POSIX_FADV_DONTNEED on our own files), then
  iterated with :func:`make_loader`; peak RSS (goal: under 1 GB whatever the folder size, since reading
  is lazy) and read throughput. Deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MiB.

    Not ``getrusage().ru_maxrss``: Linux keeps that across fork + exec, so a child started by a big
    parent would report the parent's peak. VmHWM belongs to the process's own address space.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: best effort


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def throughput(loader, max_batches=None, transform=None) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = 0
    for batch in loader:
        if transform is not None:
            transform(batch)
        n += 1
        if max_batches and n >= max_batches:
            break
    return n / (time.perf_counter() - t0), n


# ---------------------------------------------------------------------------------------- sections
def section_synthetic(args) -> dict:
    from msa_lib.data import SyntheticConfig, synthetic_mosei

    base = rss_mb()
    t0 = time.perf_counter()
    ds = synthetic_mosei(seed=0, config=SyntheticConfig.mosei_scale())
    seconds = time.perf_counter() - t0
    held = sum(ds[s].nbytes for s in ds) / 2**30
    frames = {m: int(sum(ds[s].lengths(m).sum() for s in ds)) for m in ds.input_dims}
    return {
        "sizes": [len(ds[s]) for s in ds],
        "input_dims": ds.input_dims,
        "generation_s": round(seconds, 1),
        "arrays_GB": round(held, 2),
        "frames": frames,
        "peak_rss_MB": round(peak_rss_mb()),
        "rss_before_MB": round(base),
    }


def section_loader_synthetic(args) -> dict:
    import torch

    from msa_lib.data import SyntheticConfig, apply_condition, make_loader, synthetic_mosei

    torch.set_num_threads(1)
    out = {}
    for label, cfg in (("quick", SyntheticConfig.quick()), ("mosei_scale", SyntheticConfig.mosei_scale())):
        ds = synthetic_mosei(seed=0, config=cfg)
        loader = make_loader(ds["train"], 64, shuffle=True, seed=0)
        bps, n = throughput(loader, max_batches=200)
        out[f"{label}_batches_per_s"] = round(bps, 1)
        out[f"{label}_samples_per_s"] = round(bps * 64)
    g = torch.Generator().manual_seed(0)
    for cond in ("only_text", "text_missing", "frame_missing_0.5"):
        bps, n = throughput(loader, max_batches=100, transform=lambda b: apply_condition(b, cond, generator=g))
        out[f"mosei_scale_batches_per_s_with_{cond}"] = round(bps, 1)
    out["peak_rss_MB"] = round(peak_rss_mb())
    return out


def section_mmsa(args) -> dict:
    n_total = {"train": 16326, "valid": 1871, "test": 4659}
    if args.mmsa_n:
        scale = args.mmsa_n / sum(n_total.values())
        n_total = {k: max(2, int(v * scale)) for k, v in n_total.items()}
    tmp = Path(tempfile.mkdtemp(prefix="bench_mmsa_", dir=args.tmp))
    path = tmp / "aligned_50.pkl"
    try:
        rng = np.random.default_rng(0)
        data = {}
        for s, n in n_total.items():
            t_len = rng.integers(10, 51, n)
            mask = (np.arange(50)[None] < t_len[:, None]).astype(np.int64)
            audio = rng.standard_normal((n, 50, 74), dtype=np.float32)
            audio[:, 0] = 0
            audio[mask == 0] = 0
            vision = rng.standard_normal((n, 50, 35), dtype=np.float32)
            vision[:, 0] = 0
            vision[mask == 0] = 0
            data[s] = {
                "text": rng.standard_normal((n, 50, 768), dtype=np.float32),
                "text_bert": np.stack([mask * 1000, mask, np.zeros_like(mask)], 1),
                "audio": audio,
                "vision": vision,
                "regression_labels": (rng.integers(-9, 10, n) / 3).astype(np.float32),
                "id": [f"v{i}$_${i}" for i in range(n)],
            }
        t0 = time.perf_counter()
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=4)
        write_s = time.perf_counter() - t0
        del data
        size_gb = path.stat().st_size / 2**30
        # load in a fresh process, so its peak RSS is the reader's alone (not the writer's)
        proc = subprocess.run([sys.executable, __file__, "--section", "mmsa_load", "--path", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        out = {"layout": "aligned 50/50/50 x 768/74/35, float32", "file_GB": round(size_gb, 2),
               "write_s": round(write_s, 1), "writer_peak_rss_MB": round(peak_rss_mb())}
        out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def section_mmsa_load(args) -> dict:
    import torch

    from msa_lib.data import load_mmsa, make_loader

    torch.set_num_threads(1)
    base = rss_mb()
    t0 = time.perf_counter()
    ds = load_mmsa(args.path)
    load_s = time.perf_counter() - t0
    after = rss_mb()
    loader = make_loader(ds["train"], 64, shuffle=True, seed=0)
    bps, n = throughput(loader, max_batches=300)
    return {
        "sizes": [len(ds[s]) for s in ds],
        "load_s": round(load_s, 1),
        "rss_before_load_MB": round(base),
        "rss_after_load_MB": round(after),
        "reader_peak_rss_MB": round(peak_rss_mb()),
        "train_batches_per_s_bs64": round(bps, 1),
        "batches_timed": n,
    }


def section_mertools(args) -> dict:
    import torch

    from msa_lib.data import load_mertools, make_loader

    torch.set_num_threads(1)
    dims = {"audio": 1024, "text": 4096, "vision": 1024}
    frames = {"audio": 150, "text": 30, "vision": 60}  # mean frames per utterance (SDUMC-like dims)
    per_utt = sum(dims[m] * frames[m] * 4 for m in dims)
    n = int(np.ceil(args.mertools_gb * 2**30 / per_utt))
    n_split = {"train_corpus": int(n * 0.7), "val_corpus": int(n * 0.1)}
    n_split["test_corpus"] = n - sum(n_split.values())
    tmp = Path(tempfile.mkdtemp(prefix="bench_mertools_", dir=args.tmp))
    try:
        rng = np.random.default_rng(0)
        corpora = {k: {f"utt{k[:2]}{i:06d}": {"emo": 0, "val": float(rng.integers(-9, 10) / 3)} for i in range(v)}
                   for k, v in n_split.items()}
        np.savez_compressed(tmp / "label.npz", **{k: np.array(v, dtype=object) for k, v in corpora.items()})
        t0 = time.perf_counter()
        for m in dims:
            (tmp / m).mkdir()
        for corpus in corpora.values():
            for name in corpus:
                for m, d in dims.items():
                    t = int(rng.integers(frames[m] // 2, frames[m] * 3 // 2 + 1))
                    np.save(tmp / m / f"{name}.npy", rng.standard_normal((t, d), dtype=np.float32))
        write_s = time.perf_counter() - t0
        size_gb = sum(f.stat().st_size for m in dims for f in (tmp / m).iterdir()) / 2**30
        # evict our files from the page cache, so the timing below reads from disk (a cold-ish start)
        for m in dims:
            for f in (tmp / m).iterdir():
                fd = os.open(f, os.O_RDONLY)
                try:
                    os.fsync(fd)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
        base = rss_mb()
        t0 = time.perf_counter()
        ds = load_mertools(tmp / "label.npz", tmp, audio="audio", text="text", vision="vision")
        open_s = time.perf_counter() - t0
        out = {"utterances": n, "folder_GB": round(size_gb, 2), "write_s": round(write_s, 1),
               "open_s": round(open_s, 2), "rss_before_MB": round(base)}
        t0 = time.perf_counter()
        seen = 0
        for s in ("train", "valid", "test"):
            for batch in make_loader(ds[s], 32, num_workers=0):
                seen += batch["label"].shape[0]
        iter_s = time.perf_counter() - t0
        out.update({"iterated_utterances": seen, "iterate_s": round(iter_s, 1),
                    "utterances_per_s": round(seen / iter_s), "MB_per_s": round(size_gb * 1024 / iter_s),
                    "peak_rss_MB": round(peak_rss_mb()), "goal_peak_rss_MB": 1024})
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def section_learnability(args) -> dict:
    """Is the synthetic set learnable, and in the intended order, by a small neural model too?

    Per modality (and audio+vision), a per-frame MLP (Linear-GELU-Linear, so it *can* demodulate the
    audio's carrier) + masked mean pooling + a linear head, trained with L1 by the shared fit loop
    (selection on valid MAE), test MAE as mean ± sd over 3 seeds. Plus the ridge probe.
    """
    import torch
    from torch import nn

    from msa_lib.data import linear_probe, load_dataset, make_loader
    from msa_lib.training import FitConfig, evaluate, fit, seed_everything

    torch.set_num_threads(1)

    class PooledMLP(nn.Module):
        def __init__(self, dims, hidden=64):
            super().__init__()
            self.mods = list(dims)
            self.frame = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, hidden))
                                        for m, d in dims.items()})
            self.head = nn.Sequential(nn.GELU(), nn.Linear(hidden * len(dims), 1))

        def forward(self, batch):
            pooled = []
            for m in self.mods:
                h, mask = self.frame[m](batch[m]), batch[f"{m}_mask"].unsqueeze(-1).float()
                pooled.append((h * mask).sum(1) / mask.sum(1).clamp(min=1))
            return {"pred": self.head(torch.cat(pooled, -1)).squeeze(-1)}

    def l1(model, batch):
        loss = (model(batch)["pred"] - batch["label"]).abs().mean()
        return loss, {}

    out = {}
    for mode in ("quick",) + (("full",) if args.learn_full else ()):
        ds = load_dataset(quick=(mode == "quick"), seed=0)
        probe = linear_probe(ds)
        out[f"{mode}_ridge_test_MAE"] = {k: round(v["MAE"], 3) for k, v in probe.items()}
        sets = [("text",), ("text_sim",), ("audio",), ("vision",), ("audio", "vision"), ("text", "audio", "vision")]
        res = {}
        for mods in sets:
            maes = []
            for seed in (0, 1, 2):
                seed_everything(seed)
                model = PooledMLP({m: ds.input_dims[m] for m in mods})
                fit(model, make_loader(ds["train"], 32, shuffle=True, seed=seed), make_loader(ds["valid"], 128), l1,
                    config=FitConfig(epochs=40, patience=8, lr=2e-3, weight_decay=1e-4, progress=False, seed=seed))
                maes.append(evaluate(model, make_loader(ds["test"], 128))["MAE"])
            res["+".join(mods)] = f"{np.mean(maes):.3f} ± {np.std(maes):.3f}"
        out[f"{mode}_mlp_test_MAE_mean_sd_3seeds"] = res
    return out


SECTIONS = {
    "synthetic": section_synthetic,
    "loader_synthetic": section_loader_synthetic,
    "mmsa": section_mmsa,
    "mertools": section_mertools,
    "learnability": section_learnability,
    "mmsa_load": section_mmsa_load,  # internal: run by section_mmsa in a fresh process
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    public = [k for k in SECTIONS if k != "mmsa_load"]
    parser.add_argument("--only", nargs="*", choices=public, default=public)
    parser.add_argument("--mertools-gb", type=float, default=2.0, help="size of the MERTools folder (GB)")
    parser.add_argument("--mmsa-n", type=int, default=0, help="total samples of the MMSA pickle (0 = MOSEI's 22,856)")
    parser.add_argument("--tmp", default="/tmp", help="where the temporary files go")
    parser.add_argument("--learn-full", action="store_true", help="learnability on the full synthetic set too")
    parser.add_argument("--section", help=argparse.SUPPRESS)  # internal: run one section here
    parser.add_argument("--path", help=argparse.SUPPRESS)  # internal: the pickle for mmsa_load
    args = parser.parse_args()
    if args.section:
        print(json.dumps(SECTIONS[args.section](args)))
        return
    import platform

    import torch

    print(f"# bench_data  python {platform.python_version()}  torch {torch.__version__}  numpy {np.__version__}  "
          f"cpus {os.cpu_count()}  OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    for name in args.only:
        cmd = [sys.executable, __file__, "--section", name, "--mertools-gb", str(args.mertools_gb),
               "--mmsa-n", str(args.mmsa_n), "--tmp", args.tmp] + (["--learn-full"] if args.learn_full else [])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"\n## {name}: FAILED (exit {proc.returncode})\n{proc.stderr[-3000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\n## {name}  (section wall time {wall:.1f} s)")
        for k, v in result.items():
            print(f"  {k:42s} {v}")


if __name__ == "__main__":
    main()
