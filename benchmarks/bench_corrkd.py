"""Speed of a CorrKD student training step at CMU-MOSEI's MMSA shapes (prints figures; asserts nothing).

    .venv/bin/python benchmarks/bench_corrkd.py                      # CPU, B = 16 and 128, aligned_50
    .venv/bin/python benchmarks/bench_corrkd.py --layout unaligned --batch-sizes 16   # text 50, audio/vision 500
    .venv/bin/python benchmarks/bench_corrkd.py --device cuda --batch-sizes 16 128 512

Shapes (``--layout``): T = 50 for every modality (MOSEI aligned_50), or text 50 and audio / vision 500 (MOSEI
unaligned_50); feature dims 768 / 74 / 35 (MMSA BERT text, COVAREP
audio, Facet vision), real lengths drawn in [T/2, T]; the full-mode model (d = 40, 8 heads, 3 layers).

One *step* = what :func:`msa_lib.training.fit` does per batch: Modality Random Missing, forward, loss,
backward, gradient clipping, AdamW step. Three variants of the same student step:

* ``task only``      — ``student_no_kd``: no teacher, task loss (L1 + 7-class CE);
* ``task + teacher`` — the frozen teacher's forward on the complete batch too, no distillation term
  (the fixed price of any teacher–student method);
* ``corrkd``         — task + SCD + CPD + RCD (``negatives="all"``: N(N-1) critic evaluations).

Reported: median step time over ``--steps`` timed steps (after ``--warmup``; the three variants are run
round-robin in one process so that the shared machine's changing load hits them alike), samples/s, and
the peak memory of two steps: on CUDA ``torch.cuda.max_memory_allocated``; on CPU the peak resident set size of a fresh
process running only that variant (``VmHWM``) and its growth over the process's size after building
the models and batches (a coarse figure: it includes the allocator's caching). The goal of the issue: SCD + CPD + RCD
add at most 30 % to a step — read it as ``corrkd`` over ``task + teacher`` (the terms' own cost) and,
for completeness, over ``task only`` (the terms plus the teacher forward).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # import msa_lib from a plain checkout

VARIANTS = ("task only", "task + teacher", "corrkd")


#: padded lengths per modality: MMSA's aligned_50 (every modality on the 50-token grid) and unaligned_50 for
#: MOSEI (text 50, audio 500, vision 500 frames: what full mode trains on; quick mode pools frames to 50)
LENGTHS = {"aligned": {"text": 50, "audio": 50, "vision": 50},
           "unaligned": {"text": 50, "audio": 500, "vision": 500}}


def _batch(b: int, lengths_of: dict, dims: dict, seed: int, device):
    import torch

    g = torch.Generator().manual_seed(seed)
    batch = {}
    for m, d in dims.items():
        t = lengths_of[m]
        lengths = torch.randint(t // 2, t + 1, (b,), generator=g)
        mask = torch.arange(t)[None, :] < lengths[:, None]
        batch[m] = (torch.randn(b, t, d, generator=g) * mask[..., None]).to(device)
        batch[f"{m}_mask"] = mask.to(device)
    batch["label"] = (torch.randint(-9, 10, (b,), generator=g).float() / 3).to(device)
    return batch


def _build(variant: str, b: int, device: str, threads: int, layout: str = "aligned"):
    """Models, loss, optimizer and 4 batches for one variant; returns ``step()``."""
    import torch

    from msa_lib.models.corrkd import CorrKDNet
    from msa_lib.training.corrkd import CorrKDStudentLoss, CorrKDTrainConfig

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    dims = {"text": 768, "audio": 74, "vision": 35}
    cfg = CorrKDTrainConfig.full()
    teacher = CorrKDNet(dims, cfg.model).to(dev)
    student = CorrKDNet(dims, cfg.model).to(dev)
    method = "corrkd" if variant == "corrkd" else "student_no_kd"
    loss_fn = CorrKDStudentLoss(method, teacher if method == "corrkd" else None, cfg, seed=0).to(dev)
    params = list(student.parameters()) + loss_fn.parameters()
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    batches = [_batch(b, LENGTHS[layout], dims, s, dev) for s in range(4)]
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student.train()
    counter = [0]

    def step():
        batch = batches[counter[0] % 4]
        counter[0] += 1
        opt.zero_grad(set_to_none=True)
        if variant == "task + teacher":
            with torch.no_grad():
                teacher(batch)
        loss, _ = loss_fn(student, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return step


def time_interleaved(b: int, steps: int, warmup: int, device: str, threads: int, layout: str = "aligned") -> dict:
    """Median step time of each variant, the variants run round-robin in one process so that a change
    in the machine's load (it is shared) hits all of them alike."""
    step_fns = {v: _build(v, b, device, threads, layout) for v in VARIANTS}
    for _ in range(warmup):
        for fn in step_fns.values():
            fn()
    times = {v: [] for v in VARIANTS}
    for _ in range(steps):
        for v, fn in step_fns.items():
            t0 = time.perf_counter()
            fn()
            times[v].append(time.perf_counter() - t0)
    return {v: {"median": statistics.median(t), "min": min(t)} for v, t in times.items()}


def _peak_rss_mib() -> float:
    """This process's peak resident set size in MiB: ``VmHWM`` from /proc (reset by exec, unlike
    ``ru_maxrss``, which a spawned child inherits from its parent on Linux), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_child(variant: str, b: int, device: str, threads: int, layout: str, queue) -> None:
    import torch

    step = _build(variant, b, device, threads, layout)
    base = _peak_rss_mib()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        step()
    if device.startswith("cuda"):
        queue.put({"peak": torch.cuda.max_memory_allocated() / 2**20, "growth": float("nan")})
    else:
        peak = _peak_rss_mib()
        queue.put({"peak": peak, "growth": peak - base})


def peak_memory(variant: str, b: int, device: str, threads: int, layout: str = "aligned") -> dict:
    """Peak memory of two steps of one variant, in a fresh process (so the peak is its own)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_memory_child, args=(variant, b, device, threads, layout, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layout", choices=list(LENGTHS), default="aligned",
                        help="padded lengths: MMSA aligned_50 (50/50/50) or unaligned_50 MOSEI (50/500/500)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")),
                        help="torch threads (default $OMP_NUM_THREADS or 1: on a shared, oversubscribed "
                             "machine more threads than free cores make every step far slower)")
    args = parser.parse_args()

    t = LENGTHS[args.layout]
    print(f"CorrKD student step, MOSEI {args.layout} shapes (T text/audio/vision = {t['text']}/{t['audio']}/"
          f"{t['vision']}, dims 768/74/35), d=40, 8 heads, 3 layers; "
          f"device {args.device}, torch threads {args.threads}, {args.steps} timed steps after {args.warmup} warm-up")
    try:
        print("load average (1, 5, 15 min):", os.getloadavg())
    except OSError:
        pass
    mem_label = "peak MiB (CUDA alloc)" if args.device.startswith("cuda") else "peak RSS MiB (growth)"
    print(f"{'B':>5} {'variant':>15} {'median ms':>10} {'min ms':>8} {'samples/s':>10} {mem_label:>22}")
    for b in args.batch_sizes:
        timing = time_interleaved(b, args.steps, args.warmup, args.device, args.threads, args.layout)
        for variant in VARIANTS:
            r = {**timing[variant], **peak_memory(variant, b, args.device, args.threads, args.layout)}
            mem = f"{r['peak']:.0f}" + ("" if r["growth"] != r["growth"] else f" (+{r['growth']:.0f})")
            print(f"{b:>5} {variant:>15} {1e3 * r['median']:>10.1f} {1e3 * r['min']:>8.1f} "
                  f"{b / r['median']:>10.1f} {mem:>22}", flush=True)
        over_teacher = timing["corrkd"]["median"] / timing["task + teacher"]["median"] - 1
        over_task = timing["corrkd"]["median"] / timing["task only"]["median"] - 1
        print(f"{b:>5} extra cost of SCD + CPD + RCD: {100 * over_teacher:+.1f}% over 'task + teacher' "
              f"(goal <= 30%), {100 * over_task:+.1f}% over 'task only' (teacher forward included)")
    try:
        print("load average after (1, 5, 15 min):", os.getloadavg())
    except OSError:
        pass


if __name__ == "__main__":
    main()
