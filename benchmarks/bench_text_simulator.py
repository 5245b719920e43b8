"""Text simulator benchmark: :func:`msa_lib.data.add_simulated_text` on a MOSEI-sized data set. Prints figures.

    .venv/bin/python benchmarks/bench_text_simulator.py                # MOSEI size, 5 folds (~1-3 min on 2 cores)
    .venv/bin/python benchmarks/bench_text_simulator.py --scale 0.1    # a small smoke run
    .venv/bin/python benchmarks/bench_text_simulator.py --inputs audio vision

The data are built in memory the way an MMSA **aligned** pickle is held (``PaddedSequences`` [N, 50, D]):
16,326 / 1,871 / 4,659 utterances, text 768 / audio 74 / vision 35, valid lengths 10..50. A cheap generator:
a smooth 16-d latent per position drives text (linear map + noise, so there is something to recover) and
audio (another linear map + noise); vision is noise. Figures: the content hash's time, the fit's time
(5-fold cross-fitting + the full model + predicting every split; default config), the cache file's size and
the time of a cache hit, peak RSS (VmHWM, the arrays included), and the R² / cosine of simulated vs real text.
The cache goes to a temporary folder, deleted afterwards. Timings on a shared machine are noisy: the script
prints the load average next to its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MOSEI_SIZES = {"train": 16326, "valid": 1871, "test": 4659}
DIMS = {"text": 768, "audio": 74, "vision": 35}
LENGTH = 50


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average n/a"


def mosei_sized(scale: float = 1.0, seed: int = 0):
    from msa_lib.data import MSADataset, MSASplit, PaddedSequences

    rng = np.random.default_rng(seed)
    maps = {m: (rng.standard_normal((16, d)) / 4).astype(np.float32) for m, d in DIMS.items() if m != "vision"}
    splits = {}
    for s, n in MOSEI_SIZES.items():
        n = max(10, int(round(n * scale)))
        lengths = rng.integers(10, LENGTH + 1, n)
        z = np.cumsum(rng.standard_normal((n, LENGTH, 16), dtype=np.float32), axis=1) * np.float32(0.3)
        valid = (np.arange(LENGTH)[None, :] < lengths[:, None])[..., None]
        arrays = {}
        for m, d in DIMS.items():
            x = rng.standard_normal((n, LENGTH, d), dtype=np.float32)
            if m in maps:
                x += z @ maps[m]
            x *= valid  # zero padding, as in the pickles
            arrays[m] = x
        seqs = {m: PaddedSequences(arrays[m], lengths) for m in DIMS}
        splits[s] = MSASplit(s, seqs, np.clip(rng.normal(0, 1.5, n), -3, 3), [f"{s}_{i}" for i in range(n)])
    return MSADataset(splits, name="mosei_sized_aligned50")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of MOSEI's split sizes")
    parser.add_argument("--inputs", nargs="+", default=["audio"], choices=["audio", "vision"])
    args = parser.parse_args()

    from msa_lib.data import TextSimulatorConfig, add_simulated_text
    from msa_lib.data.text_simulator import content_key

    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; {load()}")
    t0 = time.perf_counter()
    ds = mosei_sized(args.scale)
    gen_s = time.perf_counter() - t0
    nbytes = sum(ds[s].nbytes for s in ds)
    print(f"data: {ds}  ({nbytes / 2**30:.2f} GiB of arrays, built in {gen_s:.1f} s; peak RSS {peak_rss_mb():.0f} MiB)")
    cfg = TextSimulatorConfig(inputs=tuple(args.inputs))
    t0 = time.perf_counter()
    content_key(ds, cfg)
    hash_s = time.perf_counter() - t0
    cache = Path(tempfile.mkdtemp(prefix="bench_text_sim_"))
    try:
        rss0 = peak_rss_mb()
        t0 = time.perf_counter()
        out = add_simulated_text(ds, cfg, cache_dir=cache)
        fit_s = time.perf_counter() - t0
        info = out.info["text_sim"]
        files = list(cache.glob("*.npz"))
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        rss_fit = peak_rss_mb()
        t0 = time.perf_counter()
        hit = add_simulated_text(ds, cfg, cache_dir=cache)
        hit_s = time.perf_counter() - t0
        assert hit.info["text_sim"]["from_cache"]
        same = all(np.array_equal(hit[s].sequences["text_sim"].values, out[s].sequences["text_sim"].values) for s in ds)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    q = info["quality"]
    print(f"config: {json.dumps(info['config'])}; {info['n_inputs']} inputs per position; alpha {info['alpha']:g} "
          f"(per fold {info['fold_alphas']})")
    print(f"content hash: {hash_s:.1f} s")
    print(f"add_simulated_text (hash + {info['folds']}-fold cross-fit + full fit + predict + write cache): "
          f"{fit_s:.1f} s  [fit alone {info['seconds']:.1f} s]; {load()}")
    print(f"cache file {size_mb:.0f} MiB; cache hit {hit_s:.1f} s, identical arrays: {same}")
    print(f"peak RSS: {rss0:.0f} MiB with the data, {rss_fit:.0f} MiB after the fit, {peak_rss_mb():.0f} MiB at the end")
    for s in ("train", "valid", "test"):
        print(f"  {s:5s}  R² {q[s]['r2']:.3f}  cosine {q[s]['cosine']:.3f}  relative L2 {q[s]['relative_l2']:.3f}"
              + ("  (out-of-fold)" if s == "train" else ""))


if __name__ == "__main__":
    main()
