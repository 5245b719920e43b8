r"""The field's classic models, as thuiar/MMSA builds them: LF-DNN, TFN and MulT.

Chapter 07 puts the book's methods beside the models every multimodal-sentiment paper compares with. They are
re-implemented here rather than imported from the ``mmsa`` package, which pins an old ``transformers`` and reads
its own data files; each class has exactly MMSA's parameters (a test compares the counts with MMSA's own
classes at its MOSI and MOSEI settings) and MMSA's defaults (``config_regression.json``), so that "TFN" means
the TFN readers know.

* :class:`LFDNN` — late fusion (Williams et al. 2018; MMSA's ``LF_DNN``): a sub-network per modality, the
  three vectors concatenated, a three-layer MLP.
* :class:`TFN` — Tensor Fusion Network (Zadeh et al., EMNLP 2017): the outer product of :math:`[1; z_t]`,
  :math:`[1; z_a]`, :math:`[1; z_v]`, so the fused vector holds every unimodal, bimodal and trimodal product,
  then an MLP and :math:`6\,\sigma(\cdot) - 3`.
* :class:`MulT` — Multimodal Transformer (Tsai et al., ACL 2019): for each target modality, two crossmodal
  transformers (queries from the target, keys and values from each other modality), a self-attention
  transformer over their concatenation, the last frame; a residual MLP on the three.

Sub-networks (MMSA's ``SubNet`` / ``TextSubNet``): audio and vision are averaged over time and go through
BatchNorm, dropout and three ReLU layers; text goes through an LSTM whose final state, after dropout, is
projected.

Decisions (each a switch where a reader may want MMSA's behaviour back):

* **Padding.** MMSA averages audio and vision over every frame, padding included (``need_normalized``), runs the
  text LSTM over the padded sequence and takes MulT's *last padded* frame, so its predictions depend on how an
  utterance was padded. Here the average is over the real frames, the LSTM stops at the last real token
  (a packed sequence) and MulT keeps the last real frame and masks padded keys (``padding="masked"``, default);
  ``padding="mmsa"`` reproduces MMSA. A missing modality (mask all False) is one zero frame, as in CorrKD's
  ``missing_modality="encode"``: the zero input goes through the sub-network.
* **MulT's convolutions** keep the sequence length (``padding = k // 2`` on zeroed padding) so each output frame
  keeps its input's mask; MMSA's (``padding = 0``) shorten it by k − 1. Same parameters.
* **MulT's attention mask.** MMSA's config sets ``attn_mask`` (a "future" mask from MulT's language-model
  origins, ill-defined between sequences of different rates); here attention is unrestricted apart from the
  padding mask. MMSA's MulT adds no positional embeddings; neither does this one.

Every model takes a batch dict (``text``, ``audio``, ``vision`` [B, T, D] and their masks) and returns
``{"pred": [B], "fused": [B, F]}``; ``pred`` is a sentiment score (regression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ._blocks import check_mask, masked_mean

__all__ = ["LFDNNConfig", "TFNConfig", "MulTConfig", "LFDNN", "TFN", "MulT", "BASELINES", "build_baseline"]

MODALITIES = ("text", "audio", "vision")
PADDING = ("masked", "mmsa")


def _check_padding(padding: str, who: str) -> None:
    if padding not in PADDING:
        raise ValueError(f"{who}.padding must be one of {PADDING}, got {padding!r}")


# ------------------------------------------------------------------------------------------ configs
@dataclass
class _LateFusionConfig:
    """The settings LF-DNN and TFN share (their sub-networks and the MLP after fusion). ``hidden_dims`` is
    (text, audio, vision) as in MMSA; ``dropouts`` is (audio, vision, text, post-fusion)."""

    hidden_dims: tuple[int, int, int]
    text_out: int
    post_fusion_dim: int
    dropouts: tuple[float, float, float, float]
    padding: str = "masked"

    def __post_init__(self):
        _check_padding(self.padding, type(self).__name__)


@dataclass
class LFDNNConfig(_LateFusionConfig):
    """MMSA's ``lf_dnn`` settings (defaults: its MOSI values; :meth:`mosei` for MOSEI's)."""

    hidden_dims: tuple[int, int, int] = (128, 16, 128)
    text_out: int = 256
    post_fusion_dim: int = 128
    dropouts: tuple[float, float, float, float] = (0.2, 0.2, 0.2, 0.2)

    @classmethod
    def mosei(cls) -> "LFDNNConfig":
        return cls(hidden_dims=(128, 32, 128), text_out=128, post_fusion_dim=128)


@dataclass
class TFNConfig(_LateFusionConfig):
    """MMSA's ``tfn`` settings (defaults: MOSI; :meth:`mosei`)."""

    hidden_dims: tuple[int, int, int] = (128, 32, 128)
    text_out: int = 32
    post_fusion_dim: int = 64
    dropouts: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.5)

    @classmethod
    def mosei(cls) -> "TFNConfig":
        return cls(hidden_dims=(128, 16, 128), text_out=128, post_fusion_dim=16, dropouts=(0.4, 0.4, 0.4, 0.4))


@dataclass
class MulTConfig:
    """MMSA's ``mult`` settings (defaults: MOSI; :meth:`mosei`). ``d_model`` and ``n_heads`` are MMSA's
    ``dst_feature_dim_nheads``; ``kernels`` its ``conv1d_kernel_size_{l,a,v}``; ``n_layers`` its ``nlevels``
    (the self-attention transformers use ``max(n_layers, 3)``, as MMSA)."""

    d_model: int = 50
    n_heads: int = 10
    n_layers: int = 4
    kernels: tuple[int, int, int] = (5, 5, 5)
    attn_dropout: float = 0.3  # text (l) and the self-attention transformers
    attn_dropout_a: float = 0.2
    attn_dropout_v: float = 0.0
    relu_dropout: float = 0.0
    embed_dropout: float = 0.2
    res_dropout: float = 0.0
    output_dropout: float = 0.5
    text_dropout: float = 0.5
    padding: str = "masked"

    @classmethod
    def mosei(cls) -> "MulTConfig":
        return cls(d_model=30, n_heads=6, kernels=(5, 1, 3), attn_dropout=0.4, attn_dropout_a=0.0, embed_dropout=0.0,
                   text_dropout=0.3)

    def __post_init__(self):
        _check_padding(self.padding, "MulTConfig")
        if self.d_model % self.n_heads:
            raise ValueError(f"MulTConfig: d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(f"MulTConfig.kernels must be odd and positive (lengths are kept), got {self.kernels}")


# ------------------------------------------------------------------------------------------ inputs
def _inputs(model: nn.Module, batch: Mapping) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{m: (x [B, T, D] with zeroed padding, mask [B, T] with frame 0 set where m is missing)}``."""
    out = {}
    for m in MODALITIES:
        if m not in batch:
            raise KeyError(f"{type(model).__name__}: the batch has no '{m}' (keys: {sorted(k for k in batch if isinstance(k, str))})")
        x = batch[m]
        if not torch.is_tensor(x) or x.dim() != 3 or x.shape[-1] != model.input_dims[m]:
            raise ValueError(f"{type(model).__name__}: batch['{m}'] must be [B, T, {model.input_dims[m]}], got "
                             f"{tuple(getattr(x, 'shape', ()))}")
        mask = check_mask(x, batch.get(f"{m}_mask"), name=m)
        x = torch.where(mask[..., None], x.float(), x.new_zeros((), dtype=torch.float32))
        counted = mask.clone()
        counted[~mask.any(1), 0] = True  # a missing modality: one zero frame
        out[m] = (x, counted)
    return out


def _pool(x: torch.Tensor, mask: torch.Tensor, padding: str) -> torch.Tensor:
    """The utterance-level vector of audio / vision: the mean over real frames, or MMSA's over every frame."""
    return masked_mean(x, mask) if padding == "masked" else x.mean(1)


class SubNet(nn.Module):
    """MMSA's ``SubNet``: BatchNorm1d → dropout → three Linear + ReLU (audio and vision, pooled)."""

    def __init__(self, in_size: int, hidden: int, dropout: float):
        super().__init__()
        self.norm = nn.BatchNorm1d(in_size)
        self.drop = nn.Dropout(dropout)
        self.linear_1 = nn.Linear(in_size, hidden)
        self.linear_2 = nn.Linear(hidden, hidden)
        self.linear_3 = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.linear_1(self.drop(self.norm(x))))
        return F.relu(self.linear_3(F.relu(self.linear_2(y))))


class TextSubNet(nn.Module):
    """MMSA's ``TextSubNet``: a one-layer LSTM, its final hidden state, dropout, a Linear."""

    def __init__(self, in_size: int, hidden: int, out_size: int, dropout: float, padding: str):
        super().__init__()
        self.rnn = nn.LSTM(in_size, hidden, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.linear_1 = nn.Linear(hidden, out_size)
        self.padding = padding

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.padding == "masked":  # stop at the last real token
            lengths = mask.sum(1).clamp(min=1).cpu()
            x = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.rnn(x)
        return self.linear_1(self.dropout(h[-1]))


class _LateSubNets(nn.Module):
    """The three MMSA sub-networks of LF-DNN and TFN; ``forward`` returns ``(z_text, z_audio, z_vision)``."""

    def __init__(self, input_dims: Mapping[str, int], config):
        super().__init__()
        missing = [m for m in MODALITIES if m not in input_dims]
        if missing:
            raise KeyError(f"{type(self).__name__}: input_dims lacks {missing} (has {sorted(input_dims)})")
        self.input_dims = {m: int(input_dims[m]) for m in MODALITIES}
        self.config = config
        t_hidden, a_hidden, v_hidden = config.hidden_dims
        a_drop, v_drop, t_drop, _ = config.dropouts
        self.audio_subnet = SubNet(self.input_dims["audio"], a_hidden, a_drop)
        self.video_subnet = SubNet(self.input_dims["vision"], v_hidden, v_drop)
        self.text_subnet = TextSubNet(self.input_dims["text"], t_hidden, config.text_out, t_drop, config.padding)

    def _post_fusion_layers(self, fused_dim: int) -> None:
        """MMSA's MLP after fusion: dropout, Linear-ReLU, Linear-ReLU, Linear to one score."""
        self.post_fusion_dropout = nn.Dropout(self.config.dropouts[3])
        self.post_fusion_layer_1 = nn.Linear(fused_dim, self.config.post_fusion_dim)
        self.post_fusion_layer_2 = nn.Linear(self.config.post_fusion_dim, self.config.post_fusion_dim)
        self.post_fusion_layer_3 = nn.Linear(self.config.post_fusion_dim, 1)

    def _post_fusion(self, fused: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.post_fusion_layer_1(self.post_fusion_dropout(fused)))
        return self.post_fusion_layer_3(F.relu(self.post_fusion_layer_2(y))).squeeze(-1)

    def subnets(self, batch: Mapping) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inp = _inputs(self, batch)
        z_t = self.text_subnet(*inp["text"])
        z_a = self.audio_subnet(_pool(*inp["audio"], self.config.padding))
        z_v = self.video_subnet(_pool(*inp["vision"], self.config.padding))
        return z_t, z_a, z_v


class LFDNN(_LateSubNets):
    """Late-fusion DNN (MMSA's ``LF_DNN``): ``[z_a; z_v; z_t]`` → dropout → Linear-ReLU ×2 → Linear."""

    def __init__(self, input_dims: Mapping[str, int], config: LFDNNConfig | None = None):
        config = config or LFDNNConfig()
        super().__init__(input_dims, config)
        _, a_hidden, v_hidden = config.hidden_dims
        self._post_fusion_layers(config.text_out + v_hidden + a_hidden)

    def forward(self, batch: Mapping) -> dict:
        z_t, z_a, z_v = self.subnets(batch)
        fused = torch.cat([z_a, z_v, z_t], dim=-1)
        return {"pred": self._post_fusion(fused), "fused": fused}


class TFN(_LateSubNets):
    r"""Tensor Fusion Network (MMSA's ``TFN``):
    :math:`z = [1; z_a] \otimes [1; z_v] \otimes [1; z_t]` (flattened), dropout, Linear-ReLU ×2, Linear,
    then :math:`6\sigma(\cdot) - 3`, the sentiment range."""

    def __init__(self, input_dims: Mapping[str, int], config: TFNConfig | None = None):
        config = config or TFNConfig()
        super().__init__(input_dims, config)
        _, a_hidden, v_hidden = config.hidden_dims
        self._post_fusion_layers((config.text_out + 1) * (v_hidden + 1) * (a_hidden + 1))

    def forward(self, batch: Mapping) -> dict:
        z_t, z_a, z_v = self.subnets(batch)
        one = z_a.new_ones(z_a.shape[0], 1)
        a, v, t = (torch.cat([one, z], dim=1) for z in (z_a, z_v, z_t))
        fused = torch.einsum("ba,bv,bt->bavt", a, v, t).flatten(1)
        return {"pred": 6.0 * torch.sigmoid(self._post_fusion(fused)) - 3.0, "fused": fused}


# ------------------------------------------------------------------------------------------ MulT
class _MulTLayer(nn.Module):
    """MulT's pre-LN encoder layer (MMSA's ``TransformerEncoderLayer``): the queries, keys and values share the
    first LayerNorm; attention, residual; LayerNorm, Linear(d, 4d)-ReLU-Linear(4d, d), residual."""

    def __init__(self, d: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=attn_dropout)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.layer_norms = nn.ModuleList([nn.LayerNorm(d) for _ in range(2)])
        self.relu_dropout, self.res_dropout = relu_dropout, res_dropout

    def forward(self, x, x_kv=None, key_padding_mask=None):
        residual = x
        x = self.layer_norms[0](x)
        kv = x if x_kv is None else self.layer_norms[0](x_kv)
        x, _ = self.self_attn(x, kv, kv, key_padding_mask=key_padding_mask, need_weights=False)
        x = residual + F.dropout(x, self.res_dropout, self.training)
        residual = x
        x = F.dropout(F.relu(self.fc1(self.layer_norms[1](x))), self.relu_dropout, self.training)
        return residual + F.dropout(self.fc2(x), self.res_dropout, self.training)


class _MulTEncoder(nn.Module):
    """MMSA's ``TransformerEncoder`` without positions: x·√d, dropout, layers, a final LayerNorm. Sequences are
    [T, B, d] (MulT's layout); ``key_mask`` [B, T_kv] is True at real key frames."""

    def __init__(self, d: int, heads: int, layers: int, attn_dropout: float, relu_dropout: float,
                 res_dropout: float, embed_dropout: float):
        super().__init__()
        self.scale, self.embed_dropout = math.sqrt(d), embed_dropout
        self.layers = nn.ModuleList([_MulTLayer(d, heads, attn_dropout, relu_dropout, res_dropout)
                                     for _ in range(layers)])
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, x, x_kv=None, key_mask=None):
        x = F.dropout(self.scale * x, self.embed_dropout, self.training)
        if x_kv is not None:
            x_kv = F.dropout(self.scale * x_kv, self.embed_dropout, self.training)
        pad = None if key_mask is None else ~key_mask
        for layer in self.layers:
            x = layer(x, x_kv, pad)
        return self.layer_norm(x)


class MulT(nn.Module):
    """Multimodal Transformer (MMSA's ``MULT``); see the module docstring for what differs and why."""

    PAIRS = {"text": ("audio", "vision"), "audio": ("text", "vision"), "vision": ("text", "audio")}

    def __init__(self, input_dims: Mapping[str, int], config: MulTConfig | None = None):
        super().__init__()
        config = config or MulTConfig()
        missing = [m for m in MODALITIES if m not in input_dims]
        if missing:
            raise KeyError(f"MulT: input_dims lacks {missing} (has {sorted(input_dims)})")
        self.input_dims = {m: int(input_dims[m]) for m in MODALITIES}
        self.config = config
        d, short = config.d_model, {"text": "l", "audio": "a", "vision": "v"}
        self.proj = nn.ModuleDict({
            m: nn.Conv1d(self.input_dims[m], d, kernel_size=k, padding=k // 2, bias=False)
            for m, k in zip(MODALITIES, config.kernels)})
        drop = {"text": config.attn_dropout, "audio": config.attn_dropout_a, "vision": config.attn_dropout_v}

        def encoder(dim, attn_dropout, layers):
            return _MulTEncoder(dim, config.n_heads, layers, attn_dropout, config.relu_dropout, config.res_dropout,
                                config.embed_dropout)

        # trans_<target>_with_<source>: queries from the target, dropout of the *source* modality (as MMSA)
        self.cross = nn.ModuleDict({f"{short[t]}_with_{short[s]}": encoder(d, drop[s], config.n_layers)
                                    for t, sources in self.PAIRS.items() for s in sources})
        self.mem = nn.ModuleDict({short[m]: encoder(2 * d, config.attn_dropout, max(config.n_layers, 3))
                                  for m in MODALITIES})
        combined = 6 * d
        self.proj1 = nn.Linear(combined, combined)
        self.proj2 = nn.Linear(combined, combined)
        self.out_layer = nn.Linear(combined, 1)
        self._short = short

    def forward(self, batch: Mapping) -> dict:
        inp = _inputs(self, batch)
        masked = self.config.padding == "masked"
        seq, mask = {}, {}
        for m, (x, counted) in inp.items():
            if m == "text":
                x = F.dropout(x, self.config.text_dropout, self.training)
            seq[m] = self.proj[m](x.transpose(1, 2)).permute(2, 0, 1)  # [T, B, d]
            mask[m] = counted
        last = []
        for t, sources in self.PAIRS.items():
            h = torch.cat([self.cross[f"{self._short[t]}_with_{self._short[s]}"](
                seq[t], seq[s], mask[s] if masked else None) for s in sources], dim=2)
            h = self.mem[self._short[t]](h, key_mask=mask[t] if masked else None)  # [T, B, 2d]
            if masked:  # the last real frame
                idx = (mask[t].long().sum(1) - 1).clamp(min=0)
                last.append(h[idx, torch.arange(h.shape[1], device=h.device)])
            else:
                last.append(h[-1])
        fused = torch.cat(last, dim=1)
        y = self.proj2(F.dropout(F.relu(self.proj1(fused)), self.config.output_dropout, self.training)) + fused
        return {"pred": self.out_layer(y).squeeze(-1), "fused": fused}


#: name -> (model class, config class): what chapter 07 and :func:`build_baseline` know.
BASELINES = {"lf_dnn": (LFDNN, LFDNNConfig), "tfn": (TFN, TFNConfig), "mult": (MulT, MulTConfig)}


def build_baseline(name: str, input_dims: Mapping[str, int], config=None, *, mosei: bool = False) -> nn.Module:
    """``BASELINES[name]`` at ``input_dims`` with ``config``, or MMSA's MOSI settings (``mosei=True``: MOSEI's)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    cls, config_cls = BASELINES[name]
    return cls(input_dims, config or (config_cls.mosei() if mosei else config_cls()))
