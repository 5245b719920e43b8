r"""CorrKD's teacher / student network (Li et al., CVPR 2024, §3.1; reference/corrkd.md §1).

CorrKD distils a **teacher** trained on complete language / audio / visual data into a **student**
with the *same structure and separate parameters* that sees randomly corrupted copies of the same
samples. Both are a :class:`CorrKDNet`:

.. code-block:: text

    for m in (text, audio, vision):                                   # §3.1, "modality encoders"
        R_m = Conv1d(d_m -> d, kernel 3, padding 1)(X_m) * sqrt(d) + PE(T_m, d)   [B, T_m, d]
        F_m = TransformerEncoder_m(R_m, key_padding_mask = ~mask_m)                 [B, T_m, d]
        z_m = masked mean of F_m over the real frames                               [B, d]
    h = [z_text ; z_audio ; z_vision]                                 # the joint representation [B, 3d]
    u = h + Dropout(W_2 ReLU(W_1 h))                                  # MulT-style residual head
    pred   = w_reg^T u + b_reg                                        # sentiment score      [B]
    logits = W_cls u + b_cls                                          # 7 sentiment classes  [B, 7]

SCD and CPD act on ``joint`` (h); RCD acts on ``logits`` (o).

**Classification data sets** (IEMOCAP; ``CorrKDNet(..., classes=dataset.classes)`` or
:meth:`CorrKDNet.for_dataset`): one C-way head (C = ``len(classes)``, 4 emotions) and **no regression
head**; ``logits`` [B, C] are the task's logits (cross-entropy) and RCD's o, CPD's categories are the
classes, and ``pred`` is the predicted class id ``argmax(logits)`` as a float [B] — kept so that code
that expects one value per sample (:func:`msa_lib.training.predict`, the metrics, which take class
ids) works unchanged. ``config.num_classes`` (the sentiment bins) is not used then. ``classes`` is a
constructor argument, not a :class:`CorrKDConfig` field, so the regression configs (and the names of
their checkpoints, which hash the config) are unchanged.

Decisions the paper leaves open (reference/corrkd.md §7), each with its reason:

* **Two heads** (decision 1, ``label_mode="reg+7cls"``): MMSA's MOSI/MOSEI metrics need a
  regression score, while CPD needs categories and RCD needs a target class *and* non-target
  classes (with 2 classes the non-target part is a constant). So a regression head feeds the
  metrics and a 7-way head over ``round(clip(y, -3, 3)) + 3`` feeds RCD and defines CPD's classes.
  ``num_classes`` can be changed (3 = negative / neutral / positive) to compare.
* **Joint representation** (decision 3): masked mean-pool per modality, then concatenate (3d = 120
  with d = 40), matching HRLF's :math:`H \in R^{3d}`. ``pooling="last"`` takes the last real frame
  instead (HRLF's reading) for comparison.
* **Depth and dropout** (decision 12): 3 layers, dropout 0.1, sinusoidal positions (MulT).
  Heads: 8 (MOSEI's setting; d = 40 must be divisible by it).
* **Missing modalities**: a modality whose mask is all False (dropped by
  :func:`msa_lib.data.drop_modalities`) gives :math:`z_m = 0`, the same zero vector CorrKD feeds for
  a missing modality; the encoder is run on it with one dummy frame so that
  ``nn.TransformerEncoder`` never sees a fully-masked row (which yields NaN), and the result is then
  discarded by the pooling. Frame-level missingness (zeroed frames, mask unchanged as in MMSA) is
  seen by the model as zero inputs, as in the paper.
* ``use_masks=False`` ignores the padding masks inside attention (MulT on aligned data has none);
  pooling still averages real frames only.
* ``fusion="concat"`` (default) makes h the plain concatenation, so a missing modality's block of h
  is exactly 0 for every sample and SCD / CPD can only be met by the *other* blocks.
  ``fusion="mlp"`` adds a residual MLP, :math:`h = c + W_b\,\mathrm{ReLU}(W_a c)` with
  :math:`c = [z_L; z_A; z_V]`, so the student can also move the coordinates of h that belong to the
  missing modality towards the teacher's (a switch to compare; not in the paper's description).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import nn

from ._blocks import check_mask, masked_mean

__all__ = ["CorrKDConfig", "CorrKDNet", "ModalityEncoder", "sinusoidal_positions", "sentiment_classes"]

MODALITIES = ("text", "audio", "vision")


def sentiment_classes(label: torch.Tensor, num_classes: int = 7, label_range: float = 3.0) -> torch.Tensor:
    r"""Sentiment score in [-3, 3] → class id, the categories CPD and RCD need (decision 1).

    ``label_range`` is the largest absolute label (3 for MOSI/MOSEI, 1 for CH-SIMS); the labels are
    first rescaled to [-3, 3] so that SIMS also gets 7 classes.

    * ``num_classes=7``: :math:`c = \mathrm{round}(\mathrm{clip}(y, -3, 3)) + 3 \in \{0..6\}`
      (round half to even, as MMSA's Acc-7 and ``np.round``);
    * ``num_classes=3``: negative (y < 0) = 0, neutral (y = 0) = 1, positive (y > 0) = 2;
    * ``num_classes=2``: negative (y < 0) = 0, non-negative = 1 (MMSA's Has0 convention).

    Args:
        label: float [B] (or [B, 1]).
    Returns:
        long [B].
    """
    if label_range <= 0:
        raise ValueError(f"sentiment_classes: label_range must be > 0, got {label_range}")
    y = label.reshape(-1).float() * (3.0 / label_range)
    if num_classes == 7:
        return (torch.round(y.clamp(-3.0, 3.0)) + 3).long()
    if num_classes == 3:
        return (torch.sign(y) + 1).long()
    if num_classes == 2:
        return (y >= 0).long()
    raise ValueError(f"sentiment_classes: num_classes must be 2, 3 or 7, got {num_classes}")


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    r"""Sinusoidal positional encoding (Vaswani et al. 2017), [length, dim].

    :math:`PE_{t, 2i} = \sin(t / 10000^{2i/d})`, :math:`PE_{t, 2i+1} = \cos(t / 10000^{2i/d})`.
    """
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)[:, : dim // 2]
    return pe.to(dtype)


@dataclass
class CorrKDConfig:
    """Hyper-parameters of :class:`CorrKDNet` (defaults: CorrKD's MOSEI settings where reported).

    Attributes:
        d_model: embedding dim d of every modality (CorrKD: 40 on all data sets).
        n_heads: attention heads (MOSEI: 8; MOSI / IEMOCAP: 10). ``d_model % n_heads == 0``.
        n_layers: Transformer encoder layers per modality (not reported; 3 as in MulT).
        conv_kernel: temporal convolution kernel (the paper's "3x3"; odd, so lengths are kept).
        dropout: embedding / attention / residual / head dropout (not reported; MulT's 0.1).
        ff_mult: feed-forward width as a multiple of d_model (MulT: 4).
        num_classes: classes of the sentiment head used by CPD / RCD (7, 3 or 2; see
            :func:`sentiment_classes`).
        pooling: ``"mean"`` (masked mean over real frames; default) or ``"last"`` (last real frame).
        use_masks: pass the padding masks to attention (default True); False = MulT on aligned data.
        modalities: which modalities the network encodes; other ``input_dims`` keys are ignored.
        fusion: ``"concat"`` (h = [z_L; z_A; z_V]; default) or ``"mlp"`` (plus a residual MLP).
        missing_modality: what a *missing* modality (its mask all False) contributes to h.
            ``"encode"`` (default): its zero input goes through the modality's encoder, as in the sources
            (CorrKD's MRM and its successor HRLF replace the raw features by zero vectors and still encode them),
            so the block of h is a representation the network learns — one that the task loss and the
            distillation terms can move. With padding masks the length of a missing modality is not observable,
            so it is encoded as one zero frame (the first position): the same vector for every sample, whatever
            the batch's padding. ``"zero"``: the block is 0 (the library's behaviour before 2026-12-04), which no
            loss can change: distillation then acts on the present modalities only.
    """

    d_model: int = 40
    n_heads: int = 8
    n_layers: int = 3
    conv_kernel: int = 3
    dropout: float = 0.1
    ff_mult: int = 4
    num_classes: int = 7
    pooling: str = "mean"
    use_masks: bool = True
    modalities: tuple[str, ...] = field(default_factory=lambda: MODALITIES)
    fusion: str = "concat"
    missing_modality: str = "encode"

    def __post_init__(self):
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(
                f"CorrKDConfig: d_model ({self.d_model}) must be a positive multiple of n_heads ({self.n_heads})"
            )
        if self.n_layers < 1:
            raise ValueError(f"CorrKDConfig.n_layers must be >= 1, got {self.n_layers}")
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            raise ValueError(f"CorrKDConfig.conv_kernel must be a positive odd number, got {self.conv_kernel}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CorrKDConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.num_classes not in (2, 3, 7):
            raise ValueError(f"CorrKDConfig.num_classes must be 2, 3 or 7, got {self.num_classes}")
        if self.pooling not in ("mean", "last"):
            raise ValueError(f"CorrKDConfig.pooling must be 'mean' or 'last', got {self.pooling!r}")
        if self.fusion not in ("concat", "mlp"):
            raise ValueError(f"CorrKDConfig.fusion must be 'concat' or 'mlp', got {self.fusion!r}")
        if self.missing_modality not in ("encode", "zero"):
            raise ValueError(f"CorrKDConfig.missing_modality must be 'encode' or 'zero', got {self.missing_modality!r}")
        self.modalities = tuple(self.modalities)
        if not self.modalities or len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"CorrKDConfig.modalities must be distinct names, got {self.modalities}")

    @property
    def joint_dim(self) -> int:
        """Dim of the joint representation h: d times the number of modalities (120 by default)."""
        return self.d_model * len(self.modalities)


def _last_real(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last real frame of x [B, T, D] (right padding); zeros for an empty row."""
    lengths = mask.long().sum(1)
    idx = (lengths - 1).clamp(min=0)
    last = x[torch.arange(x.shape[0], device=x.device), idx]
    return last * (lengths > 0).to(x.dtype)[:, None]


class ModalityEncoder(nn.Module):
    r"""One modality's encoder: temporal Conv1d + positions + Transformer encoder + pooling.

    :math:`R = \mathrm{Conv1d}(X)\sqrt{d} + PE`, :math:`F = \mathrm{TransformerEncoder}(R)`,
    :math:`z = \mathrm{pool}(F)`. Input x [B, T, d_in] and mask bool [B, T] (True = real frame);
    returns ``(F [B, T, d], z [B, d])``.

    Padded frames (mask False) are set to 0 *before* the convolution, whose kernel would otherwise mix them
    into the real frames next to them: no value in the padding can change any output. A row whose mask is all
    False (the modality is missing) is encoded as one zero frame with ``missing_modality="encode"`` (F is
    non-zero at frame 0 only, z = that frame), or gives z = 0 and F = 0 with ``"zero"``.
    """

    def __init__(self, input_dim: int, config: CorrKDConfig):
        super().__init__()
        self.input_dim = int(input_dim)
        self.config = config
        d = config.d_model
        self.conv = nn.Conv1d(self.input_dim, d, kernel_size=config.conv_kernel,
                              padding=config.conv_kernel // 2, bias=False)
        self.embed_dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d_model=d, nhead=config.n_heads, dim_feedforward=config.ff_mult * d,
            dropout=config.dropout, activation="relu", batch_first=True, norm_first=True,
        )
        # enable_nested_tensor=False: the fast path would silently change padded outputs to zeros on
        # some builds; the result must not depend on the torch build.
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        d = self.config.d_model
        x = torch.where(mask[..., None], x, x.new_zeros(()))  # padding never reaches the convolution
        r = self.conv(x.transpose(1, 2)).transpose(1, 2) * math.sqrt(d)
        r = r + sinusoidal_positions(t, d, device=x.device, dtype=r.dtype)[None]
        r = self.embed_dropout(r)
        empty = ~mask.any(1)  # modality missing for these samples
        # frames that count: the real ones, plus frame 0 of a missing modality (a fully-masked row makes attention
        # NaN; with missing_modality="encode" that zero frame is also what the modality contributes)
        counted = mask.clone()
        counted[empty, 0] = True
        if self.config.use_masks:
            f = self.encoder(r, src_key_padding_mask=~counted)
        else:
            f = self.encoder(r)
        kept = counted if self.config.missing_modality == "encode" else mask
        f = self.norm(f) * kept.to(f.dtype)[..., None]
        z = masked_mean(f, kept) if self.config.pooling == "mean" else _last_real(f, kept)
        return f, z


class CorrKDNet(nn.Module):
    r"""The CorrKD teacher / student network (reference/corrkd.md §1.3-1.5).

    Args:
        input_dims: modality → feature dim, e.g. ``{"text": 768, "audio": 74, "vision": 35}``
            (``dataset.input_dims``); keys the network does not encode (e.g. ``"text_sim"``) are ignored.
        config: a :class:`CorrKDConfig` (defaults: d = 40, 8 heads, 3 layers, 7 classes).
        classes: ``None`` (regression data set: the two heads above) or the class names of a
            classification data set (``dataset.classes``; an int C also works): one C-way head, no
            regression head, ``pred`` = argmax class id as a float (see the module docstring).
        **overrides: any :class:`CorrKDConfig` field, e.g. ``CorrKDNet(dims, n_layers=2)``.

    ``forward(batch)`` takes a batch dict with ``<m>`` float [B, T_m, D_m] and ``<m>_mask`` bool
    [B, T_m] for each encoded modality (a missing mask means "all frames real") and returns:

    ========================  ==========================================================
    ``pred``                  [B] sentiment score (regression head); the argmax class id
                              (float) for a classification network
    ``logits``                [B, C] sentiment-class logits (C = ``num_classes``), RCD's o; the
                              class logits (C = ``len(classes)``) for a classification network
    ``joint``                 [B, 3d] joint representation h (SCD and CPD act on it)
    ``features``              dict m → [B, d] pooled per-modality representation z_m
    ``sequences``             dict m → [B, T_m, d] encoder outputs F_m (zero at padding)
    ========================  ==========================================================

    Teacher and student are two instances: same structure, separate parameters.
    """

    def __init__(self, input_dims: Mapping[str, int], config: CorrKDConfig | None = None, *,
                 classes: Sequence[str] | int | None = None, **overrides):
        super().__init__()
        if config is None:
            config = CorrKDConfig(**overrides)
        elif overrides:
            config = CorrKDConfig(**{**config.__dict__, **overrides})
        self.config = config
        if not isinstance(input_dims, Mapping):
            raise TypeError(f"CorrKDNet: input_dims must be a dict modality -> dim, got {type(input_dims).__name__}")
        missing = [m for m in config.modalities if m not in input_dims]
        if missing:
            raise KeyError(
                f"CorrKDNet: input_dims lacks {missing} (has {sorted(input_dims)}); give a feature dim "
                "for every modality in CorrKDConfig.modalities"
            )
        self.input_dims = {m: int(input_dims[m]) for m in config.modalities}
        for m, dim in self.input_dims.items():
            if dim < 1:
                raise ValueError(f"CorrKDNet: input_dims[{m!r}] must be >= 1, got {dim}")
        self.encoders = nn.ModuleDict({m: ModalityEncoder(dim, config) for m, dim in self.input_dims.items()})
        j = config.joint_dim
        self.fusion = None
        if config.fusion == "mlp":
            self.fusion = nn.Sequential(nn.Linear(j, j), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(j, j))
        self.proj1 = nn.Linear(j, j)
        self.proj2 = nn.Linear(j, j)
        self.head_dropout = nn.Dropout(config.dropout)
        if classes is None:
            self.task, self.classes = "regression", ()
            self.num_classes = config.num_classes
            self.regression_head = nn.Linear(j, 1)
        else:
            self.classes = tuple(f"class_{k}" for k in range(classes)) if isinstance(classes, int) else tuple(classes)
            if len(self.classes) < 2:
                raise ValueError(f"CorrKDNet: a classification network needs >= 2 classes, got {classes!r}")
            self.task, self.num_classes = "classification", len(self.classes)
            self.regression_head = None
        self.class_head = nn.Linear(j, self.num_classes)

    @classmethod
    def for_dataset(cls, dataset, config: CorrKDConfig | None = None, **overrides) -> "CorrKDNet":
        """The network for ``dataset``: its ``input_dims``, and its ``classes`` when ``dataset.task`` is
        ``"classification"`` (a regression network otherwise)."""
        classification = getattr(dataset, "task", "regression") == "classification"
        return cls(dataset.input_dims, config, classes=tuple(dataset.classes) if classification else None, **overrides)

    # ------------------------------------------------------------------------------------------
    def _inputs(self, batch: Mapping, m: str) -> tuple[torch.Tensor, torch.Tensor]:
        if m not in batch:
            raise KeyError(f"CorrKDNet: the batch has no '{m}' (keys: {sorted(k for k in batch if isinstance(k, str))})")
        x = batch[m]
        if not torch.is_tensor(x) or x.dim() != 3:
            raise ValueError(f"CorrKDNet: batch['{m}'] must be a [B, T, D] tensor, got shape {tuple(getattr(x, 'shape', ()))}")
        if x.shape[-1] != self.input_dims[m]:
            raise ValueError(
                f"CorrKDNet: batch['{m}'] has feature dim {x.shape[-1]}, the network was built for "
                f"{self.input_dims[m]} (input_dims['{m}'])"
            )
        mask = check_mask(x, batch.get(f"{m}_mask"), name=m)  # None = every frame real
        return x.float() if x.dtype == torch.float64 else x, mask

    def encode(self, batch: Mapping) -> dict:
        """The encoders and the joint representation only (no heads)."""
        features, sequences = {}, {}
        for m in self.config.modalities:
            x, mask = self._inputs(batch, m)
            sequences[m], features[m] = self.encoders[m](x, mask)
        joint = torch.cat([features[m] for m in self.config.modalities], dim=-1)
        if self.fusion is not None:
            joint = joint + self.fusion(joint)
        return {"joint": joint, "features": features, "sequences": sequences}

    def heads(self, joint: torch.Tensor) -> dict:
        r"""Output heads on h: :math:`u = h + \mathrm{Dropout}(W_2\,\mathrm{ReLU}(W_1 h))`."""
        u = joint + self.head_dropout(self.proj2(torch.relu(self.proj1(joint))))
        logits = self.class_head(u)
        if self.regression_head is None:  # classification: pred = the predicted class id
            return {"pred": logits.detach().argmax(-1).float(), "logits": logits}
        return {"pred": self.regression_head(u).squeeze(-1), "logits": logits}

    def forward(self, batch: Mapping) -> dict:
        out = self.encode(batch)
        out.update(self.heads(out["joint"]))
        return out
