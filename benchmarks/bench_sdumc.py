"""SDUMC speed benchmark: one double-flow training step, and Rank-N-Contrast vs its loop form.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_sdumc.py            # everything (CPU, a few minutes)
    .venv/bin/python benchmarks/bench_sdumc.py --only rnc                    # one section
    .venv/bin/python benchmarks/bench_sdumc.py --device cuda                 # the step on a GPU

Sections:

* ``params``: trainable parameters of the default UMCANet at SDUMC's input dims (1024/4096/1024), with
  and without MIA (the official model: 3,857,291 trainable, MIA switched off).
* ``step``: one SDUMC training step — teacher and student flows, all six loss terms, backward, Adam —
  at B=32 with T_audio/T_text/T_vision = 300/32/200 and at SDUMC's MOSEI shapes B=96, 600/64/400
  (simulated text as long as the text), and at MMSA's unaligned MOSEI lengths (``B32_mmsa_unaligned``: text 50,
  audio 500, vision 500 frames, MMSA's dims 768 / 74 / 35: what a full-mode run on ``unaligned_50.pkl`` trains on). Median step time over ``--iters`` steps after two warm-up
  steps, samples/s, and the peak resident memory of a fresh process per configuration. Two variants:
  ``ours`` (defaults: masks, one fused 2B pass, shared audio/vision projections, one frame-dropout
  mask) and ``official-like`` (``use_masks=False`` and ``independent_frame_dropout=True``: the flows
  run as two separate passes, as the official code does; the cross-attention is still our batched
  product), plus ``ours-shared-av`` (``UMCAConfig.shared_av_frames=True``: the flows share the audio /
  vision frame-dropout mask, so that frame-level work is done once). reference/sdumc.md reports ~0.9 s (B=32) and 8.5–13 s (B=96) per step for the official
  implementation on this kind of 2-core machine.
* ``official``: the official code itself, side by side with ours in one process (``--official DIR``: a
  local copy of WarmCongee/SDUMC, never committed here, e.g. ``git --git-dir=<mirror> archive HEAD toolkit |
  tar -x -C DIR``). Its model (``WengnetMOSEIMultViewsTextMissing``, imported from its file: the package
  ``__init__`` is broken) and its losses (``toolkit/utils/loss.py``: MSE with sum / B, RMSE, the looped RnC) run
  the official training step of ``main_frame_val_text_missing.py`` — teacher flow on the text, student flow on
  the simulated text, 2 MSE + 3 RMSE + RnC, backward, Adam — and ours runs :meth:`UMCANet.double_flow` with
  :class:`SelfDistillationLoss`; the two alternate step by step on the same batch, so load changes hit both.
  Printed: the median of each, the ratio, and ours against the *floor* of the architecture: forward +
  backward of the input projections alone (audio and vision once, text and simulated text), the one
  cost neither implementation can avoid.
* ``rnc``: forward + backward of Rank-N-Contrast at B=96 (192 embeddings of dim 64, SDUMC's tie
  tolerance): the official loop form vs :func:`msa_lib.losses.rnc_loss` (sorted and dense), with the
  values to show they agree.

Timings on a shared machine are noisy: the script prints the load average next to its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

SDUMC_DIMS = {"audio": 1024, "text": 4096, "vision": 1024, "text_sim": 4096}
#: MMSA's processed MOSEI features (BERT 768, COVAREP 74, Facet 35); simulated text in the text space
MMSA_DIMS = {"audio": 74, "text": 768, "vision": 35, "text_sim": 768}
SHAPES = {"B32": (32, 300, 32, 200), "B96_mosei": (96, 600, 64, 400),
          # MMSA's unaligned_50.pkl for MOSEI: text 50, audio 500, vision 500 frames (full mode: no pooling)
          "B32_mmsa_unaligned": (32, 500, 50, 500)}
DIMS_OF_SHAPE = {"B32_mmsa_unaligned": MMSA_DIMS}


def load() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average n/a"


def make_batch(b: int, t_audio: int, t_text: int, t_vision: int, seed: int = 0, dims: dict | None = None) -> dict:
    """A random MOSEI-shaped batch; every sample 60–100 % of the batch maximum long."""
    dims = dims or SDUMC_DIMS
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for m, t in (("audio", t_audio), ("text", t_text), ("vision", t_vision), ("text_sim", t_text)):
        x = torch.randn(b, t, dims[m], generator=g)
        lengths = (t * (0.6 + 0.4 * torch.rand(b, generator=g))).long().clamp(min=1)
        lengths[0] = t
        mask = torch.arange(t)[None, :] < lengths[:, None]
        batch[m] = x * mask[..., None]
        batch[f"{m}_mask"] = mask
    batch["label"] = (torch.randint(-9, 10, (b,), generator=g) / 3).float()
    return batch


def bench_params() -> dict:
    from msa_lib.models import UMCANet
    from msa_lib.training import count_parameters

    dims = {k: v for k, v in SDUMC_DIMS.items() if k != "text_sim"}
    with torch.device("meta"):
        with_mia = count_parameters(UMCANet(dims))
        no_mia = count_parameters(UMCANet(dims, use_mia=False))
    official = 3_857_291
    print(f"[params] UMCANet at SDUMC dims: {with_mia:,} trainable with MIA (default for sdumc), "
          f"{no_mia:,} without (official model: {official:,}); with MIA = {100 * (with_mia / official - 1):+.1f}% "
          "of the official count")
    return {"with_mia": with_mia, "without_mia": no_mia, "official": official}


def one_step_config(shape: str, variant: str, iters: int, device: str) -> dict:
    """Time one configuration (meant to run in a fresh process, for a clean peak-memory figure)."""
    from msa_lib.losses import SelfDistillationLoss
    from msa_lib.models import UMCANet

    torch.manual_seed(0)
    b, ta, tt, tv = SHAPES[shape]
    overrides = {"ours": {}, "ours-shared-av": {"shared_av_frames": True},
                 "official-like": {"use_masks": False, "independent_frame_dropout": True}}[variant]
    dims = DIMS_OF_SHAPE.get(shape, SDUMC_DIMS)
    model = UMCANet(dims, **overrides).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-5)
    criterion = SelfDistillationLoss()
    batch = {k: v.to(device) for k, v in make_batch(b, ta, tt, tv, dims=dims).items()}
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = []
    for i in range(iters + 2):
        sync()
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        teacher, student = model.double_flow(batch)
        loss, _ = criterion(teacher, student, batch["label"])
        loss.backward()
        optimizer.step()
        sync()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"shape": shape, "variant": variant, "batch": b, "T_audio_text_vision": [ta, tt, tv], "step_s": step,
           "min_s": min(times), "samples_per_s": b / step, "peak_rss_mb": peak_mb, "iters": iters,
           "threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda"):
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _load_file(path: Path, name: str):
    import importlib.util

    if not path.is_file():
        raise FileNotFoundError(f"--official: {path} not found (give the root of a WarmCongee/SDUMC copy)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_official(official: Path, iters: int, shapes) -> list[dict]:
    """The official SDUMC training step against ours, alternating in one process (see the module docstring)."""
    from types import SimpleNamespace

    from msa_lib.losses import SelfDistillationLoss
    from msa_lib.models import UMCANet

    models = _load_file(official / "toolkit/models/wengnet_mosei_mult_views_text_missing.py", "sdumc_official_model")
    losses = _load_file(official / "toolkit/utils/loss.py", "sdumc_official_loss")
    w = dict(full=0.5, missing=0.5, text=0.1, query=0.7, features=0.1, rnc=0.8)  # main_frame_val_text_missing.py
    results = []
    for shape in shapes:
        b, ta, tt, tv = SHAPES[shape]
        dims = DIMS_OF_SHAPE.get(shape, SDUMC_DIMS)
        batch = make_batch(b, ta, tt, tv, dims=dims)
        torch.manual_seed(0)
        theirs = models.WengnetMOSEIMultViewsTextMissing(
            SimpleNamespace(input_dims=(dims["audio"], dims["text"], dims["vision"], dims["text_sim"]))).train()
        reg, rmse, rnc = losses.MSELoss(), losses.RMSELoss(), losses.RnCLoss()
        their_opt = torch.optim.Adam(theirs.parameters(), lr=1e-4, weight_decay=1e-5)
        ours = UMCANet(dims).train()
        criterion = SelfDistillationLoss()
        our_opt = torch.optim.Adam(ours.parameters(), lr=1e-4, weight_decay=1e-5)
        labels = batch["label"]
        a, t, v, sim = batch["audio"], batch["text"], batch["vision"], batch["text_sim"]
        proj = {m: torch.nn.Linear(dims[m], 256) for m in ("audio", "text", "vision", "text_sim")}

        def their_step():
            their_opt.zero_grad(set_to_none=True)
            out0, (f0, r0, t0, q0) = theirs([a, t, v, False])
            out1, (f1, r1, t1, q1) = theirs([a, sim, v, True])
            loss = (w["full"] * reg(out0, labels) + w["missing"] * reg(out1, labels)
                    + w["text"] * rmse(t1, t0.detach()) + w["query"] * rmse(q1, q0.detach())
                    + w["features"] * rmse(f1, f0) + w["rnc"] * rnc(torch.stack((r0, r1), dim=1), labels[:, None]))
            loss.backward()
            their_opt.step()

        def our_step():
            our_opt.zero_grad(set_to_none=True)
            teacher, student = ours.double_flow(batch)
            criterion(teacher, student, labels)[0].backward()
            our_opt.step()

        def floor():  # the input projections of both flows, forward + backward: no implementation does less
            total = sum(proj[m](batch[m]).sum() for m in proj)
            total.backward()

        times = {"official": [], "ours": [], "floor": []}
        for i in range(iters + 2):
            for name, fn in (("official", their_step), ("ours", our_step), ("floor", floor)):
                t0 = time.perf_counter()
                fn()
                if i >= 2:
                    times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        res = {"shape": shape, "batch": b, "T_audio_text_vision": [ta, tt, tv], "iters": iters,
               "threads": torch.get_num_threads(), **{f"{k}_s": v for k, v in med.items()},
               "speedup": med["official"] / med["ours"], "ours_over_floor": med["ours"] / med["floor"]}
        results.append(res)
        print(f"[official] {shape:10s} B={b:3d} T={ta}/{tt}/{tv}: official {med['official']:.3f} s/step, ours "
              f"{med['ours']:.3f} s/step -> {res['speedup']:.2f}x faster; input projections alone "
              f"{med['floor']:.3f} s (ours = {res['ours_over_floor']:.1f}x that floor)  "
              f"[{torch.get_num_threads()} threads, median of {iters}, {load()}]", flush=True)
    return results


def bench_step(iters: int, device: str, shapes, variants) -> list[dict]:
    results = []
    for shape in shapes:
        for variant in variants:
            cmd = [sys.executable, __file__, "--_one", shape, variant, "--iters", str(iters), "--device", device]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            results.append(res)
            b, (ta, tt, tv) = res["batch"], res["T_audio_text_vision"]
            print(f"[step] {shape:10s} B={b:3d} T={ta}/{tt}/{tv} {variant:14s}: {res['step_s']:.3f} s/step "
                  f"(min {res['min_s']:.3f}), {res['samples_per_s']:.1f} samples/s, peak RSS {res['peak_rss_mb']:.0f} MB"
                  + (f", peak CUDA {res['peak_cuda_mb']:.0f} MB" if "peak_cuda_mb" in res else "")
                  + f"  [{res['threads']} threads, {load()}]", flush=True)
    return results


def bench_rnc(iters: int) -> dict:
    from msa_lib.losses import rnc_loss, rnc_loss_loop

    torch.manual_seed(0)
    b, d = 96, 64
    feats = torch.randn(b, 2, d, requires_grad=True)
    labels = (torch.randint(-9, 10, (b,)) / 3).float()

    def timeit(fn, n):
        for _ in range(2):
            fn().backward()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn().backward()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    loop_value = rnc_loss_loop(feats, labels, tie_tolerance=1e-4).item()
    loop_s = timeit(lambda: rnc_loss_loop(feats, labels, tie_tolerance=1e-4), max(3, iters // 4))
    out = {"loop_s": loop_s, "loop_value": loop_value}
    for method in ("sorted", "dense"):
        value = rnc_loss(feats, labels, tie_tolerance=1e-4, method=method).item()
        sec = timeit(lambda: rnc_loss(feats, labels, tie_tolerance=1e-4, method=method), iters)
        out[method] = {"s": sec, "value": value, "speedup": loop_s / sec}
    print(f"[rnc] B=96 (n=192, D=64) fwd+bwd: loop form {1e3 * loop_s:.1f} ms (value {loop_value:.6f}); "
          f"rnc_loss sorted {1e3 * out['sorted']['s']:.2f} ms ({out['sorted']['speedup']:.1f}x, value "
          f"{out['sorted']['value']:.6f}); dense {1e3 * out['dense']['s']:.2f} ms ({out['dense']['speedup']:.1f}x)  "
          f"[{torch.get_num_threads()} threads, {load()}]")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="SDUMC speed benchmark")
    parser.add_argument("--only", nargs="+", choices=["params", "step", "rnc", "official"],
                        default=["params", "rnc", "step", "official"])
    parser.add_argument("--official", type=Path, default=None,
                        help="root of a local copy of WarmCongee/SDUMC (for the 'official' section)")
    parser.add_argument("--iters", type=int, default=5, help="timed steps per configuration")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--variants", nargs="+", choices=["ours", "ours-shared-av", "official-like"],
                        default=["ours", "ours-shared-av", "official-like"])
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--_one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._one:
        print(json.dumps(one_step_config(args._one[0], args._one[1], args.iters, args.device)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, {load()}")
    results = {}
    if "params" in args.only:
        results["params"] = bench_params()
    if "rnc" in args.only:
        results["rnc"] = bench_rnc(max(args.iters, 10))
    if "step" in args.only:
        results["step"] = bench_step(args.iters, args.device, args.shapes, args.variants)
    if "official" in args.only:
        if args.official is None:
            print("[official] skipped: give --official DIR, a local copy of WarmCongee/SDUMC (not part of this repo)")
        else:
            results["official"] = bench_official(args.official, args.iters, [s for s in args.shapes if s in
                                                                              ("B32", "B96_mosei")])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
