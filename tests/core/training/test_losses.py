import math

import pytest
import torch

from core.models.magenet import MageNetOutput
from core.training.losses import (
    LossWeights,
    charbonnier,
    consistency_loss,
    ema_decay,
    image_loss,
    laplacian,
    masked_mean,
    ramp_weight,
    structure_bce,
    supervised_loss,
)


def test_charbonnier_known_values():
    x = torch.zeros(1, 1, 2, 2)
    assert charbonnier(x, x, eps=1e-3).item() == pytest.approx(1e-3)
    y = torch.full((1, 1, 2, 2), 0.75)
    assert charbonnier(x, y, eps=1e-3).item() == pytest.approx(math.sqrt(0.75**2 + 1e-6), rel=1e-6)


def test_masked_mean_ignores_outside():
    v = torch.tensor([[[[1.0, 100.0]]]])
    m = torch.tensor([[[[1.0, 0.0]]]])
    assert masked_mean(v, m).item() == pytest.approx(1.0)
    # the loss does not see a huge error outside the FOV
    x, y = torch.zeros(1, 3, 1, 2), torch.tensor([[[[0.0, 50.0]]] * 3]).view(1, 3, 1, 2)
    assert charbonnier(x, y, m).item() == pytest.approx(1e-3, rel=1e-3)


def test_laplacian_constant_and_delta():
    assert laplacian(torch.full((1, 3, 5, 5), 0.3)).abs().max().item() < 1e-6
    d = torch.zeros(1, 1, 5, 5)
    d[0, 0, 2, 2] = 1.0
    lap = laplacian(d)[0, 0]
    assert lap[2, 2].item() == -4.0 and lap[1, 2].item() == 1.0 and lap[2, 1].item() == 1.0 and lap[0, 0].item() == 0.0


def test_image_loss_adds_weighted_edges():
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = x + 0.1
    m = torch.ones(1, 1, 8, 8)
    plain = image_loss(x, y, m, edge_weight=0.0)
    with_edges = image_loss(x, y, m, edge_weight=0.05)
    # a constant offset has no edges except at the replicate border: edge term is ~eps
    assert plain.item() == pytest.approx(math.sqrt(0.01 + 1e-6), rel=1e-4)
    assert with_edges.item() == pytest.approx(plain.item() + 0.05 * 1e-3, rel=1e-3)


def test_structure_bce_only_labelled_samples():
    logits = torch.zeros(2, 1, 4, 4, requires_grad=True)
    target = torch.ones(2, 1, 4, 4)
    fov = torch.ones(2, 1, 4, 4)
    assert structure_bce(logits, target, fov, torch.tensor([1.0, 0.0])).item() == pytest.approx(math.log(2), rel=1e-5)
    none = structure_bce(logits, target, fov, torch.tensor([0.0, 0.0]))
    assert none.item() == 0.0
    none.backward()  # still part of the graph (DDP needs every parameter used)


def test_ramp_and_ema_decay():
    assert ramp_weight(0, 100, 0.25) == pytest.approx(math.exp(-5))
    assert ramp_weight(25, 100, 0.25) == pytest.approx(1.0)
    assert ramp_weight(90, 100, 0.25) == 1.0
    assert 0 < ramp_weight(10, 100, 0.25) < 1
    assert ema_decay(0) == 0.0 and ema_decay(1) == pytest.approx(0.5)
    assert ema_decay(10_000) == 0.999


def _out(img, s1, s2, logits):
    return MageNetOutput(img, [s1, s2, img], logits)


def test_supervised_and_consistency_terms():
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(2, 3, 16, 16, generator=g)
    fov = torch.ones(2, 1, 16, 16)
    s1 = torch.nn.functional.avg_pool2d(clean, 4).requires_grad_()
    s2 = torch.nn.functional.avg_pool2d(clean, 2).requires_grad_()
    img = clean.clone().requires_grad_()
    logits = torch.zeros(2, 1, 16, 16, requires_grad=True)
    out = _out(img, s1, s2, logits)
    w = LossWeights()
    sup = supervised_loss(out, clean, fov, torch.zeros(2, 1, 16, 16), torch.ones(2), w)
    # perfect images: only eps-level image terms plus the structure BCE of logit 0 (log 2)
    expected = sum(w.stages) * 1e-3 * (1 + w.edge) + w.structure * math.log(2)
    assert sup.total.item() == pytest.approx(expected, rel=1e-3)
    sup.total.backward()
    assert s1.grad is not None and img.grad is not None and logits.grad is not None

    cons = consistency_loss(out, out, fov, w)
    assert set(cons.parts) >= {"cons_image", "cons_stage1", "cons_stage2", "cons_structure"}
    assert cons.total.item() < 1e-2
    off = consistency_loss(out, out, fov, LossWeights(consistency_stages=(0.0, 0.0), consistency_structure=0.0))
    assert "cons_stage1" not in off.parts and "cons_structure" not in off.parts
    other = _out(img + 0.2, s1, s2, logits)
    assert consistency_loss(out, other, fov, w).total.item() > cons.total.item() + 0.1


def test_multiple_consistencies_ignore_an_exposure_shift_and_see_lost_structure():
    """Equivariance forgives a global per-channel shift that cons_image punishes; local contrast sees a
    blurred student; the field-shape term forgives a constant gain ratio but not a moved bump."""
    from core.models.structured import Fields

    torch.manual_seed(2)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    teacher_img = (0.45 - 0.2 * (torch.sin(xx / 2.0) > 0.9).float() + 0.1 * torch.rand(64, 64)).expand(1, 3, 64, 64)
    fov = torch.ones(1, 1, 64, 64)
    flat = torch.ones(1, 3, 64, 64)
    bump = 1.0 + 0.5 * torch.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / 200.0).expand(1, 3, 64, 64)

    def out(img: torch.Tensor, gain: torch.Tensor) -> MageNetOutput:
        z = torch.zeros_like(img)
        return MageNetOutput(img, [img[..., ::4, ::4], img[..., ::2, ::2], img], z[:, :1], Fields(gain, z, z[:, :2], z))

    w = LossWeights(consistency_image=1.0, consistency_stages=(0.0, 0.0), consistency_structure=0.0,
                    consistency_equivariance=1.0, consistency_local_contrast=1.0, consistency_field_shape=1.0)
    teacher = out(teacher_img, bump)
    same = consistency_loss(teacher, teacher, fov, w).parts
    shifted = consistency_loss(out(teacher_img * 0.7 + 0.05, bump * 1.4), teacher, fov, w).parts
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(teacher_img, (2, 2, 2, 2), mode="replicate"), 5, 1)
    soft = consistency_loss(out(blurred, bump), teacher, fov, w).parts
    moved = consistency_loss(out(teacher_img, flat), teacher, fov, w).parts
    assert shifted["cons_image"] > 0.05 and shifted["cons_equivariance"] < 2e-3 and shifted["cons_field_shape"] < 2e-3
    assert soft["cons_local_contrast"] > 10 * same["cons_local_contrast"]
    assert soft["cons_equivariance"] > 5 * shifted["cons_equivariance"]
    assert moved["cons_field_shape"] > 0.02
    residual = MageNetOutput(teacher_img, teacher.stages, teacher.structure_logits)
    with pytest.raises(ValueError, match="structured"):
        consistency_loss(residual, residual, fov, LossWeights(consistency_field_shape=1.0))


def test_affine_fitted_undoes_a_per_channel_gain_and_offset():
    from core.training.losses import affine_fitted

    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    out = target * torch.tensor([0.5, 1.3, 0.8]).view(1, 3, 1, 1) + torch.tensor([0.1, -0.05, 0.0]).view(1, 3, 1, 1)
    mask = torch.ones(2, 1, 32, 32)
    assert float((affine_fitted(out, target, mask) - target).abs().max()) < 1e-4


def test_photometric_pairs_are_judged_mostly_on_structure():
    """A globally darker output of a photometric pair costs little; the same output of an ordinary pair costs its
    full plain loss. The band-pass term sees a blotch that a per-channel fit cannot remove."""
    from types import SimpleNamespace

    from core.training.losses import LossWeights, supervised_loss

    torch.manual_seed(1)
    clean = 0.2 + 0.6 * torch.rand(1, 3, 64, 64)
    fov = torch.ones(1, 1, 64, 64)
    no = torch.zeros(1, 1, 64, 64), torch.zeros(1)
    dark = clean * 0.6
    w = LossWeights(stages=(0.0, 0.0, 1.0), edge=0.0, structure=0.0, photometric_plain=0.2, structure_fit=1.0, bandpass=1.0)

    def loss(img, photometric):
        out = SimpleNamespace(stages=[img[..., ::4, ::4], img[..., ::2, ::2], img], image=img, structure_logits=None)
        return float(supervised_loss(out, clean, fov, *no, w, torch.tensor([photometric])).total)

    assert loss(dark, 1.0) < 0.35 * loss(dark, 0.0)
    blotch = clean.clone()
    blotch[..., 16:40, 16:40] += 0.2
    assert loss(blotch, 1.0) > loss(clean * 1.0, 1.0) + 0.01


def test_local_contrast_loss_sees_blurred_vessels_and_ignores_exposure():
    """A blurred copy of a vessel pattern costs much more than the same pattern at half the exposure
    (the detail stage is asked for contrast, not for the fields' job), and a sharp copy costs ~0."""
    from core.training.losses import local_contrast_loss

    yy, xx = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    vessels = 0.5 - 0.25 * (torch.sin(xx / 2.0) > 0.9).float() - 0.2 * (torch.cos(yy / 3.0) > 0.95).float()
    target = vessels.expand(1, 3, 96, 96).contiguous()
    fov = torch.ones(1, 1, 96, 96)
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(target, (2, 2, 2, 2), mode="replicate"), 5, 1)
    same = local_contrast_loss(target, target, fov).item()
    darker = local_contrast_loss(target * 0.5, target, fov).item()
    soft = local_contrast_loss(blurred, target, fov).item()
    assert same < 2e-3
    assert soft > 5 * darker
