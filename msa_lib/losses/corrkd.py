r"""CorrKD's three distillation losses (Li et al., CVPR 2024, §3.2-3.4; reference/corrkd.md §2).

Notation: a mini-batch of N samples; the frozen teacher sees the complete sample :math:`S_i` and
gives the joint representation :math:`h_i^t` and class logits :math:`o_i^t`; the student sees the
corrupted copy :math:`\hat S_i` and gives :math:`h_i^s, o_i^s`; :math:`y_i` is the sentiment class;
:math:`\mathrm{sg}` stops gradients (the teacher is never updated);
:math:`\mathrm{sp}(x) = \log(1 + e^x)`.

* :func:`scd_loss` — **sample-level contrastive distillation** (§3.2): pull :math:`h_i^s` to its own
  teacher representation, push it at least a margin away from the other samples' ones.
* :func:`cpd_loss` — **category-guided prototype distillation** (§3.3): class prototypes per batch for
  teacher and student; their sample-to-prototype cosine matrices are matched.
* :class:`RCDLoss` — **response-disentangled consistency distillation** (§3.4): split the softmax
  responses into a target part and a non-target part, and maximise the teacher–student mutual
  information of each with a Jensen–Shannon estimator and a statistics network.

Also :func:`plain_kd_loss` (the ``student_plain_kd`` baseline: vanilla logit KD + feature matching)
and :func:`jsd_mutual_information` (the estimator on its own). The paper's full text was not
available; every choice below that it leaves open is written down with its reason, and the ones a
reader would want to compare are switches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .precision import float32_loss

__all__ = [
    "scd_loss",
    "cpd_loss",
    "class_prototypes",
    "prototype_similarity",
    "RCDLoss",
    "StatisticsNetwork",
    "jsd_mutual_information",
    "disentangle_responses",
    "plain_kd_loss",
    "kd_kl_loss",
]


def _check_pair(student: torch.Tensor, teacher: torch.Tensor, fn: str, what: str = "representations") -> None:
    if student.dim() != 2 or teacher.dim() != 2:
        raise ValueError(
            f"{fn}: {what} must be [N, D]; got student {tuple(student.shape)} and teacher {tuple(teacher.shape)}"
        )
    if student.shape != teacher.shape:
        raise ValueError(
            f"{fn}: student {what} {tuple(student.shape)} and teacher {what} {tuple(teacher.shape)} differ in shape"
        )


def _zero_like_graph(x: torch.Tensor) -> torch.Tensor:
    """A zero scalar connected to x's graph (so ``backward()`` works and gives zero gradients)."""
    return x.sum() * 0.0


# ----------------------------------------------------------------------------------------------
# SCD
# ----------------------------------------------------------------------------------------------
@float32_loss
def scd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    margin: float = 1.0,
    *,
    normalize: bool = True,
    reduction: str = "separate",
) -> torch.Tensor:
    r"""Sample-level contrastive distillation (CorrKD §3.2; reference/corrkd.md §2.1).

    With :math:`D_{ij} = \lVert h_i^s - \mathrm{sg}(h_j^t) \rVert_2`:

    .. math::

        \mathcal L_{SCD} = \frac{1}{N}\sum_i D_{ii}^2
            + \frac{1}{N(N-1)}\sum_{i \neq j} \max(0, \eta - D_{ij})^2

    the student representation of sample *i* is pulled to the teacher's representation of the same
    sample and pushed at least :math:`\eta` away from the teacher's representations of the other
    samples (a Hadsell-style margin contrastive loss, as ``coderzhd/SpaKD``'s ``scd_loss``).

    Decisions (the paper gives the idea, not the formula):

    * ``normalize=True`` (default): L2-normalise both sides first, so distances lie in [0, 2] and the
      margin has a fixed scale whatever the embedding size (decision 4). ``False``: raw distances,
      as the paper apparently used; the margin must then be tuned to the embedding scale.
    * ``reduction="separate"`` (default): positives averaged over N, negatives over the N(N-1)
      pairs, so neither term grows with the batch size. ``"joint"``: both summed and divided by
      :math:`N^2` (the other plausible reading).
    * For N = 1 there is no negative pair; the loss is the positive term alone.

    Args:
        student: :math:`h^s` [N, D] (receives gradients).
        teacher: :math:`h^t` [N, D] (detached here).
        margin: :math:`\eta` > 0 (default 1.0; tune in {0.5, 1, 2}).

    Returns:
        A scalar tensor.
    """
    _check_pair(student, teacher, "scd_loss")
    if margin <= 0:
        raise ValueError(f"scd_loss: margin must be > 0, got {margin}")
    if reduction not in ("separate", "joint"):
        raise ValueError(f"scd_loss: reduction must be 'separate' or 'joint', got {reduction!r}")
    s, t = student, teacher.detach()
    if normalize:
        s, t = F.normalize(s, dim=-1), F.normalize(t, dim=-1)
    n = s.shape[0]
    # positives from the differences themselves (exact); all N^2 squared distances by the expansion
    # |s_i|^2 + |t_j|^2 - 2 s_i.t_j (one matrix product instead of an [N, N, D] tensor), clamped at 0
    # against round-off; the epsilon keeps sqrt's gradient finite at D = 0.
    positive = (s - t).pow(2).sum(-1)
    d2 = (s.pow(2).sum(-1)[:, None] + t.pow(2).sum(-1)[None, :] - 2.0 * (s @ t.T)).clamp(min=0.0)
    off = ~torch.eye(n, dtype=torch.bool, device=s.device)
    dist = torch.sqrt(d2[off] + 1e-12)
    negative = F.relu(margin - dist).pow(2)
    if reduction == "joint":
        return (positive.sum() + negative.sum()) / (n * n)
    loss = positive.mean()
    if n > 1:
        loss = loss + negative.mean()
    return loss


# ----------------------------------------------------------------------------------------------
# CPD
# ----------------------------------------------------------------------------------------------
def class_prototypes(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Class prototypes of a batch: :math:`c_k = \frac{1}{|\{i: y_i = k\}|}\sum_{i: y_i = k} h_i`.

    Only the classes present in the batch get a prototype.

    Args:
        features: [N, D]; labels: long [N].
    Returns:
        ``(prototypes [K', D], classes [K'])`` with the present classes in increasing order.
    """
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"class_prototypes: labels must be [N] with N = {features.shape[0]}, got {tuple(labels.shape)}"
        )
    if labels.is_floating_point():
        raise TypeError("class_prototypes: labels must be integer class ids (see msa_lib.models.corrkd.sentiment_classes)")
    classes, index = torch.unique(labels, sorted=True, return_inverse=True)
    one_hot = F.one_hot(index, classes.shape[0]).to(features.dtype)  # [N, K']
    prototypes = (one_hot.T @ features) / one_hot.sum(0)[:, None]
    return prototypes, classes


def prototype_similarity(features: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    r"""Sample-to-prototype cosine matrix :math:`M_{ik} = \cos(h_i, c_k)`, [N, K']."""
    return F.normalize(features, dim=-1) @ F.normalize(prototypes, dim=-1).T


@float32_loss
def cpd_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    *,
    prototypes: str = "own",
    min_classes: int = 2,
    return_matrices: bool = False,
):
    r"""Category-guided prototype distillation (CorrKD §3.3; reference/corrkd.md §2.2).

    For each network :math:`w \in \{t, s\}` and each class *k* present in the batch (K' of them):

    .. math::

        c_k^w = \operatorname{mean}_{i: y_i = k} h_i^w, \qquad
        M^w_{ik} = \cos(h_i^w, c_k^w), \qquad
        \mathcal L_{CPD} = \frac{1}{N K'} \sum_i \sum_k (M^t_{ik} - M^s_{ik})^2

    The student learns to place every sample relative to the *categories* the way the teacher does
    (a correlation between samples and classes), not to copy the teacher's coordinates.

    Decisions:

    * **Absent classes are skipped** (the sum runs over the K' classes present; the paper does not
      discuss them): a batch of 16 MOSEI samples rarely holds all 7 classes, and a prototype of no
      sample is undefined.
    * **K' < ``min_classes``** (default 2) → the loss is 0: with one class every sample is compared
      with one prototype, and the matrices carry no *between-class* structure.
    * ``prototypes="own"`` (default; the review and SpaKD): each network uses its own prototypes;
      the student's prototypes are *not* detached, so the gradient also moves them.
      ``"teacher"``: the student's samples are compared with the teacher's prototypes instead.
    * The teacher side is detached (the teacher is frozen).
    * ``labels`` are the ground-truth classes (:func:`msa_lib.models.corrkd.sentiment_classes`).

    Args:
        student, teacher: :math:`h^s, h^t` [N, D].
        labels: long [N] class ids.
        return_matrices: also return ``(M^s, M^t, classes)`` for plots.

    Returns:
        A scalar tensor, or ``(loss, M_student, M_teacher, classes)`` with ``return_matrices``.
    """
    _check_pair(student, teacher, "cpd_loss")
    if prototypes not in ("own", "teacher"):
        raise ValueError(f"cpd_loss: prototypes must be 'own' or 'teacher', got {prototypes!r}")
    labels = labels.reshape(-1)
    t = teacher.detach()
    proto_t, classes = class_prototypes(t, labels)
    proto_s = class_prototypes(student, labels)[0] if prototypes == "own" else proto_t
    m_t = prototype_similarity(t, proto_t)
    m_s = prototype_similarity(student, proto_s)
    if classes.shape[0] < min_classes:
        loss = _zero_like_graph(student)
    else:
        loss = (m_t - m_s).pow(2).mean()
    if return_matrices:
        return loss, m_s, m_t, classes
    return loss


# ----------------------------------------------------------------------------------------------
# RCD
# ----------------------------------------------------------------------------------------------
def disentangle_responses(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Split a softmax response into its target and non-target parts (DKD-style; §3.4).

    With :math:`p = \mathrm{softmax}(o / \tau)` and target class *y*:

    * target part :math:`b = [p_y,\; 1 - p_y]` — how sure the network is of the right class;
    * non-target part :math:`\hat p = \mathrm{softmax}(o_{\setminus y} / \tau)` over the C-1 other
      classes — how it ranks the wrong classes ("dark knowledge"), renormalised so that it does not
      depend on :math:`p_y`.

    The target logit is removed exactly (a gather of the C-1 others) rather than masked with
    :math:`-10^3`, so :math:`\hat p` has exactly C-1 entries.

    Args:
        logits: [N, C]; labels: long [N] in [0, C).
    Returns:
        ``(b [N, 2], p_hat [N, C-1])``.
    """
    if logits.dim() != 2:
        raise ValueError(f"disentangle_responses: logits must be [N, C], got {tuple(logits.shape)}")
    n, c = logits.shape
    labels = labels.reshape(-1)
    if labels.shape[0] != n:
        raise ValueError(f"disentangle_responses: {labels.shape[0]} labels for {n} rows of logits")
    if c < 2:
        raise ValueError("disentangle_responses: needs at least 2 classes")
    if labels.min() < 0 or labels.max() >= c:
        raise ValueError(f"disentangle_responses: labels must lie in [0, {c}), got [{int(labels.min())}, {int(labels.max())}]")
    z = logits.float() / temperature
    p = torch.softmax(z, dim=-1)
    p_target = p.gather(1, labels[:, None])
    target = torch.cat([p_target, 1.0 - p_target], dim=1)
    keep = ~F.one_hot(labels, c).bool()
    non_target = torch.softmax(z[keep].view(n, c - 1), dim=-1)
    return target, non_target


class StatisticsNetwork(nn.Module):
    r"""The critic :math:`T_\theta(x, y)` of a mutual-information bound: an MLP on :math:`[x; y]` → scalar.

    ``T(x [..., Dx], y [..., Dy]) -> [...]``; one hidden ReLU layer (decision 6: hidden 128).
    """

    def __init__(self, x_dim: int, y_dim: int, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(x_dim + y_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], dim=-1)).squeeze(-1)

    def pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        r"""All scores :math:`T(x_i, y_j)` as an [N, M] matrix, for x [N, Dx] and y [M, Dy].

        Same values as ``forward`` on every pair, but the first layer is split,
        :math:`W[x; y] + b = (W_x x + b) + W_y y`, so it runs on N + M rows instead of N·M
        (the N² negatives of :class:`RCDLoss` then cost one broadcast add, a ReLU and a dot product).
        """
        first, act, last = self.net[0], self.net[1], self.net[2]
        dx = x.shape[-1]
        a = x @ first.weight[:, :dx].T + first.bias  # [N, H]
        b = y @ first.weight[:, dx:].T  # [M, H]
        hidden = act(a[:, None, :] + b[None, :, :])  # [N, M, H]
        return (hidden @ last.weight[0]) + last.bias[0]


def jsd_mutual_information(joint_scores: torch.Tensor, marginal_scores: torch.Tensor) -> torch.Tensor:
    r"""The Jensen–Shannon mutual-information lower bound (Deep InfoMax; HRLF Eq. 5-8).

    .. math::

        \widehat{MI}_{JSD}(X; Y) = \mathbb E_{p(x, y)}[-\mathrm{sp}(-T_\theta(x, y))]
            - \mathbb E_{p(x)p(y)}[\mathrm{sp}(T_\theta(x, \tilde y))]

    Args:
        joint_scores: :math:`T_\theta` on matched pairs (any shape).
        marginal_scores: :math:`T_\theta` on mismatched pairs (any shape).
    Returns:
        A scalar, never above 0. With the optimal critic it equals
        :math:`2\,\mathrm{JSD}(p(x, y) \Vert p(x)p(y)) - 2\log 2`: :math:`-2\log 2` when X and Y are
        independent (also what a critic that outputs 0 everywhere gives), rising towards 0 as the
        joint and the product of marginals become separable (strong dependence).
    """
    return (-F.softplus(-joint_scores)).mean() - F.softplus(marginal_scores).mean()


class RCDLoss(nn.Module):
    r"""Response-disentangled consistency distillation (CorrKD §3.4; reference/corrkd.md §2.3).

    .. math::

        \mathcal L_{RCD} = -\left[\alpha\, \widehat{MI}_{JSD}(b^t, b^s)
                                  + \beta\, \widehat{MI}_{JSD}(\hat p^t, \hat p^s)\right]

    with :math:`b, \hat p` from :func:`disentangle_responses` and one statistics network
    :math:`T_\theta` per response part (:class:`StatisticsNetwork`). Minimising the loss trains the
    critics (tightening the bound) and the student (raising the mutual information with the
    teacher's responses) at once — **the critics' parameters must be given to the optimizer**.
    The teacher's responses are detached.

    Decisions (the estimator's architecture and sampling are not given):

    * critics: MLP on the concatenation, one hidden layer of ``hidden=128`` (decision 6);
    * ``negatives="all"`` (default): the marginal term averages :math:`T(x_i, y_j)` over all
      N(N-1) pairs i ≠ j — deterministic and lower-variance than one shuffle, and cheap (N ≤ 128).
      ``"shift"``: one random cyclic shift of the student responses (a derangement, so a sample is
      never its own negative), the classic Deep InfoMax sampling;
    * ``temperature`` :math:`\tau` = 1 (not recoverable from the sources; try 1, 2, 4);
    * ``alpha = beta = 1`` (no weights reported);
    * ``mode="kl"`` replaces the whole term by vanilla KD, :math:`\tau^2 \mathrm{KL}(p^t \Vert p^s)` —
      the paper's "w/o RCD" ablation ("RCD → KL");
    * a batch of one sample has no negative pair: the loss is 0.

    Args:
        num_classes: C, the number of classes of the logits.
    Call:
        ``loss = rcd(student_logits [N, C], teacher_logits [N, C], labels long [N])``;
        ``rcd.last_logs`` holds ``mi_target`` and ``mi_non_target`` (floats) after each call.
    """

    def __init__(
        self,
        num_classes: int = 7,
        hidden: int = 128,
        temperature: float = 1.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        negatives: str = "all",
        mode: str = "mi",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"RCDLoss: num_classes must be >= 2, got {num_classes}")
        if negatives not in ("all", "shift"):
            raise ValueError(f"RCDLoss: negatives must be 'all' or 'shift', got {negatives!r}")
        if mode not in ("mi", "kl"):
            raise ValueError(f"RCDLoss: mode must be 'mi' or 'kl', got {mode!r}")
        if temperature <= 0:
            raise ValueError(f"RCDLoss: temperature must be > 0, got {temperature}")
        self.num_classes = int(num_classes)
        self.temperature = float(temperature)
        self.alpha, self.beta = float(alpha), float(beta)
        self.negatives, self.mode = negatives, mode
        self.generator = generator
        self.target_critic = StatisticsNetwork(2, 2, hidden)
        # with 2 classes the non-target part is a constant (a single class of probability 1)
        self.non_target_critic = (
            StatisticsNetwork(num_classes - 1, num_classes - 1, hidden) if num_classes > 2 else None
        )
        self.last_logs: dict[str, float] = {}

    def mutual_information(self, critic: StatisticsNetwork, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """:func:`jsd_mutual_information` of teacher responses x [N, k] and student responses y [N, k]."""
        n = x.shape[0]
        if self.negatives == "all":
            scores = critic.pairwise(x, y)  # [N, N], entry (i, j) = T(x_i, y_j)
            joint = torch.diagonal(scores)
            marginal = scores[~torch.eye(n, dtype=torch.bool, device=x.device)]
        else:
            joint = critic(x, y)
            gen_device = self.generator.device if self.generator is not None else torch.device("cpu")
            shift = int(torch.randint(1, n, (1,), generator=self.generator, device=gen_device))
            marginal = critic(x, torch.roll(y, shifts=shift, dims=0))
        return jsd_mutual_information(joint, marginal)

    @float32_loss
    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check_pair(student_logits, teacher_logits, "RCDLoss", what="logits")
        if student_logits.shape[1] != self.num_classes:
            raise ValueError(
                f"RCDLoss: logits have {student_logits.shape[1]} classes, the loss was built for {self.num_classes}"
            )
        teacher_logits = teacher_logits.detach()
        labels = labels.reshape(-1)
        if self.mode == "kl":
            loss = kd_kl_loss(student_logits, teacher_logits, self.temperature)
            self.last_logs = {"kd_kl": float(loss.detach())}
            return loss
        n = student_logits.shape[0]
        if n < 2:
            self.last_logs = {"mi_target": 0.0, "mi_non_target": 0.0}
            return _zero_like_graph(student_logits)
        b_s, p_s = disentangle_responses(student_logits, labels, self.temperature)
        b_t, p_t = disentangle_responses(teacher_logits, labels, self.temperature)
        mi_target = self.mutual_information(self.target_critic, b_t, b_s)
        loss = -self.alpha * mi_target
        logs = {"mi_target": float(mi_target.detach())}
        if self.non_target_critic is not None:
            mi_non_target = self.mutual_information(self.non_target_critic, p_t, p_s)
            loss = loss - self.beta * mi_non_target
            logs["mi_non_target"] = float(mi_non_target.detach())
        self.last_logs = logs
        return loss


# ----------------------------------------------------------------------------------------------
# plain KD (baseline)
# ----------------------------------------------------------------------------------------------
def kd_kl_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    r"""Vanilla logit distillation (Hinton et al. 2015):
    :math:`\tau^2\, \mathrm{KL}(\mathrm{softmax}(o^t/\tau) \,\Vert\, \mathrm{softmax}(o^s/\tau))`, batch mean."""
    _check_pair(student_logits, teacher_logits, "kd_kl_loss", what="logits")
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.detach().float() / temperature, dim=-1)
    return F.kl_div(log_p_s, log_p_t, log_target=True, reduction="batchmean") * temperature**2


def plain_kd_loss(
    student: dict,
    teacher: dict,
    *,
    temperature: float = 1.0,
    logit_weight: float = 1.0,
    feature_weight: float = 1.0,
    regression_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    r"""The ``student_plain_kd`` baseline: distillation without CorrKD's correlation terms.

    .. math::

        \mathcal L = w_o\,\tau^2 \mathrm{KL}(p^t \Vert p^s) + w_h \lVert h^s - \mathrm{sg}(h^t)\rVert_2^2 / D
            + w_r\, |\hat y^s - \mathrm{sg}(\hat y^t)|

    Logit KD on the class head, feature matching (mean squared error) on the joint representation,
    and matching of the regression output — every kind of information CorrKD's terms use, but each
    sample on its own (no sample-sample or sample-class correlation).

    Args:
        student, teacher: outputs of :class:`~msa_lib.models.CorrKDNet` (``logits``, ``joint``, ``pred``).
    Returns:
        ``(loss, logs)``.
    """
    kl = kd_kl_loss(student["logits"], teacher["logits"], temperature)
    feat = F.mse_loss(student["joint"], teacher["joint"].detach())
    reg = F.l1_loss(student["pred"], teacher["pred"].detach())
    loss = logit_weight * kl + feature_weight * feat + regression_weight * reg
    return loss, {"kd_kl": float(kl.detach()), "kd_feature": float(feat.detach()), "kd_pred": float(reg.detach())}
