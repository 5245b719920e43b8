"""Data: loaders for synthetic, MMSA and MERTools data, batching, and missing-modality protocols.

Entry points (see ``API.md``):

* :func:`synthetic_mosei` — a seeded synthetic set shaped like CMU-MOSEI, with simulated text;
* :func:`load_mmsa` — an MMSA processed pickle (CMU-MOSI, CMU-MOSEI, CH-SIMS; aligned or not);
* :func:`load_mertools` — the MERTools / SDUMC layout (``label.npz`` + one ``.npy`` per utterance);
* :func:`load_dataset` — one call for all three (what the notebooks' ``DATA_PATH`` goes through);
* :class:`MSADataset` — ``"train" / "valid" / "test"`` → split;
* :func:`make_loader` — a DataLoader of padded batch dicts with boolean masks;
* :func:`drop_modalities`, :func:`random_frame_missing`, :func:`use_simulated_text`,
  :func:`apply_condition` — missingness transforms (they never modify their input);
* :func:`save_mmsa`, :func:`save_mertools` — write a data set in either format (round trips);
* :func:`linear_probe` — how informative each modality is (ridge on mean-pooled features).

Files: ``dataset.py`` (containers), ``synthetic.py``, ``mmsa.py``, ``mertools.py`` (sources),
``loader.py`` (padding, masks, DataLoader), ``missing.py`` (missingness), ``probe.py``.
"""

from __future__ import annotations

from pathlib import Path

from .dataset import (
    MODALITIES,
    SIM_TEXT,
    SPLITS,
    MSADataset,
    MSASplit,
    PackedSequences,
    PaddedSequences,
    Sequences,
)
from .loader import collate_samples, make_loader, pad_sequences
from .mertools import LazyFolderSequences, load_mertools, save_mertools
from .missing import (
    CONDITIONS,
    CORRKD_CONDITIONS,
    FRAME_MISSING_CONDITIONS,
    FRAME_MISSING_RATES,
    apply_condition,
    drop_modalities,
    frame_missing_rate,
    random_frame_missing,
    random_modality_missing,
    use_simulated_text,
)
from .mmsa import load_mmsa, mmsa_lengths, save_mmsa
from .probe import linear_probe, mean_pooled
from .synthetic import SyntheticConfig, synthetic_mosei

#: Default MERTools feature folders (SDUMC's, §1 of reference/sdumc.md), used by
#: :func:`load_dataset` when it is given a folder and no folder names.
SDUMC_FOLDERS = {
    "audio": "wavlm-large-FRA_-5",
    "text": "vicuna-7b-v1.5-FRA-wavlm2vicuna-half-gt",
    "vision": "manet_FRA",
    "simulated_text": "vicuna-7b-v1.5-FRA-wavlm2vicuna-half-wav+prompt[take_generate_wordembed_-4]",
}


def load_dataset(data_path=None, *, quick: bool = True, seed: int = 0, **kw) -> MSADataset:
    """One entry point for every notebook: synthetic by default, else a file or folder.

    Args:
        data_path: ``None`` → :func:`synthetic_mosei` (``SyntheticConfig.quick()`` when ``quick``,
            ``SyntheticConfig.full()`` otherwise); a ``.pkl`` file → :func:`load_mmsa`; a folder →
            :func:`load_mertools` with ``label_file = <folder>/label.npz`` (else
            ``<folder>/label_official.npz``, SDUMC's name; or pass ``label_file=``) and
            ``feature_root = <folder>`` (or ``<folder>/features`` when that exists).
        quick: small synthetic sizes (notebook default) vs the full synthetic set. Ignored for real
            data (a real data set is never subsampled silently).
        seed: synthetic seed.
        **kw: passed on: synthetic knobs, ``metric_dataset=`` for MMSA, or the MERTools folder names
            ``audio=, text=, vision=, simulated_text=`` (default: SDUMC's folder names) and ``label_file=``.
    """
    if data_path is None:
        cfg = SyntheticConfig.quick() if quick else SyntheticConfig.full()
        return synthetic_mosei(seed=seed, config=cfg, **kw)
    path = Path(data_path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"load_dataset: {path} does not exist (give an MMSA .pkl or a MERTools folder)")
    if path.is_file():
        if path.suffix.lower() not in (".pkl", ".pickle"):
            raise ValueError(
                f"load_dataset: {path} is a file but not a .pkl; give an MMSA pickle or a MERTools folder"
            )
        return load_mmsa(path, **kw)
    label_file = kw.pop("label_file", None)
    if label_file is None:  # MERTools writes label.npz; SDUMC ships label_official.npz
        candidates = [path / "label.npz", path / "label_official.npz"]
        label_file = next((c for c in candidates if c.exists()), candidates[0])
    label_file = Path(label_file)
    feature_root = path / "features" if (path / "features").is_dir() else path
    sim_given = "simulated_text" in kw
    folders = {k: kw.pop(k, v) for k, v in SDUMC_FOLDERS.items()}
    if not sim_given and not _folder(feature_root, folders["simulated_text"]).exists():
        folders["simulated_text"] = None  # the default folder is optional; an explicit one is not
    return load_mertools(label_file, feature_root, **folders, **kw)


def _folder(root: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else root / p


__all__ = [
    "MODALITIES",
    "SIM_TEXT",
    "SPLITS",
    "CONDITIONS",
    "CORRKD_CONDITIONS",
    "FRAME_MISSING_CONDITIONS",
    "FRAME_MISSING_RATES",
    "SDUMC_FOLDERS",
    "MSADataset",
    "MSASplit",
    "Sequences",
    "PackedSequences",
    "PaddedSequences",
    "LazyFolderSequences",
    "SyntheticConfig",
    "synthetic_mosei",
    "load_mmsa",
    "mmsa_lengths",
    "load_mertools",
    "save_mmsa",
    "save_mertools",
    "load_dataset",
    "make_loader",
    "collate_samples",
    "pad_sequences",
    "drop_modalities",
    "random_frame_missing",
    "random_modality_missing",
    "use_simulated_text",
    "apply_condition",
    "frame_missing_rate",
    "linear_probe",
    "mean_pooled",
]
