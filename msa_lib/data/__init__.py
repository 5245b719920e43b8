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
* :func:`linear_probe` — how informative each modality is (ridge on mean-pooled features);
* :func:`add_simulated_text` — text simulated from audio for data that have none (a ridge text simulator,
  K-fold cross-fitted on train, cached), :func:`save_simulated_text`, :func:`simulated_text_quality`.

Files: ``dataset.py`` (containers), ``synthetic.py``, ``mmsa.py``, ``mertools.py`` (sources),
``loader.py`` (padding, masks, DataLoader), ``missing.py`` (missingness), ``probe.py``,
``text_simulator.py``.
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
from .checks import ChapterDoesNotApply, require_simulated_text, require_task
from .quick import QuickView, pool_frames, quick_view
from .synthetic import SyntheticConfig, synthetic_mosei
from .text_simulator import (
    TextSimulator,
    TextSimulatorConfig,
    add_simulated_text,
    fit_text_simulator,
    load_simulated_text,
    save_simulated_text,
    simulated_text_quality,
)

#: Default MERTools feature folders (SDUMC's, §1 of reference/sdumc.md), used by
#: :func:`load_dataset` when it is given a folder and no folder names.
SDUMC_FOLDERS = {
    "audio": "wavlm-large-FRA_-5",
    "text": "vicuna-7b-v1.5-FRA-wavlm2vicuna-half-gt",
    "vision": "manet_FRA",
    "simulated_text": "vicuna-7b-v1.5-FRA-wavlm2vicuna-half-wav+prompt[take_generate_wordembed_-4]",
}


def load_dataset(data_path=None, *, quick: bool = True, seed: int = 0, simulated_text="auto", **kw) -> MSADataset:
    """One entry point for every notebook: synthetic by default, else a file or folder.

    Args:
        data_path: ``None`` → :func:`synthetic_mosei` (``SyntheticConfig.quick()`` when ``quick``,
            ``SyntheticConfig.full()`` otherwise); a ``.pkl`` file → :func:`load_mmsa`; a folder →
            :func:`load_mertools` with ``label_file = <folder>/label.npz`` (else
            ``<folder>/label_official.npz``, SDUMC's name; or pass ``label_file=``) and
            ``feature_root = <folder>`` (or ``<folder>/features`` when that exists).
        quick: small synthetic sizes (notebook default) vs the full synthetic set. For real data,
            quick mode applies :func:`quick_view` (at most 400 / 200 / 200 utterances, audio and vision
            average-pooled to at most 50 frames) with one warning saying what it cut; ``quick=False``
            uses the data as they are.
        seed: synthetic seed.
        simulated_text: where SDUMC's ``text_sim`` comes from, first rule that applies:

            * ``"auto"`` (default): the data's own when it has some (the synthetic set, a pickle's
              ``text_sim`` key, SDUMC's default MERTools folder when present); otherwise
              :func:`add_simulated_text` fits the ridge text simulator on the train split (K-fold
              cross-fitted, cached by content) and one warning says so;
            * ``"none"`` or ``None``: nothing is added (the data's own simulated text, if any, is kept);
            * a string or path ending in ``.npz``: read with :func:`load_simulated_text` (a file of
              :func:`save_simulated_text` or of the cache; it replaces any simulated text of the data);
              the file must exist and match every split's ids and sizes;
            * anything else, when ``data_path`` is a MERTools folder: the name (or absolute path) of the
              simulated-text feature folder, as :func:`load_mertools` takes it; an error otherwise.
        **kw: passed on: synthetic knobs, ``metric_dataset=`` for MMSA, or the MERTools folder names
            ``audio=, text=, vision=`` (default: SDUMC's folder names) and ``label_file=``.
    """
    sim_how = _simulated_text_rule(simulated_text, data_path)
    if data_path is None:
        cfg = SyntheticConfig.quick() if quick else SyntheticConfig.full()
        return _simulated_text_step(synthetic_mosei(seed=seed, config=cfg, **kw), sim_how, simulated_text)
    path = Path(data_path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"load_dataset: {path} does not exist (give an MMSA .pkl or a MERTools folder)")
    if path.is_file():
        if path.suffix.lower() not in (".pkl", ".pickle"):
            raise ValueError(
                f"load_dataset: {path} is a file but not a .pkl; give an MMSA pickle or a MERTools folder"
            )
        return _real_data(load_mmsa(path, **kw), quick, sim_how, simulated_text)
    label_file = kw.pop("label_file", None)
    if label_file is None:  # MERTools writes label.npz; SDUMC ships label_official.npz
        candidates = [path / "label.npz", path / "label_official.npz"]
        label_file = next((c for c in candidates if c.exists()), candidates[0])
    label_file = Path(label_file)
    feature_root = path / "features" if (path / "features").is_dir() else path
    sim_given = sim_how == "folder"
    # a folder written by msa_lib.features.build_mertools names its feature folders (and its missing-frame rule)
    # in LAYOUT_FILE; otherwise SDUMC's folder names are the defaults. Arguments override either.
    layout = _read_layout(path / LAYOUT_FILE)
    folders = {k: kw.pop(k, layout.get(k, v)) for k, v in SDUMC_FOLDERS.items()}
    if "missing_frames" in layout:
        kw.setdefault("missing_frames", layout["missing_frames"])
    if sim_given:
        folders["simulated_text"] = simulated_text
    if not sim_given and not _folder(feature_root, folders["simulated_text"]).exists():
        folders["simulated_text"] = None  # the default folder is optional; an explicit one is not
    return _real_data(load_mertools(label_file, feature_root, **folders, **kw), quick, sim_how, simulated_text)


#: a MERTools folder's own description of its feature folders: {"audio": ..., "text": ..., "vision": ...,
#: "missing_frames": "mask"} (written by :func:`msa_lib.features.build_mertools`)
LAYOUT_FILE = "msa_layout.json"


def _read_layout(path: Path) -> dict:
    if not path.is_file():
        return {}
    import json

    try:
        layout = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"load_dataset: {path} is not valid JSON ({e})") from None
    allowed = {"audio", "text", "vision", "simulated_text", "missing_frames"}
    unknown = sorted(set(layout) - allowed) if isinstance(layout, dict) else None
    if unknown is None or unknown:
        raise ValueError(f"load_dataset: {path} must be a JSON object with keys among {sorted(allowed)}, "
                         f"got {unknown if unknown is not None else type(layout).__name__}")
    return layout


def _real_data(dataset: MSADataset, quick: bool, how: str, value) -> MSADataset:
    """Quick mode's view of real data, then the simulated-text rule. A simulated-text file describes the whole
    data set, so it is read first (the view then keeps its rows); the simulator is fitted after the view (on
    what the chapter will use, and fast)."""
    if how == "npz":
        dataset, how = load_simulated_text(dataset, value), "none"
    if quick:
        dataset = quick_view(dataset)
    return _simulated_text_step(dataset, how, value)


def _folder(root: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else root / p


def _simulated_text_rule(value, data_path) -> str:
    """``"auto"``, ``"none"``, ``"npz"`` or ``"folder"``: how :func:`load_dataset` reads ``simulated_text``."""
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return "none"
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    if not isinstance(value, (str, Path)):
        raise TypeError(f"load_dataset: simulated_text must be 'auto', 'none' or a path, got {type(value).__name__}")
    if str(value).lower().endswith(".npz"):
        if not Path(value).expanduser().is_file():
            raise FileNotFoundError(
                f"load_dataset: simulated_text={str(value)!r}: no such file (an .npz of simulated text, written "
                "by msa_lib.data.save_simulated_text or by the text simulator's cache)"
            )
        return "npz"
    if data_path is not None and Path(data_path).expanduser().is_dir():
        return "folder"  # a MERTools feature folder name, as before
    raise ValueError(
        f"load_dataset: simulated_text={str(value)!r} is not understood: give 'auto' (fit the text simulator when the "
        "data have no simulated text), 'none', or the path of an .npz file of simulated text (a MERTools "
        "simulated-text folder name is accepted only when DATA_PATH is a MERTools folder)"
    )


def _simulated_text_step(dataset: MSADataset, how: str, value) -> MSADataset:
    import time
    import warnings

    if how == "npz":
        return load_simulated_text(dataset, value)
    if how != "auto" or dataset.has_text_sim:
        return dataset
    t0 = time.perf_counter()
    out = add_simulated_text(dataset)
    info = out.info["text_sim"]
    if info.get("from_cache"):
        when = (f"loaded from the cache {info['cache_path']} in {time.perf_counter() - t0:.1f} s (fitted earlier in "
                f"{info.get('seconds', float('nan')):.1f} s)")
    else:
        when = f"in {info['seconds']:.1f} s (cached in {info['cache_path']})"
    warnings.warn(
        f"load_dataset: {dataset.name} has no simulated text ('text_sim'), which SDUMC's student flow needs: added "
        f"text simulated from {' + '.join(info['config']['inputs'])} by a ridge text simulator fitted on the train "
        f"split ({info['folds']}-fold cross-fitted, so no training utterance's simulated text comes from a model "
        f"that saw it; valid/test from the simulator fitted on all of train), {when}; validation R² "
        f"{info['valid_r2']:.3f} vs the real text. It is a feature-level stand-in for SDUMC's speech-LLM text. "
        "To go without, set SIMULATED_TEXT = \"none\" in the notebook's parameters cell "
        "(load_dataset(..., simulated_text=\"none\")); to use your own, give the path of an .npz "
        "(msa_lib.data.save_simulated_text writes one).",
        stacklevel=3,
    )
    return out


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
    "TextSimulatorConfig",
    "TextSimulator",
    "fit_text_simulator",
    "add_simulated_text",
    "save_simulated_text",
    "load_simulated_text",
    "simulated_text_quality",
    "ChapterDoesNotApply",
    "require_task",
    "require_simulated_text",
    "QuickView",
    "quick_view",
    "pool_frames",
]
