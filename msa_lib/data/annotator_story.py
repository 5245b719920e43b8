"""A second synthetic story, written in the formats researchers hold: MMSA, MulT and MERTools files.

``synthetic_mosei`` makes the book's default data; a chapter that only ever ran on it proves little about
an MMSA pickle from a drive mirror, and a method tuned on it may only have learned its story. This module
writes files in each real layout **without using msa_lib's writers or its generator** (it builds the raw
dicts and pickles them itself), so a loader or chapter that quietly depends on either fails on them. The
tests run every chapter on its small files; chapter 07 compares the book's methods with the field's models on
its MOSI-size file (:func:`annotator_mosi`).

================  =======================================================================================
name              layout
================  =======================================================================================
``mmsa_mosei``    MMSA ``aligned_50.pkl``, MOSEI dims (768 / 74 / 35), ``text_bert`` present, COVAREP
                  ``-inf`` in audio, audio / vision on the token grid (zeros at [CLS] / [SEP]), no lengths
``mmsa_mosi``     MMSA ``unaligned_50.pkl``, MOSI dims (768 / 5 / 20), audio 375 and vision 500 frames,
                  ``audio_lengths`` / ``vision_lengths``, **no** ``text_bert`` (text padding zeroed)
``mmsa_mosi_aligned``  MMSA ``aligned_50.pkl`` with MOSI dims (768 / 5 / 20), ``text_bert`` present, audio /
                  vision on the token grid: the file MMSA's MOSI benchmarks read
``mmsa_sims``     MMSA CH-SIMS ``unaligned_39.pkl``: 768 / 33 / 709, text 39, audio 400, vision 55,
                  labels in [-1, 1] on the 0.2 grid, unimodal ``regression_labels_T/A/V``
``mult_mosei``    MulT ``mosei_senti_data.pkl``: GloVe 300 / COVAREP 74 / Facet 35, word-aligned 50 steps,
                  **left** zero padding (CMU-SDK), ``labels`` [N, 1, 1], byte-string id triples
``mult_iemocap``  MulT ``iemocap_data.pkl``: 300 / 74 / 35, 20 steps, left padding, one-hot emotion pairs
                  ``labels`` [N, 4, 2] (Neutral, Happy, Sad, Angry)
``mertools``      MERTools / SDUMC folder: ``label.npz`` + one ``[T, D]`` ``.npy`` per utterance in SDUMC's
                  folder names, with other dims (audio 64, text 96, vision 48) and no simulated text
================  =======================================================================================

The story (unlike ``synthetic_mosei``'s additive evidence frames): each utterance has a latent valence
``v``; five "annotators" give integers near ``v`` and the label is their mean (multiples of 0.2, exact
zeros included); text is a bag of tokens from a vocabulary in which opinion words are drawn more often the
stronger ``v`` is, embedded by a fixed random table (plus BERT-like context noise); audio's pitch and
energy tracks move with ``v`` (a non-linear, time-varying effect) and COVAREP's log-energy is ``-inf`` on
unvoiced frames; vision has smile-like action units that follow a sigmoid of ``v`` with a lag.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np

EMOTIONS = ("Neutral", "Happy", "Sad", "Angry")
FORMATS = ("mmsa_mosei", "mmsa_mosi", "mmsa_sims", "mult_mosei", "mult_iemocap", "mertools")
#: layouts written on request but not part of :data:`FORMATS` (the set every chapter is tested on):
#: ``mmsa_mosi_aligned`` differs from ``mmsa_mosei`` only in its dims; chapter 07 runs on it
EXTRA_FORMATS = ("mmsa_mosi_aligned",)
#: formats whose labels are sentiment scores (SDUMC's chapters apply); IEMOCAP is classification
REGRESSION_FORMATS = tuple(f for f in FORMATS if f != "mult_iemocap")
SIZES = (64, 24, 24)
#: CMU-MOSI's train / valid / test sizes (MMSA's split)
MOSI_SIZES = (1284, 229, 686)

__all__ = ["FORMATS", "EXTRA_FORMATS", "REGRESSION_FORMATS", "SIZES", "MOSI_SIZES", "write_format", "write_all",
           "annotator_mosi"]


class _Story:
    """The shared generative story; ``rng`` drives everything, so a seed fixes the file's bytes."""

    def __init__(self, seed: int, text_dim: int, vocab: int = 240):
        self.rng = np.random.default_rng(seed)
        r = np.random.default_rng(seed + 1000)  # the vocabulary does not depend on the sample draws
        self.embed = r.normal(0, 1, (vocab, text_dim)).astype(np.float32) / np.sqrt(text_dim) * 4
        self.positive = np.arange(10, 30)   # opinion words
        self.negative = np.arange(30, 50)
        self.vocab = vocab

    def valence(self, n: int, scale: float = 3.0, step: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
        """Latent valence in [-1, 1] and labels: mean of 5 annotators' integers, clipped to [-scale, scale]."""
        v = np.tanh(self.rng.normal(0, 0.9, n))
        if step == 0.2 and scale == 3.0:
            votes = np.clip(np.rint(v[:, None] * 3 + self.rng.normal(0, 0.8, (n, 5))), -3, 3)
            y = votes.mean(1)
        else:  # CH-SIMS: [-1, 1] on the 0.2 grid
            y = np.clip(np.rint((v + self.rng.normal(0, 0.15, n)) / step) * step, -scale, scale)
        return v, np.round(y, 4).astype(np.float32)

    def tokens(self, v: float, length: int) -> np.ndarray:
        p = np.full(self.vocab, 1.0)
        p[self.positive] += 12 * max(v, 0)
        p[self.negative] += 12 * max(-v, 0)
        p[:2] = 0  # 0, 1 reserved
        return self.rng.choice(self.vocab, size=length, p=p / p.sum())

    def text(self, v: float, length: int) -> np.ndarray:
        tok = self.tokens(v, length)
        x = self.embed[tok] + self.rng.normal(0, 0.3, (length, self.embed.shape[1])).astype(np.float32)
        return x.astype(np.float32)

    def audio(self, v: float, length: int, dim: int, neg_inf: bool) -> np.ndarray:
        t = np.linspace(0, 1, length)
        pitch = 0.8 * v + 0.4 * np.sin(2 * np.pi * t * (1 + abs(v))) * (1 + v)
        energy = np.abs(v) * 1.5 + 0.3 * self.rng.normal(size=length)
        x = self.rng.normal(0, 1, (length, dim)).astype(np.float32)
        x[:, 0] = pitch
        if dim > 2:
            x[:, 2] = energy
        if neg_inf and dim > 1:
            unvoiced = self.rng.random(length) < 0.15
            x[unvoiced, 1] = -np.inf   # COVAREP's log-energy on silent frames
        return x

    def vision(self, v: float, length: int, dim: int) -> np.ndarray:
        x = np.zeros((length, dim), np.float32)
        noise = self.rng.normal(0, 1, (length, dim))
        x[0] = noise[0]
        for k in range(1, length):  # AR(1) background
            x[k] = 0.8 * x[k - 1] + 0.6 * noise[k]
        lag = np.clip(np.arange(length) / max(length * 0.3, 1), 0, 1)
        smile = 1 / (1 + np.exp(-4 * v)) * lag
        for j in range(min(3, dim)):
            x[:, j] += 2.5 * smile
        return x


def _pad(seqs, width: int, left: bool = False) -> np.ndarray:
    out = np.zeros((len(seqs), width, seqs[0].shape[1]), np.float32)
    for i, s in enumerate(seqs):
        s = s[:width]
        if left:
            out[i, width - len(s):] = s
        else:
            out[i, : len(s)] = s
    return out


def _mmsa_split(story, n, *, dims, lens, aligned, text_bert, neg_inf, sims, ids_prefix):
    d_t, d_a, d_v = dims
    L_t, L_a, L_v = lens
    v, y = story.valence(n, scale=1.0 if sims else 3.0)
    text_len = story.rng.integers(max(6, L_t // 4), L_t + 1, n)   # [CLS] ... [SEP] included
    texts, audios, visions, a_len, v_len = [], [], [], [], []
    for i in range(n):
        tl = int(text_len[i])
        t = story.text(v[i], tl)
        if text_bert:
            pad = np.tile(story.embed[1] * 0.5, (L_t - tl, 1)).astype(np.float32)  # BERT state at [PAD]
            t = np.concatenate([t, pad])
        texts.append(t)
        if aligned:
            a = np.zeros((tl, d_a), np.float32)
            vi = np.zeros((tl, d_v), np.float32)
            a[1:tl - 1] = story.audio(v[i], tl - 2, d_a, neg_inf)   # zeros at [CLS] / [SEP]
            vi[1:tl - 1] = story.vision(v[i], tl - 2, d_v)
        else:
            al = int(np.clip(tl * L_a / L_t * story.rng.uniform(0.6, 1.1), 8, L_a))
            vl = int(np.clip(tl * L_v / L_t * story.rng.uniform(0.6, 1.1), 4, L_v))
            a, vi = story.audio(v[i], al, d_a, neg_inf), story.vision(v[i], vl, d_v)
            a_len.append(al)
            v_len.append(vl)
        audios.append(a)
        visions.append(vi)
    out = {
        "raw_text": np.array([f"utterance {ids_prefix}{i}" for i in range(n)], dtype=object),
        "text": _pad(texts, L_t),
        "audio": _pad(audios, L_t if aligned else L_a),
        "vision": _pad(visions, L_t if aligned else L_v),
        "regression_labels": y,
        "id": np.array([f"{ids_prefix}{i // 4:04d}$_${i % 4}" for i in range(n)], dtype=object),
        "annotations": np.array(["Positive" if x > 0 else "Negative" if x < 0 else "Neutral" for x in y],
                                dtype=object),
        "classification_labels": np.sign(y).astype(np.float32) + 1,
    }
    if text_bert:
        tb = np.zeros((n, 3, L_t), np.float32)
        for i in range(n):
            tl = int(text_len[i])
            tb[i, 0, :tl] = np.r_[101, story.rng.integers(1000, 20000, tl - 2), 102]
            tb[i, 1, :tl] = 1
        out["text_bert"] = tb
    if not aligned:
        out["audio_lengths"] = [int(x) for x in a_len]   # MMSA stores Python lists
        out["vision_lengths"] = [int(x) for x in v_len]
    if sims:
        for m in "TAV":
            out[f"regression_labels_{m}"] = np.clip(y + story.rng.normal(0, 0.2, n), -1, 1).astype(np.float32)
    return out


def _mult_split(story, n, *, length, iemocap, ids_prefix):
    if iemocap:
        cls = story.rng.integers(0, 4, n)
        v = np.array([0.0, 0.9, -0.9, -0.6])[cls] + story.rng.normal(0, 0.1, n)
        labels = np.zeros((n, 4, 2), np.float32)
        labels[:, :, 0] = 1
        labels[np.arange(n), cls, 0] = 0
        labels[np.arange(n), cls, 1] = 1
    else:
        v, y = story.valence(n)
        labels = y.reshape(n, 1, 1)
    lens = story.rng.integers(max(4, length // 3), length + 1, n)
    texts, audios, visions = [], [], []
    for i in range(n):
        L = int(lens[i])
        t = story.text(v[i], L)
        if iemocap:  # anger is loud: a class signal that is not on the valence axis
            t[:, 5] += 2.0 * (cls[i] == 3) - 1.0 * (cls[i] == 0)
        a = story.audio(v[i], L, 74, neg_inf=False)
        if iemocap:
            a[:, 3] += 2.0 * (cls[i] == 3)
        texts.append(t)
        audios.append(a)
        visions.append(story.vision(v[i], L, 35))
    ids = np.array([[f"{ids_prefix}{i // 3:03d}".encode(), str(i % 3).encode(), b"0"] for i in range(n)])
    return {
        "text": _pad(texts, length, left=True),
        "audio": _pad(audios, length, left=True),
        "vision": _pad(visions, length, left=True),
        "labels": labels,
        "id": ids,
    }


def _write_pickle(obj, path: Path) -> Path:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return path


#: MMSA layouts: story seed offset, dims (text, audio, vision), lengths, aligned, text_bert, COVAREP -inf, CH-SIMS
#: labels, id prefix, file name under the root
_MMSA_LAYOUTS = {
    "mmsa_mosei": (0, (768, 74, 35), (50, 50, 50), True, True, True, False, "mosei", "aligned_50.pkl"),
    "mmsa_mosi": (1, (768, 5, 20), (50, 375, 500), False, False, False, False, "mosi", "unaligned_50.pkl"),
    "mmsa_mosi_aligned": (6, (768, 5, 20), (50, 50, 50), True, True, False, False, "mosi", "aligned_50.pkl"),
    "mmsa_sims": (2, (768, 33, 709), (39, 400, 55), False, True, False, True, "video_", "SIMS/unaligned_39.pkl"),
}


def write_format(name: str, root: Path, seed: int = 7, sizes=SIZES) -> Path:
    """Write format ``name`` under ``root`` with ``sizes`` = (train, valid, test) utterances; returns the path to
    give ``DATA_PATH`` (a file or a folder). The same ``seed`` and sizes give the same bytes."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    splits = dict(zip(("train", "valid", "test"), sizes))
    if name in _MMSA_LAYOUTS:
        offset, dims, lens, aligned, text_bert, neg_inf, sims, prefix, file = _MMSA_LAYOUTS[name]
        story = _Story(seed + offset, 768)
        data = {s: _mmsa_split(story, n, dims=dims, lens=lens, aligned=aligned, text_bert=text_bert, neg_inf=neg_inf,
                               sims=sims, ids_prefix=f"{prefix}{s[:2]}") for s, n in splits.items()}
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        return _write_pickle(data, root / file)
    if name in ("mult_mosei", "mult_iemocap"):
        iemocap = name == "mult_iemocap"
        story = _Story(seed + 3 + iemocap, 300)
        data = {s: _mult_split(story, n, length=20 if iemocap else 50, iemocap=iemocap, ids_prefix=s[:2])
                for s, n in splits.items()}
        return _write_pickle(data, root / ("iemocap_data.pkl" if iemocap else "mosei_senti_data.pkl"))
    if name == "mertools":
        return _write_mertools(root / "mertools", seed + 5, splits)
    raise ValueError(f"write_format: unknown format {name!r}; formats are {FORMATS + EXTRA_FORMATS}")


def _write_mertools(folder: Path, seed: int, splits: dict[str, int]) -> Path:
    from msa_lib.data import SDUMC_FOLDERS  # only the folder *names*: SDUMC's layout

    story = _Story(seed, 96)
    dims = {"audio": 64, "text": 96, "vision": 48}
    feats = folder / "features"
    for m in dims:
        (feats / SDUMC_FOLDERS[m]).mkdir(parents=True, exist_ok=True)
    corpora = {}
    for split, key in (("train", "train_corpus"), ("valid", "val_corpus"), ("test", "test_corpus")):
        v, y = story.valence(splits[split])
        corpus = {}
        for i in range(splits[split]):
            name = f"{split[:2]}Vid{i // 5:03d}_{i % 5}"
            tl = int(story.rng.integers(5, 30))
            arrays = {
                "text": story.text(v[i], tl),
                "audio": story.audio(v[i], int(tl * story.rng.uniform(2, 4)), 64, neg_inf=False),
                "vision": story.vision(v[i], int(tl * story.rng.uniform(1, 2)), 48),
            }
            for m, arr in arrays.items():
                np.save(feats / SDUMC_FOLDERS[m] / f"{name}.npy", arr.astype(np.float32))
            corpus[name] = {"emo": 0, "val": float(y[i])}
        corpora[key] = np.array(corpus, dtype=object)
    np.savez_compressed(folder / "label.npz", **corpora)
    return folder


def write_all(root: Path, seed: int = 7) -> dict[str, Path]:
    """Every fixture format under ``root``: name → the path to give ``DATA_PATH``."""
    return {name: write_format(name, root, seed) for name in FORMATS}


def annotator_mosi(root=None, *, seed: int = 7, sizes=MOSI_SIZES) -> Path:
    """The MOSI-size MMSA file of chapter 07: ``mmsa_mosi_aligned`` with CMU-MOSI's split sizes, written once.

    ``root`` defaults to ``<checkpoint folder>/data`` (``$MSA_CHECKPOINT_DIR`` or ``notebooks/checkpoints``);
    the file lives in a sub-folder named by seed and sizes, so other settings never reuse it. A file that is
    already there is reused only when it is complete (written to a temporary name, then renamed).
    Returns the path of ``aligned_50.pkl`` (about 0.35 GB at MOSI size: 768-d text on 50 tokens)."""
    if root is None:
        from ..training.checkpoints import checkpoint_dir

        root = checkpoint_dir() / "data"
    folder = Path(root).expanduser() / f"annotator_mosi_seed{seed}_{'-'.join(str(int(n)) for n in sizes)}"
    path = folder / "aligned_50.pkl"
    if path.is_file():
        return path
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    written = write_format("mmsa_mosi_aligned", tmp, seed=seed, sizes=tuple(int(n) for n in sizes))
    folder.mkdir(parents=True, exist_ok=True)
    os.replace(written, path)
    shutil.rmtree(tmp, ignore_errors=True)
    return path
