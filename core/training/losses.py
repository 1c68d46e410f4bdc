"""Losses of MAGE-Net training (MAGE-NET.md sections 2 and 3), all inside the field of view.

Supervised: per stage, Charbonnier(output, target) + edge_weight x Charbonnier of
the Laplacian edge maps; structure head: BCE against the vessel map.
Consistency (teacher-student): final image, stage images and structure map of the
student against the teacher, each switchable and weighted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from core.models.structured import CONTRAST_SIGMA, MaskedBlur

_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` (B,C,H,W) over pixels where mask (B,1,H,W) > 0 (weighted by the mask)."""
    m = mask.expand_as(values)
    return (values * m).sum() / m.sum().clamp_min(1.0)


def charbonnier(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, eps: float = 1e-3) -> torch.Tensor:
    """sqrt((x-y)^2 + eps^2): an L1 that is smooth at 0, robust to the outliers of degraded pixels."""
    v = torch.sqrt((x - y) ** 2 + eps * eps)
    return v.mean() if mask is None else masked_mean(v, mask)


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """Per-channel 3x3 Laplacian (replicate padding): the edge map vessels show up in."""
    c = x.shape[1]
    k = _LAPLACIAN.to(x.device, x.dtype).expand(c, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=c)


def downsample_to(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Target at a stage's resolution: the same average pooling the network applies to its input."""
    h, w = x.shape[-2:]
    th, tw = int(size[0]), int(size[1])
    if (h, w) == (th, tw):
        return x
    f = h // th if th else 1
    if f >= 1 and h == th * f and w == tw * f:
        return F.avg_pool2d(x, f)
    return F.adaptive_avg_pool2d(x, (th, tw))


def stage_mask(fov: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """FOV at a stage's resolution: pixels that are at least half inside."""
    return (downsample_to(fov, size) > 0.5).to(fov.dtype)


def image_loss(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, edge_weight: float) -> torch.Tensor:
    """Charbonnier + edge_weight x Laplacian-edge Charbonnier inside `mask`."""
    o, t = out * mask, target * mask
    loss = charbonnier(o, t, mask)
    if edge_weight:
        # Edges of masked images: the FOV rim is identical in both, so it cancels.
        loss = loss + edge_weight * charbonnier(laplacian(o), laplacian(t), mask)
    return loss


def affine_fitted(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`out` after the per-sample, per-channel gain and offset that best fits it to `target` in `mask`
    (least squares; differentiable), as core.imaging.measures.structure_psnr scores it."""
    m = mask.expand_as(out)
    n = m.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mo = (out * m).sum(dim=(2, 3), keepdim=True) / n
    mt = (target * m).sum(dim=(2, 3), keepdim=True) / n
    cov = ((out - mo) * (target - mt) * m).sum(dim=(2, 3), keepdim=True) / n
    var = ((out - mo) ** 2 * m).sum(dim=(2, 3), keepdim=True) / n
    gain = cov / var.clamp_min(1e-6)
    return gain * (out - mo) + mt


_BAND_SIGMAS = (0.015 * 512 / 4, 0.06 * 512 / 4)
_blurs: dict[tuple[float, str, str], torch.nn.Module] = {}


def _masked_blur(x: torch.Tensor, mask: torch.Tensor, sigma: float) -> torch.Tensor:
    key = (sigma, str(x.device), str(x.dtype))
    if key not in _blurs:
        _blurs[key] = MaskedBlur(sigma).to(device=x.device, dtype=x.dtype)
    return _blurs[key](x, mask)


def bandpass_loss(out: torch.Tensor, target: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """Charbonnier of the anatomy-scale band (difference of masked Gaussians at 1/4 resolution)."""
    o4, t4 = F.avg_pool2d(out, 4), F.avg_pool2d(target, 4)
    m4 = (F.avg_pool2d(fov, 4) > 0.5).to(out.dtype)
    lo, hi = _BAND_SIGMAS

    def band(x: torch.Tensor) -> torch.Tensor:
        return _masked_blur(x, m4, lo) - _masked_blur(x, m4, hi)

    return charbonnier(band(o4) * m4, band(t4) * m4, m4)


LOCAL_CONTRAST_FLOOR = 0.02
"""Added to the local mean before dividing: a near-black region's contrast is not blown up."""


def local_contrast(x: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """Weber local contrast (x - blur(x)) / (blur(x) + floor), blur at the detail stage's 6 px scale.

    It sees the vessels and small lesions and none of the exposure: a per-channel gain leaves it
    unchanged, so the fields' colour errors cannot be paid for by the detail stage."""
    low = _masked_blur(x, fov, CONTRAST_SIGMA)
    return (x - low) / (low + LOCAL_CONTRAST_FLOOR) * fov


def local_contrast_loss(out: torch.Tensor, target: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """Charbonnier of the output's local contrast against the clean target's.

    Why: the image loss is dominated by exposure and colour, and its gradient on the detail gains
    was noise; the shipped 2.0.0 ended with a contrast-band gain of 0.01 on blurred photos (the
    vessels were not sharpened at all). This term asks for the target's vessel contrast directly."""
    return charbonnier(local_contrast(out, fov), local_contrast(target, fov), fov)


def structure_bce(logits: torch.Tensor, target: torch.Tensor, fov: torch.Tensor, has_label: torch.Tensor) -> torch.Tensor:
    """BCE of the structure head inside the FOV, only for samples that have a vessel label.

    Returns 0 (still attached to the graph) when no sample in the batch has a label.
    """
    weight = fov * has_label.view(-1, 1, 1, 1).to(fov.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (bce * weight).sum() / weight.sum().clamp_min(1.0)


@dataclass
class LossWeights:
    """Weights of every term; a weight of 0 switches the term off."""

    stages: tuple[float, float, float] = (0.5, 0.5, 1.0)
    """Supervised image loss of stage 1 (1/4), stage 2 (1/2), stage 3 (final)."""
    edge: float = 0.05
    structure: float = 0.1
    consistency_image: float = 1.0
    consistency_stages: tuple[float, float] = (0.5, 0.5)
    consistency_structure: float = 0.1
    consistency_equivariance: float = 0.0
    """Photometric equivariance: the student's output, after the per-channel gain and offset that fits
    it best to the teacher's, agrees with the teacher's. The student sees a brighter, darker or
    differently contrasted copy, and exposure is not recoverable from a photo, so only what the
    shift cannot explain is penalised (cons_image asks for the same exposure too)."""
    consistency_local_contrast: float = 0.0
    """Structure consistency: the Weber local contrast (the vessels and dots) of student and teacher
    outputs agree. The student's copy may be blurred, so this asks the detail stage to sharpen real
    photos back to what the teacher makes of the sharp copy."""
    consistency_field_shape: float = 0.0
    """Field consistency: the shape of log G (minus its per-channel mean in the FOV) agrees. The mean
    is left out because the student must answer a global exposure shift with another mean gain."""
    photometric_plain: float = 1.0
    """Weight of the plain image loss on photometric pairs (exposure is not recoverable from a photo,
    so a structured run keeps it weak, e.g. 0.2, and relies on `structure_fit`)."""
    structure_fit: float = 0.0
    """Photometric pairs: Charbonnier of the output after the best per-channel gain and offset fit."""
    bandpass: float = 0.0
    """Anatomy-scale term: Charbonnier of the band-pass (DoG at 1.5 % and 6 % of a 512 px FOV, at 1/4
    resolution) of output and target, so the macula, the disc and lesions weigh more."""
    vessel: float = 0.0
    """Vessel-aware term on the synthetic batch: BCE of a frozen third vessel network on the output
    (core.training.vessel_loss; the trainer needs TrainConfig.vessel_loss_net)."""
    local_contrast: float = 0.0
    """Vessel-scale term: Charbonnier of the Weber local contrast (6 px scale) of output and target."""
    blob: float = 0.0
    """Lesion-like dots on the synthetic batch: core.training.blob_loss.new_blob_loss of the output
    against the clean target (a dot the target has may be restored; one it lacks may not be made)."""
    blob_real: float = 0.0
    """The same on real low-quality patches against the input itself (reference = what was shot). In a
    supervised run this loads the real photos and adds a batch of `data.real_batch` of them."""

    @classmethod
    def from_dict(cls, d: dict) -> "LossWeights":
        d = dict(d)
        for k in ("stages", "consistency_stages"):
            if k in d:
                d[k] = tuple(float(v) for v in d[k])
        return cls(**d)


@dataclass
class LossResult:
    total: torch.Tensor
    parts: dict[str, float] = field(default_factory=dict)


def supervised_loss(
    out,
    clean: torch.Tensor,
    fov: torch.Tensor,
    vessels: torch.Tensor,
    has_vessels: torch.Tensor,
    w: LossWeights,
    photometric: torch.Tensor | None = None,
) -> LossResult:
    """Per-stage image losses against the clean target plus the structure BCE.

    `photometric` (B,) marks photometric pairs: their plain loss is weighted by `photometric_plain`
    and they add `structure_fit`; `bandpass` applies to every pair (after the fit on photometric ones)."""
    total = clean.new_zeros(())
    parts: dict[str, float] = {}
    sample_w = None
    if photometric is not None and w.photometric_plain != 1.0:
        p = photometric.to(fov.dtype).view(-1, 1, 1, 1)
        sample_w = 1.0 - p + p * w.photometric_plain
    for i, (img, sw) in enumerate(zip(out.stages, w.stages)):
        if not sw:
            continue
        size = img.shape[-2:]
        m = stage_mask(fov, size)
        li = image_loss(img, downsample_to(clean, size), m if sample_w is None else m * sample_w, w.edge)
        total = total + sw * li
        parts[f"stage{i + 1}"] = float(li.detach())
    final = out.image
    if photometric is not None and (w.structure_fit or w.bandpass):
        p = photometric.to(fov.dtype).view(-1, 1, 1, 1)
        fitted = affine_fitted(final, clean, fov)
        if w.structure_fit and float(p.sum()) > 0:
            lf = charbonnier(fitted * fov, clean * fov, fov * p)
            total = total + w.structure_fit * lf
            parts["structure_fit"] = float(lf.detach())
        final = p * fitted + (1.0 - p) * final
    if w.bandpass:
        lb = bandpass_loss(final, clean, fov)
        total = total + w.bandpass * lb
        parts["bandpass"] = float(lb.detach())
    if w.local_contrast:
        lc = local_contrast_loss(out.image, clean, fov)
        total = total + w.local_contrast * lc
        parts["local_contrast"] = float(lc.detach())
    if w.structure:
        ls = structure_bce(out.structure_logits, vessels, fov, has_vessels)
        total = total + w.structure * ls
        parts["structure"] = float(ls.detach())
    parts["supervised"] = float(total.detach())
    return LossResult(total, parts)


def consistency_loss(student, teacher, fov: torch.Tensor, w: LossWeights) -> LossResult:
    """Student vs (detached) teacher: final image, stage images, structure probabilities, and (issue 17's
    multiple consistencies) the image up to a per-channel affine shift, its local contrast, G's shape."""
    total = fov.new_zeros(())
    parts: dict[str, float] = {}
    t_img = teacher.image.detach()
    if w.consistency_image:
        li = charbonnier(student.image * fov, t_img * fov, fov)
        total = total + w.consistency_image * li
        parts["cons_image"] = float(li.detach())
    for i, sw in enumerate(w.consistency_stages):
        if not sw:
            continue
        s, t = student.stages[i], teacher.stages[i].detach()
        m = stage_mask(fov, s.shape[-2:])
        ls = charbonnier(s * m, t * m, m)
        total = total + sw * ls
        parts[f"cons_stage{i + 1}"] = float(ls.detach())
    if w.consistency_structure:
        ps = torch.sigmoid(student.structure_logits)
        pt = torch.sigmoid(teacher.structure_logits.detach())
        lv = masked_mean((ps - pt) ** 2, fov)
        total = total + w.consistency_structure * lv
        parts["cons_structure"] = float(lv.detach())
    if w.consistency_equivariance:
        le = charbonnier(affine_fitted(student.image, t_img, fov) * fov, t_img * fov, fov)
        total = total + w.consistency_equivariance * le
        parts["cons_equivariance"] = float(le.detach())
    if w.consistency_local_contrast:
        lc = local_contrast_loss(student.image, t_img, fov)
        total = total + w.consistency_local_contrast * lc
        parts["cons_local_contrast"] = float(lc.detach())
    if w.consistency_field_shape:
        if student.fields is None or teacher.fields is None:
            raise ValueError("consistency_field_shape needs the structured output form (it compares G)")
        lf = charbonnier(_log_gain_shape(student.fields.gain, fov), _log_gain_shape(teacher.fields.gain.detach(), fov), fov)
        total = total + w.consistency_field_shape * lf
        parts["cons_field_shape"] = float(lf.detach())
    parts["consistency"] = float(total.detach())
    return LossResult(total, parts)


def _log_gain_shape(gain: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """log G minus its per-channel mean inside the FOV, masked: the field's shape without its exposure."""
    lg = torch.log(gain.clamp_min(1e-6))
    m = fov.expand_as(lg)
    mean = (lg * m).sum(dim=(2, 3), keepdim=True) / m.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    return (lg - mean) * fov


def ramp_weight(step: int, total_steps: int, ramp_fraction: float) -> float:
    """exp(-5 (1 - t/T)^2) over the first `ramp_fraction` of training, then 1."""
    ramp = max(1.0, ramp_fraction * total_steps)
    t = min(1.0, step / ramp)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


def ema_decay(step: int, max_decay: float = 0.999) -> float:
    """Teacher EMA decay min(1 - 1/(step+1), max_decay): a plain average early, then slow."""
    return min(1.0 - 1.0 / (step + 1), max_decay)
