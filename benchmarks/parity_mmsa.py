"""msa_lib.models.baselines against thuiar/MMSA's own classes: parameter counts and outputs (prints; asserts nothing).

    git --git-dir=<a mirror of thuiar/MMSA> archive HEAD src | tar -x -C /tmp/mmsa      # a local copy, not committed
    .venv/bin/python benchmarks/parity_mmsa.py --mmsa /tmp/mmsa

For LF-DNN, TFN and MulT at MMSA's MOSI and MOSEI settings (``config_regression.json``, MMSA's feature dims
768 / 5 / 20 and 768 / 74 / 35), it prints both parameter counts (the unit tests hold MMSA's numbers as
constants). Then it copies the weights of MMSA's model into ours and compares predictions on a random batch
without padding, in eval mode, with ``padding="mmsa"`` (MMSA's time averages and last frames); MulT with
kernels of 1 and no future mask, the two places where this library departs from MMSA on purpose (see the module
docstring of :mod:`msa_lib.models.baselines`).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from msa_lib.models import baselines as bl  # noqa: E402

FEATURE_DIMS = {"mosi": (768, 5, 20), "mosei": (768, 74, 35)}  # MMSA's (text, audio, vision)


def load_mmsa(root: Path):
    """MMSA's model classes, imported without its package ``__init__`` (which pulls in its runner)."""
    src = root / "src" / "MMSA"
    if not (src / "models" / "singleTask" / "TFN.py").is_file():
        raise FileNotFoundError(f"--mmsa: {src}/models/singleTask/TFN.py not found (give the root of an MMSA copy)")
    for name, path in (("MMSA", src), ("MMSA.models", src / "models"), ("MMSA.models.singleTask", src / "models" / "singleTask")):
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module
    from MMSA.models.singleTask.LF_DNN import LF_DNN
    from MMSA.models.singleTask.MULT import MULT
    from MMSA.models.singleTask.TFN import TFN

    config = json.loads((src / "config" / "config_regression.json").read_text())
    return {"lf_dnn": LF_DNN, "tfn": TFN, "mult": MULT}, config


def mmsa_args(config, name: str, dataset: str, feature_dims, **overrides):
    params = {**config[name]["commonParams"], **config[name]["datasetParams"][dataset], **overrides}
    return SimpleNamespace(**params, feature_dims=feature_dims, train_mode="regression", num_classes=1)


def count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def mult_state_dict(theirs) -> dict:
    """MMSA's MULT weights under this library's names (proj_l -> proj.text, trans_l_with_a -> cross.l_with_a,
    trans_l_mem -> mem.l; MMSA's ``version`` buffers dropped)."""
    short = {"l": "text", "a": "audio", "v": "vision"}
    out = {}
    for key, value in theirs.state_dict().items():
        head, rest = key.split(".", 1)
        if key.endswith(".version"):
            continue
        if head.startswith("proj_"):
            key = f"proj.{short[head[5]]}.{rest}"
        elif head.startswith("trans_") and head.endswith("_mem"):
            key = f"mem.{head[6]}.{rest}"
        elif head.startswith("trans_"):
            key = f"cross.{head[6:]}.{rest}"
        out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mmsa", type=Path, required=True, help="root of a local copy of thuiar/MMSA")
    args = parser.parse_args()
    classes, config = load_mmsa(args.mmsa)

    for name in ("lf_dnn", "tfn", "mult"):
        for dataset, fd in FEATURE_DIMS.items():
            theirs = classes[name](mmsa_args(config, name, dataset, fd))
            ours = bl.build_baseline(name, dict(zip(("text", "audio", "vision"), fd)), mosei=dataset == "mosei")
            print(f"[params] {name:6s} {dataset:5s}: MMSA {count(theirs):>9,}  ours {count(ours):>9,}  "
                  f"{'equal' if count(theirs) == count(ours) else 'DIFFERENT'}")

    torch.manual_seed(0)
    dims = {"text": 16, "audio": 5, "vision": 7}
    fd = (dims["text"], dims["audio"], dims["vision"])
    batch = {m: torch.randn(6, t, d) for (m, d), t in zip(dims.items(), (9, 12, 8))}
    pooled = {m: batch[m].mean(1, keepdim=True) for m in ("audio", "vision")}  # MMSA's need_normalized
    cases = [
        ("lf_dnn", classes["lf_dnn"](mmsa_args(config, "lf_dnn", "mosi", fd)), bl.LFDNN(dims, bl.LFDNNConfig(padding="mmsa")),
         lambda m: m(batch["text"], pooled["audio"], pooled["vision"]), None),
        ("tfn", classes["tfn"](mmsa_args(config, "tfn", "mosi", fd)), bl.TFN(dims, bl.TFNConfig(padding="mmsa")),
         lambda m: m(batch["text"], pooled["audio"], pooled["vision"]), None),
        ("mult", classes["mult"](mmsa_args(config, "mult", "mosi", fd, attn_mask=False, conv1d_kernel_size_l=1,
                                           conv1d_kernel_size_a=1, conv1d_kernel_size_v=1)),
         bl.MulT(dims, bl.MulTConfig(kernels=(1, 1, 1), padding="mmsa")),
         lambda m: m(batch["text"], batch["audio"], batch["vision"]), mult_state_dict),
    ]
    with torch.no_grad():
        for name, theirs, ours, run_theirs, convert in cases:
            theirs.eval()
            ours.eval()
            state = convert(theirs) if convert else theirs.state_dict()
            missing, unexpected = ours.load_state_dict(state, strict=False)
            diff = float((run_theirs(theirs)["M"].squeeze(-1) - ours(batch)["pred"]).abs().max())
            print(f"[outputs] {name:6s}: MMSA's weights in ours, max |prediction difference| = {diff:.2e}"
                  f"  (weights ours lacks: {missing or 'none'}; MMSA's we do not use: {unexpected or 'none'})")


if __name__ == "__main__":
    main()
