r"""UMCANet: the SDUMC network with Unified Modality Cross-Attention (ICASSP 2025, §2.1–2.3).

One flow of the network (reference/sdumc.md §2.2; shapes for the default config, D = 256, C = 128):

==  ==========================================================================  ====================
1   per-modality projection ``x_m = W_m X_m`` (no activation); simulated text    [B, T_m, D]
    shares the text projection (it stands in for text)
2   additive attention pooling ``u_m, α_m = Pool_m(x_m, mask_m)``                [B, D], [B, T_m]
3   utterance MLPs ``h_m = MLP_m(u_m)``                                         [B, D]
3b  **MIA-1** (student flow only): ``h_t ← MIA_1(h_a, h_t, h_v)``                 [B, D]
4   modality weights ``w = W_w MLP([h_a; h_t; h_v])`` (raw by default)            [B, 3]
5   weighted sums: trimodal ``f = Σ_m w_m h_m`` and the three bimodal pairs       [B, D] each
6   the 7 *unified modality queries* (trimodal, a+t, t+v, a+v, a, t, v), each     ``Q`` [B, 7, D]
    through its own MLP
7   **UMCA**: every query attends over every modality's frames (one batched      ``c_m`` [B, 7, D]
    product per modality, padding masked):
    ``A_m = softmax_T(γ (W_q Q)(tanh(W_k x_m))^T)``, ``c_m = A_m x_m``            ``A_m`` [B, 7, T_m]
8   cross MLPs ``c_m ← MLP(c_m)``                                                [B, 7, C]
8b  **MIA-2** (student flow only): ``c_t ← MIA_2(c_a, c_t, c_v)``                 [B, 7, C]
9   first fusion stage, reusing the step-4 weights: ``G = Σ_m w_m c_m``          [B, 7, C]
10  slot weights ``z = W_z MLP(flatten G)`` (raw by default)                      [B, 7]
11  second fusion stage ``e = Σ_k z_k G_k`` (the fused embedding)                 [B, C]
12  regression ``ŷ = W_o e + b_o``; Rank-N-Contrast head ``r = W_2 ReLU(W_1 e)``  [B], [B, 64]
==  ==========================================================================  ====================

Differences from the official code, each a documented decision:

* **Padding masks** (``use_masks=True``): padded frames get no attention weight in pooling or
  UMCA. The official code has none — a zero-padded frame becomes the projection bias and leaks into
  every softmax, so its results depend on the batch composition. ``use_masks=False`` reproduces it.
* **One batched product** for UMCA (``bmm(A, X)``) instead of a Python loop over the 7 queries.
* **Frame dropout**: the official code draws two independent 0.5 dropout masks on the same frames
  (one in pooling, one in UMCA). By default we draw one per modality and flow and use it in both
  (cheaper, and the pooled vector and the cross-attention then see the same frames);
  ``independent_frame_dropout=True`` restores the official behaviour. On a CPU the frame-dropout mask
  is drawn with a cheaper generator (:class:`FrameDropout`: the same Bernoulli distribution, a
  different random stream); on a GPU it is ``torch.nn.functional.dropout`` as everywhere else.
* **MIA on** for the student flow (the official code comments it out): see :mod:`.mia`.
* **Fusion weights** ``w`` and ``z`` are raw linear outputs in the official code (faithful default
  ``fusion_weights="raw"``); ``"softmax"`` and ``"sigmoid"`` are offered for comparison.
* ``.squeeze(-1)`` everywhere, so a batch of one works.

The double flow of SDUMC (teacher on real text, student on simulated text, shared weights) is
:meth:`UMCANet.double_flow`: both flows run as **one** forward pass on a ``2B`` batch; the audio and
vision projections (the largest matrix products) are computed once and shared, since both flows see
the same audio and vision; dropout masks stay independent per flow, as in the official code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ._blocks import AttentionPooling, check_mask, masked_softmax, mlp
from .mia import MIA, RESIDUALS

#: The three modalities, in the order of the modality weights ``w``.
MODALITIES = ("audio", "text", "vision")
#: The 7 unified modality queries, in the official order (reference/sdumc.md §2.2 step 6).
#: Parameters of the official model (WarmCongee/SDUMC, MIA switched off as in its code) that receive gradients at
#: SDUMC's feature sizes (audio 1024, text 4096, vision 1024): counted from the official code and its 49 MB
#: checkpoint in ``reference/sdumc.md`` (§ "Size"). Chapter 02 compares :class:`UMCANet`'s count with it.
OFFICIAL_TRAINABLE_PARAMETERS = 3_857_291

QUERY_NAMES = ("audio+text+vision", "audio+text", "text+vision", "audio+vision", "audio", "text", "vision")
#: Index of the text unimodal query in :data:`QUERY_NAMES`.
TEXT_QUERY = QUERY_NAMES.index("text")
FUSION_WEIGHTS = ("raw", "softmax", "sigmoid")


_BITS = torch.arange(8, dtype=torch.uint8)


class FrameDropout(nn.Dropout):
    r"""Inverted dropout on the projected frames ``[B, T, D]`` (:class:`torch.nn.Dropout`'s semantics) with a
    cheaper mask on a CPU.

    Each element is kept with probability :math:`1 - p` and scaled by :math:`1 / (1 - p)`, as
    ``nn.Dropout``. On a CPU, ``torch.bernoulli`` costs ~13 ns per element on this book's 2-core machine,
    the single largest cost of an SDUMC step after the matrix products (a ``[32, 300, 256]`` audio block:
    35 ms per flow). The mask is drawn instead:

    * for ``p = 0.5`` (SDUMC's frame dropout) from random **bits**: one uniform byte gives eight independent
      fair coins, so the mask is exactly Bernoulli(0.5) from an eighth of the random numbers (~6 ms for
      that block);
    * for any other ``p`` as ``U >= p`` with ``U ~ torch.rand`` (float32 uniforms on a 2⁻²⁴ grid).

    The distribution is the same as ``nn.Dropout``'s; the random *stream* differs, so the same seed gives
    other masks than ``nn.Dropout`` would (and a CPU run others than a GPU run, as before). On other
    devices (CUDA, MPS), in eval mode and for ``p = 0`` this is ``nn.Dropout``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        if self.p == 1.0:
            return torch.zeros_like(x)
        if self.p == 0.5:
            n = x.numel()
            coins = torch.randint(0, 256, ((n + 7) // 8,), dtype=torch.uint8)
            keep = ((coins[:, None] >> _BITS) & 1).reshape(-1)[:n].view(x.shape)
        else:
            keep = torch.rand(x.shape) >= self.p
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))


@dataclass
class UMCAConfig:
    """Hyper-parameters of :class:`UMCANet`. Defaults reproduce the official model (3.86 M trainable
    parameters at SDUMC's input dims 1024/4096/1024, plus 0.41 M for the two MIA autoencoders).

    Attributes:
        hidden_dim: D, the common frame / utterance / query size (official 256).
        cross_dim: C, size of the cross features and of the fused embedding ``e`` (official 128).
        proj_dim: size of the Rank-N-Contrast projection ``r`` (official 64).
        mlp_dropout: dropout after every MLP layer (official 0.3).
        frame_dropout: dropout on the projected frames before pooling / UMCA (official 0.5).
        output_dropout: dropout on the pooled vector and on the UMCA outputs (official 0.5).
        independent_frame_dropout: draw separate frame-dropout masks for pooling and UMCA (official
            behaviour) instead of one shared mask (default, cheaper).
        shared_av_frames: in :meth:`UMCANet.double_flow`, let both flows share the frame-dropout
            mask of audio and vision, so the frame-level work on audio and vision (pooling scores,
            UMCA keys) is done once instead of twice; the flows then differ only by their text (and
            the dropout after the frame level). Off by default (the official flows draw independent
            masks). Measured on 2 pinned cores: 1.4x faster at B=96, T=600/64/400, 1.05x at B=32,
            T=300/32/200 (benchmarks/bench_sdumc.py). Needs ``use_masks`` and a shared frame
            dropout (``independent_frame_dropout=False``).
        attention_scale: γ, the factor on the attention scores before the softmax (official 0.3).
        use_masks: mask padded frames (True, our fix); False reproduces the official unmasked model.
        fusion_weights: ``"raw"`` (official: unnormalised linear outputs), ``"softmax"`` or
            ``"sigmoid"`` for both the modality weights ``w`` and the slot weights ``z``.
        use_mia: build the two MIA autoencoders and apply them to the student flow (text simulated
            or missing). The teacher baseline sets this False.
        mia_residual: ``"text"`` (``+ x_t``, default), ``"fused"`` (``+ z``) or ``"none"``; see :class:`MIA`.
        mia_zero_init: zero-initialise MIA's decoder so it starts as the identity on the text input.
    """

    hidden_dim: int = 256
    cross_dim: int = 128
    proj_dim: int = 64
    mlp_dropout: float = 0.3
    frame_dropout: float = 0.5
    output_dropout: float = 0.5
    independent_frame_dropout: bool = False
    shared_av_frames: bool = False
    attention_scale: float = 0.3
    use_masks: bool = True
    fusion_weights: str = "raw"
    use_mia: bool = True
    mia_residual: str = "text"
    mia_zero_init: bool = True

    def __post_init__(self):
        for name in ("hidden_dim", "cross_dim", "proj_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"UMCAConfig.{name} must be a positive int, got {v!r}")
        for name in ("mlp_dropout", "frame_dropout", "output_dropout"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"UMCAConfig.{name} must be in [0, 1), got {v!r}")
        if self.fusion_weights not in FUSION_WEIGHTS:
            raise ValueError(f"UMCAConfig.fusion_weights must be one of {FUSION_WEIGHTS}, got {self.fusion_weights!r}")
        if self.mia_residual not in RESIDUALS:
            raise ValueError(f"UMCAConfig.mia_residual must be one of {RESIDUALS}, got {self.mia_residual!r}")

    @classmethod
    def small(cls, **overrides) -> "UMCAConfig":
        """A narrower network for quick CPU runs on the small synthetic set: D=64, C=32, proj 32,
        lighter dropout (0.1 / 0.2 / 0.2). Same architecture, ~1/16 of the width-dependent weights."""
        base = dict(hidden_dim=64, cross_dim=32, proj_dim=32, mlp_dropout=0.1, frame_dropout=0.2,
                    output_dropout=0.2)
        base.update(overrides)
        return cls(**base)

    def replace(self, **changes) -> "UMCAConfig":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


class UnifiedCrossAttention(nn.Module):
    r"""UMCA core for one modality (official ``Cross_Attention``, reference/sdumc.md §2.1).

    For frames :math:`X \in \mathbb{R}^{B\times T\times D}` (mask :math:`m`) and the queries
    :math:`Q \in \mathbb{R}^{B\times 7\times D}`:

    .. math::
        K = \tanh(W_k X + b_k), \quad Q' = W_q Q + b_q, \quad
        A = \mathrm{softmax}_{t:\,m_t}\big(\gamma\, Q' K^\top\big) \in \mathbb{R}^{B\times 7\times T}, \quad
        O = \mathrm{Dropout}(A X) \in \mathbb{R}^{B\times 7\times D}

    Each query gets one distribution over time. The official code computes ``A^T X`` with a loop
    over the 7 queries and returns ``A`` as [B, T, 7]; here it is one ``bmm`` and ``A`` is returned
    query-major, [B, 7, T]. A sample with no real frame gets all-zero attention and ``O = 0``.
    """

    def __init__(self, dim: int, scale: float = 0.3, output_dropout: float = 0.5):
        super().__init__()
        self.key_proj = nn.Linear(dim, dim)
        self.query_proj = nn.Linear(dim, dim)
        self.scale = float(scale)
        self.output_dropout = nn.Dropout(output_dropout)

    def forward(self, queries: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor | None = None):
        keys = torch.tanh(self.key_proj(frames))  # [B, T, D]
        q = self.query_proj(queries)  # [B, 7, D]
        scores = self.scale * torch.bmm(q, keys.transpose(1, 2))  # [B, 7, T]
        attn = masked_softmax(scores, None if mask is None else mask[:, None, :], dim=-1)
        return self.output_dropout(torch.bmm(attn, frames)), attn  # [B, 7, D], [B, 7, T]


class UMCANet(nn.Module):
    """The SDUMC network (see the module docstring for the step-by-step equations).

    Args:
        input_dims: feature size per modality, e.g. ``{"audio": 1024, "text": 4096, "vision": 1024}``;
            may contain ``"text_sim"`` (it must equal the text dim: simulated text shares the text
            projection, it stands in for text). Any other key is an error.
        config: a :class:`UMCAConfig` (default: the official sizes).
        **overrides: :class:`UMCAConfig` fields to change, e.g. ``UMCANet(dims, use_masks=False)``.

    ``forward(batch, imagine=None) -> dict`` (one flow) with

    ==========================  ===================  =========================================
    ``pred``                    [B]                  the sentiment regression ŷ
    ``fused``                   [B, C]               the fused embedding e (step 11)
    ``proj``                    [B, P]               Rank-N-Contrast projection r (step 12)
    ``text_query``              [B, D]               the text query q_t after its MLP (step 6)
    ``text_cross``              [B, 7, C]            the text cross features c_t (after MIA-2)
    ``queries``                 [B, 7, D]            all 7 queries (order :data:`QUERY_NAMES`)
    ``hidden``                  [B, 3, D]            utterance vectors h_a, h_t, h_v (after MIA-1)
    ``cross``                   [B, 3, 7, C]         cross features c_a, c_t, c_v
    ``modality_weights``        [B, 3]               w (step 4)
    ``slot_weights``            [B, 7]               z (step 10)
    ``attention``               {m: [B, 7, T_m]}     UMCA maps per modality
    ``pooling_attention``       {m: [B, T_m]}        attention-pooling weights per modality
    ``imagined``                bool [B]             where MIA was applied
    ==========================  ===================  =========================================

    ``imagine`` (bool or bool [B]) forces where MIA is applied; by default it is applied where the
    text is simulated (``batch["text_simulated"]``, set by :func:`msa_lib.data.use_simulated_text`)
    or missing (``batch["text_missing"]``, set by :func:`msa_lib.data.drop_modalities`), and only if
    ``config.use_mia``.
    """

    def __init__(self, input_dims: Mapping[str, int], config: UMCAConfig | None = None, **overrides: Any):
        super().__init__()
        config = config or UMCAConfig()
        if overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        self.input_dims = self._check_input_dims(input_dims)
        d, c, p = config.hidden_dim, config.cross_dim, config.proj_dim
        drop = config.mlp_dropout

        # 1. projections (text_sim uses the text projection)
        self.input_proj = nn.ModuleDict({m: nn.Linear(self.input_dims[m], d) for m in MODALITIES})
        self.frame_dropout = FrameDropout(config.frame_dropout)
        # 2-3. pooling and utterance MLPs
        self.pool = nn.ModuleDict(
            {m: AttentionPooling(d, config.attention_scale, config.output_dropout) for m in MODALITIES}
        )
        self.utterance_mlp = nn.ModuleDict({m: mlp(d, (d, d), drop) for m in MODALITIES})
        # 4. modality weights
        self.modality_weight_mlp = mlp(3 * d, (d, d), drop)
        self.modality_weight_head = nn.Linear(d, 3)
        # 6. the seven query MLPs
        self.query_mlp = nn.ModuleList([mlp(d, (d,), drop) for _ in QUERY_NAMES])
        # 7-8. UMCA and cross MLPs
        self.cross_attention = nn.ModuleDict(
            {m: UnifiedCrossAttention(d, config.attention_scale, config.output_dropout) for m in MODALITIES}
        )
        self.cross_mlp = nn.ModuleDict({m: mlp(d, (d, c), drop) for m in MODALITIES})
        # 10. slot weights
        self.slot_weight_mlp = mlp(len(QUERY_NAMES) * c, (d, c), drop)
        self.slot_weight_head = nn.Linear(c, len(QUERY_NAMES))
        # 12. heads
        self.regressor = nn.Linear(c, 1)
        self.rnc_head = nn.Sequential(nn.Linear(c, p), nn.ReLU(), nn.Linear(p, p))
        # MIA (student flow only)
        if config.use_mia:
            self.mia_utterance = MIA(d, d // 2 or 1, config.mia_residual, config.mia_zero_init)
            self.mia_cross = MIA(c, c // 2 or 1, config.mia_residual, config.mia_zero_init)
        else:
            self.mia_utterance = None
            self.mia_cross = None

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _check_input_dims(input_dims: Mapping[str, int]) -> dict[str, int]:
        if not isinstance(input_dims, Mapping):
            raise TypeError(f"UMCANet: input_dims must be a dict modality -> dim, got {type(input_dims).__name__}")
        unknown = set(input_dims) - set(MODALITIES) - {"text_sim"}
        if unknown:
            raise ValueError(
                f"UMCANet: unknown input_dims keys {sorted(unknown)}; expected {list(MODALITIES)} (+ optional 'text_sim')"
            )
        for m in MODALITIES:
            if m not in input_dims:
                raise KeyError(f"UMCANet: input_dims lacks '{m}' (got {dict(input_dims)})")
        dims = {m: int(input_dims[m]) for m in input_dims}
        for m, v in dims.items():
            if v < 1:
                raise ValueError(f"UMCANet: input_dims['{m}'] must be >= 1, got {v}")
        if "text_sim" in dims and dims["text_sim"] != dims["text"]:
            raise ValueError(
                f"UMCANet: input_dims['text_sim']={dims['text_sim']} differs from input_dims['text']="
                f"{dims['text']}; simulated text shares the text projection, so both must have one size"
            )
        return dims

    def _inputs(self, batch: Mapping[str, Any], modality: str, key: str | None = None):
        """(features [B, T, D], mask [B, T] bool) of ``key`` (default ``modality``), validated."""
        key = key or modality
        if key not in batch:
            raise KeyError(
                f"UMCANet: the batch has no '{key}' (keys: {sorted(k for k in batch if isinstance(k, str))})"
            )
        x = batch[key]
        if not torch.is_tensor(x) or x.dim() != 3:
            raise ValueError(f"UMCANet: batch['{key}'] must be a [B, T, D] tensor, got {getattr(x, 'shape', type(x))}")
        if x.shape[-1] != self.input_dims[modality]:
            raise ValueError(
                f"UMCANet: batch['{key}'] has feature dim {x.shape[-1]} (shape {tuple(x.shape)}), the model "
                f"was built for {self.input_dims[modality]}"
            )
        mask = batch.get(f"{key}_mask")
        mask = check_mask(x, mask, key)
        return x, mask

    def _imagine_flags(self, batch: Mapping[str, Any], b: int, device, imagine=None) -> torch.Tensor:
        if imagine is None:
            flags = torch.zeros(b, dtype=torch.bool, device=device)
            if bool(batch.get("text_simulated", False)):
                flags = torch.ones_like(flags)
            missing = batch.get("text_missing")
            if missing is not None:
                flags |= torch.as_tensor(missing, device=device).to(torch.bool).reshape(-1).expand(b)
        else:
            flags = torch.as_tensor(imagine, device=device).to(torch.bool)
            flags = flags.expand(b) if flags.dim() == 0 else flags.reshape(-1)
            if flags.shape[0] != b:
                raise ValueError(f"UMCANet: imagine has {flags.shape[0]} flags for a batch of {b}")
        if self.mia_utterance is None:
            flags = torch.zeros_like(flags)
        return flags

    def _normalise(self, weights: torch.Tensor) -> torch.Tensor:
        mode = self.config.fusion_weights
        if mode == "softmax":
            return torch.softmax(weights, dim=-1)
        if mode == "sigmoid":
            return torch.sigmoid(weights)
        return weights

    # ------------------------------------------------------------------------------------------
    def forward(self, batch: Mapping[str, Any], imagine=None) -> dict[str, Any]:
        """One flow on ``batch`` (real or simulated text, whatever is in ``batch['text']``)."""
        frames, masks = {}, {}
        for m in MODALITIES:
            x, mask = self._inputs(batch, m)
            frames[m] = self.input_proj[m](x)
            masks[m] = mask
        b = frames["audio"].shape[0]
        for m in MODALITIES:
            if frames[m].shape[0] != b:
                raise ValueError(
                    f"UMCANet: batch sizes differ: 'audio' has {b} samples, '{m}' has {frames[m].shape[0]}"
                )
        flags = self._imagine_flags(batch, b, frames["audio"].device, imagine)
        return self.encode(frames, masks, flags)

    def double_flow(self, batch: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """SDUMC's two flows with shared weights: ``(teacher, student)`` output dicts.

        * teacher flow: audio + **real** text (``batch['text']``) + vision, MIA off;
        * student flow: audio + **simulated** text (``batch['text_sim']``) + vision, MIA on.

        With masks (the default) both run as one pass over a ``2B`` batch (texts right-padded to a
        common length, which the masks make harmless); audio and vision are projected once.
        Without masks (``use_masks=False``) the extra padding would change the official model's
        output, so the two flows run separately, exactly as the official code does.
        Dropout masks are independent between the flows in both cases.
        """
        if not self.config.use_masks:
            teacher = self.forward(batch, imagine=False)
            student_batch = dict(batch)
            student_batch["text"] = self._inputs(batch, "text", "text_sim")[0]
            student_batch["text_mask"] = batch.get("text_sim_mask")
            return teacher, self.forward(student_batch, imagine=True)

        text, text_mask = self._inputs(batch, "text")
        text_sim, text_sim_mask = self._inputs(batch, "text", "text_sim")
        audio, audio_mask = self._inputs(batch, "audio")
        vision, vision_mask = self._inputs(batch, "vision")
        b = audio.shape[0]
        for name, x in (("text", text), ("text_sim", text_sim), ("vision", vision)):
            if x.shape[0] != b:
                raise ValueError(f"UMCANet: batch sizes differ: 'audio' has {b} samples, '{name}' has {x.shape[0]}")
        t_len = max(text.shape[1], text_sim.shape[1])
        both_text = torch.cat([F.pad(text, (0, 0, 0, t_len - text.shape[1])),
                               F.pad(text_sim, (0, 0, 0, t_len - text_sim.shape[1]))], dim=0)
        both_text_mask = torch.cat([F.pad(text_mask, (0, t_len - text.shape[1])),
                                    F.pad(text_sim_mask, (0, t_len - text_sim.shape[1]))], dim=0)
        audio_frames = self.input_proj["audio"](audio)  # projected once, shared by both flows
        vision_frames = self.input_proj["vision"](vision)
        shared = self.config.shared_av_frames and not self.config.independent_frame_dropout
        if shared:  # frame level of audio/vision computed once for both flows (see UMCAConfig)
            frames = {"audio": audio_frames, "text": self.input_proj["text"](both_text), "vision": vision_frames}
            masks = {"audio": audio_mask, "text": both_text_mask, "vision": vision_mask}
        else:
            frames = {
                "audio": torch.cat([audio_frames, audio_frames], dim=0),
                "text": self.input_proj["text"](both_text),
                "vision": torch.cat([vision_frames, vision_frames], dim=0),
            }
            masks = {
                "audio": torch.cat([audio_mask, audio_mask], dim=0),
                "text": both_text_mask,
                "vision": torch.cat([vision_mask, vision_mask], dim=0),
            }
        flags = torch.cat([torch.zeros(b, dtype=torch.bool, device=audio.device),
                           torch.ones(b, dtype=torch.bool, device=audio.device)])
        if self.mia_utterance is None:
            flags = torch.zeros_like(flags)
        out = self.encode(frames, masks, flags, shared=("audio", "vision") if shared else ())
        teacher, student = _split_outputs(out, b)
        # the student's text attention maps: drop the columns that only exist for the padding
        for flow, length in ((teacher, text.shape[1]), (student, text_sim.shape[1])):
            flow["attention"]["text"] = flow["attention"]["text"][..., :length]
            flow["pooling_attention"]["text"] = flow["pooling_attention"]["text"][..., :length]
        return teacher, student

    def encode(self, frames: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
               imagine: torch.Tensor, shared: tuple[str, ...] = ()) -> dict[str, Any]:
        """Steps 2–12 on projected frames ``{m: [B, T_m, D]}`` with masks ``{m: [B, T_m]}``.

        Modalities in ``shared`` are given once, ``[B/2, T_m, D]``, for the two halves (flows) of a
        ``B``-sample batch: their frame-level work (dropout, pooling scores, UMCA keys) is done once;
        the pooled vectors are repeated before their dropout, and both flows' queries attend into the
        shared frames in one product (``[B/2, 2·7, T_m]``).
        """
        cfg = self.config
        use_masks = cfg.use_masks
        pool_in, cross_in = {}, {}
        for m in MODALITIES:
            if cfg.independent_frame_dropout:
                pool_in[m], cross_in[m] = self.frame_dropout(frames[m]), self.frame_dropout(frames[m])
            else:
                pool_in[m] = cross_in[m] = self.frame_dropout(frames[m])

        # 2-3. attention pooling and utterance MLPs
        hidden, pooling_attention = {}, {}
        for m in MODALITIES:
            if m in shared:
                pooled, alpha = self.pool[m](pool_in[m], masks[m] if use_masks else None, apply_dropout=False)
                pooled = self.pool[m].output_dropout(pooled.repeat(2, 1))
                alpha = alpha.repeat(2, 1)
            else:
                pooled, alpha = self.pool[m](pool_in[m], masks[m] if use_masks else None)
            hidden[m] = self.utterance_mlp[m](pooled)
            pooling_attention[m] = alpha
        # 3b. MIA-1 on the student's text utterance vector
        if self.mia_utterance is not None and bool(imagine.any()):
            imagined = self.mia_utterance(hidden["audio"], hidden["text"], hidden["vision"])
            hidden["text"] = torch.where(imagine[:, None], imagined, hidden["text"])
        h = torch.stack([hidden[m] for m in MODALITIES], dim=1)  # [B, 3, D]

        # 4-5. modality weights and the weighted sums
        w = self._normalise(self.modality_weight_head(self.modality_weight_mlp(h.flatten(1))))  # [B, 3]
        wh = w.unsqueeze(-1) * h  # [B, 3, D]
        a, t, v = wh[:, 0], wh[:, 1], wh[:, 2]
        query_inputs = (a + t + v, a + t, t + v, a + v, hidden["audio"], hidden["text"], hidden["vision"])
        # 6. the seven unified modality queries
        queries = torch.stack([f(x) for f, x in zip(self.query_mlp, query_inputs)], dim=1)  # [B, 7, D]

        # 7-8. UMCA into every modality's frames, then the cross MLPs
        cross, attention = {}, {}
        n_queries = len(QUERY_NAMES)
        for m in MODALITIES:
            if m in shared:  # both flows' queries in one product: [B/2, 14, D]
                half = queries.shape[0] // 2
                both = queries.view(2, half, n_queries, -1).transpose(0, 1).reshape(half, 2 * n_queries, -1)
                out, attn = self.cross_attention[m](both, cross_in[m], masks[m] if use_masks else None)
                out = out.view(half, 2, n_queries, -1).transpose(0, 1).reshape(2 * half, n_queries, -1)
                attn = attn.view(half, 2, n_queries, -1).transpose(0, 1).reshape(2 * half, n_queries, -1)
            else:
                out, attn = self.cross_attention[m](queries, cross_in[m], masks[m] if use_masks else None)
            cross[m] = self.cross_mlp[m](out)  # [B, 7, C]
            attention[m] = attn
        # 8b. MIA-2 on the student's text cross features
        if self.mia_cross is not None and bool(imagine.any()):
            imagined = self.mia_cross(cross["audio"], cross["text"], cross["vision"])
            cross["text"] = torch.where(imagine[:, None, None], imagined, cross["text"])
        c = torch.stack([cross[m] for m in MODALITIES], dim=1)  # [B, 3, 7, C]

        # 9-11. two-stage weighted fusion
        g = (w[:, :, None, None] * c).sum(dim=1)  # [B, 7, C]
        z = self._normalise(self.slot_weight_head(self.slot_weight_mlp(g.flatten(1))))  # [B, 7]
        fused = (z.unsqueeze(-1) * g).sum(dim=1)  # [B, C]

        # 12. heads
        return {
            "pred": self.regressor(fused).squeeze(-1),
            "fused": fused,
            "proj": self.rnc_head(fused),
            "text_query": queries[:, TEXT_QUERY],
            "text_cross": cross["text"],
            "queries": queries,
            "hidden": h,
            "cross": c,
            "modality_weights": w,
            "slot_weights": z,
            "attention": attention,
            "pooling_attention": pooling_attention,
            "imagined": imagine,
        }

    def extra_repr(self) -> str:
        return f"input_dims={self.input_dims}"


def _split_outputs(out: dict[str, Any], b: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a 2B output dict into the first B (teacher) and last B (student) samples."""
    first, second = {}, {}
    for key, value in out.items():
        if isinstance(value, dict):
            first[key], second[key] = _split_outputs(value, b)
        else:
            first[key], second[key] = value[:b], value[b:]
    return first, second
