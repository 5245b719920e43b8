r"""MIA, the Modality Imagination Autoencoder of SDUMC (paper §2.2; reference/sdumc.md §2.1, §2.3).

When the text is missing, the student flow sees *simulated* text (generated from the audio). MIA
"imagines" a better text representation from all three modalities and supplements the simulated
one:

.. math::
    z = W_2\,\mathrm{ReLU}(W_1 [x_a; x_t; x_v] + b_1) + b_2, \qquad
    \ell = W_e z + b_e, \qquad
    \hat x_t = W_d \ell + b_d + r

with an input :math:`[x_a; x_t; x_v] \in \mathbb{R}^{3d}`, a bottleneck :math:`\ell \in \mathbb{R}^{h}`
and a residual :math:`r`:

* ``residual="text"`` (default): :math:`r = x_t` — the official main file (``+ x_t``, line 179);
  MIA learns a *correction* of the simulated text ("supplement the simulated text");
* ``residual="fused"``: :math:`r = z` — the official 'copy' file's variant (``+ z``);
* ``residual="none"``: no skip connection (a plain autoencoder output).

Decision: the official code builds MIA but comments it out of the forward pass; the paper presents
it as part of the method. We switch it **on** (applied to the student flow only, where text is
simulated or missing) with the ``+ x_t`` residual, and the ablation ``sdumc_no_mia`` measures what
it does. With ``residual="text"`` the output layer :math:`W_d` is zero-initialised
(``zero_init_output``), so an untrained MIA is the identity on :math:`x_t` and cannot hurt at the
start of training (the official initialisation is PyTorch's default; set ``zero_init_output=False``
to compare).

The encoder and decoder are single Linears (as in the official ``ResidualAE`` with one block), so
the bottleneck is a rank-``h`` linear map. MIA works on any leading shape: utterance vectors
``[B, d]`` (MIA-1, d=256, h=128) and cross features ``[B, 7, d]`` (MIA-2, d=128, h=64).
"""

from __future__ import annotations

import torch
from torch import nn

RESIDUALS = ("text", "fused", "none")


class MIA(nn.Module):
    """Modality Imagination Autoencoder.

    Args:
        dim: feature size ``d`` of each modality's input (the three must match).
        bottleneck: latent size ``h`` (official: ``d // 2``).
        residual: ``"text"`` (``+ x_t``, default), ``"fused"`` (``+ z``) or ``"none"``.
        zero_init_output: zero the decoder so an untrained MIA returns its residual.

    ``forward(audio, text, vision) -> imagined_text`` with inputs ``[..., d]`` and the output
    shaped like ``text``.
    """

    def __init__(self, dim: int, bottleneck: int | None = None, residual: str = "text",
                 zero_init_output: bool = True):
        super().__init__()
        if residual not in RESIDUALS:
            raise ValueError(f"MIA: residual must be one of {RESIDUALS}, got {residual!r}")
        self.dim = int(dim)
        self.bottleneck = int(bottleneck) if bottleneck is not None else max(1, self.dim // 2)
        self.residual = residual
        self.fuse_in = nn.Linear(3 * self.dim, self.dim)
        self.fuse_out = nn.Linear(self.dim, self.dim)
        self.encoder = nn.Linear(self.dim, self.bottleneck)
        self.decoder = nn.Linear(self.bottleneck, self.dim)
        if zero_init_output and residual != "none":
            nn.init.zeros_(self.decoder.weight)
            nn.init.zeros_(self.decoder.bias)

    def forward(self, audio: torch.Tensor, text: torch.Tensor, vision: torch.Tensor) -> torch.Tensor:
        for name, x in (("audio", audio), ("text", text), ("vision", vision)):
            if x.shape[-1] != self.dim:
                raise ValueError(
                    f"MIA: '{name}' has feature size {x.shape[-1]} (shape {tuple(x.shape)}), expected {self.dim}"
                )
        fused = self.fuse_out(torch.relu(self.fuse_in(torch.cat([audio, text, vision], dim=-1))))  # z
        latent = self.encoder(fused)  # [..., h]
        out = self.decoder(latent)
        if self.residual == "text":
            out = out + text
        elif self.residual == "fused":
            out = out + fused
        return out

    def extra_repr(self) -> str:
        return f"dim={self.dim}, bottleneck={self.bottleneck}, residual={self.residual!r}"
