"""MAGE-Net: sizes of the presets, shapes on odd inputs, FOV masking, gradients, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from core.models.blocks import CAB, SAM, ChannelAttention, SpatialAttention
from core.models.magenet import PRESETS, MageNet, MageNetConfig, MageNetOutput, count_parameters, preset

TINY = MageNetConfig(
    stage1_channels=(8, 12, 16),
    stage2_channels=(8, 8, 12),
    stage1_cabs=1,
    stage2_cabs=1,
    rsp_channels=8,
    rsp_groups=1,
    rsp_cabs=1,
    structure_hidden=4,
)


def circle_fov(b: int, h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    r = 0.45 * min(h, w)
    inside = ((yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2) <= r * r
    return inside[None, None].expand(b, 1, h, w).float()


def test_preset_parameter_counts():
    small = count_parameters(MageNet(preset("mage-s")))
    large = count_parameters(MageNet(preset("mage")))
    print(f"mage-s: {small:,} parameters; mage: {large:,} parameters")
    assert 1_000_000 <= small <= 3_000_000
    assert 10_000_000 <= large <= 20_000_000


def test_capacity_sits_in_the_low_resolution_stages():
    net = MageNet(preset("mage-s"))
    full_res = count_parameters(net.stage3)
    assert full_res < 0.05 * count_parameters(net), "the full-resolution RSP stage should stay narrow for CPU speed"


@pytest.mark.parametrize("shape", [(1, 3, 97, 131), (2, 3, 64, 64)])
def test_forward_shapes_range_and_fov(shape):
    torch.manual_seed(0)
    b, _, h, w = shape
    net = MageNet(preset("mage-s")).eval()
    x = torch.rand(shape)
    fov = circle_fov(b, h, w)
    with torch.no_grad():
        out = net(x, fov)
    assert isinstance(out, MageNetOutput)
    assert out.image.shape == shape
    assert out.structure_logits.shape == (b, 1, h, w)
    assert [tuple(s.shape) for s in out.stages] == [
        (b, 3, math.ceil(h / 4), math.ceil(w / 4)),
        (b, 3, math.ceil(h / 2), math.ceil(w / 2)),
        shape,
    ]
    assert out.stages[2] is out.image
    assert float(out.image.min()) >= 0.0 and float(out.image.max()) <= 1.0
    assert torch.all(out.image[fov.expand_as(out.image) == 0] == 0)
    assert float(out.image[fov.expand_as(out.image) > 0].abs().sum()) > 0
    assert all(torch.isfinite(t).all() for t in (*out.stages, out.structure_logits))


def test_forward_without_fov_and_tiny_inputs():
    net = MageNet(TINY).eval()
    with torch.no_grad():
        for h, w in [(8, 8), (5, 7), (33, 17)]:
            out = net(torch.rand(1, 3, h, w))
            assert out.image.shape == (1, 3, h, w)
            assert out.structure_logits.shape == (1, 1, h, w)


def test_output_is_input_plus_residual_inside_fov():
    """With the residual head zeroed the network must return its input (clamped, masked)."""
    net = MageNet(TINY).eval()
    torch.nn.init.zeros_(net.stage3.to_residual.weight)
    torch.nn.init.zeros_(net.stage3.to_residual.bias)
    x = torch.rand(1, 3, 40, 48)
    fov = circle_fov(1, 40, 48)
    with torch.no_grad():
        out = net(x, fov)
    torch.testing.assert_close(out.image, x * fov)


def test_gradients_reach_every_parameter():
    torch.manual_seed(1)
    net = MageNet(TINY).train()
    x = torch.rand(2, 3, 48, 40)
    out = net(x, circle_fov(2, 48, 40))
    target = torch.rand_like(x)
    loss = sum((s - torch.nn.functional.interpolate(target, size=s.shape[-2:], mode="area")).abs().mean() for s in out.stages)
    loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
        out.structure_logits, (torch.rand_like(out.structure_logits) > 0.8).float()
    )
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    dead = [n for n, p in net.named_parameters() if p.grad is not None and float(p.grad.abs().sum()) == 0.0]
    assert not missing, missing
    assert not dead, dead


def test_eval_is_deterministic():
    torch.manual_seed(2)
    net = MageNet(TINY).eval()
    x = torch.rand(1, 3, 56, 72)
    with torch.no_grad():
        a = net(x)
        b = net(x.clone())
    assert torch.equal(a.image, b.image)
    assert torch.equal(a.structure_logits, b.structure_logits)


def test_config_round_trip_and_from_config():
    for name, cfg in PRESETS.items():
        d = cfg.to_dict()
        assert MageNetConfig.from_dict(d) == cfg, name
        assert isinstance(d["stage1_channels"], list)
    net = MageNet.from_config(TINY.to_dict())
    assert net.config == TINY
    assert MageNet.from_config("mage-s").config == PRESETS["mage-s"]
    with pytest.raises(ValueError):
        MageNetConfig.from_dict({**TINY.to_dict(), "no_such_size": 3})
    with pytest.raises(ValueError):
        MageNetConfig(stage1_channels=(8, 8))
    with pytest.raises(ValueError):
        preset("mage-xl")
    # preset() hands out copies: changing one must not change the table
    p = preset("mage-s")
    p.rsp_channels = 99
    assert PRESETS["mage-s"].rsp_channels != 99


def test_state_dict_has_no_fixed_buffers():
    """The Sobel kernel is rebuilt by the code, so the weights file holds only learned tensors."""
    net = MageNet(TINY)
    assert not any("prior" in k for k in net.state_dict())


@torch.no_grad()
def test_blocks_follow_the_design():
    torch.manual_seed(3)
    x = torch.rand(2, 8, 12, 10)
    # CA: C -> C/4 -> C, multiplies by a per-channel weight in (0, 1)
    ca = ChannelAttention(8, reduction=4)
    assert ca.squeeze.out_channels == 2
    y = ca(x)
    ratio = y / x
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio), atol=1e-5)
    assert float(ratio.min()) > 0 and float(ratio.max()) < 1
    # SA: per-pixel weight shared by all channels
    sa = SpatialAttention(7)
    r = sa(x) / x
    assert torch.allclose(r, r[:, :1].expand_as(r), atol=1e-5)
    # CAB keeps the shape and is residual
    cab = CAB(8)
    assert cab(x).shape == x.shape
    # SAM: image = conv(F) + stage input
    sam = SAM(8)
    img_in = torch.rand(2, 3, 12, 10)
    feats, img = sam(x, img_in)
    assert feats.shape == x.shape and img.shape == img_in.shape
    torch.testing.assert_close(img, sam.to_image(x) + img_in)


def test_bad_input_is_refused():
    net = MageNet(TINY)
    with pytest.raises(ValueError):
        net(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError):
        net(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 16, 16))
