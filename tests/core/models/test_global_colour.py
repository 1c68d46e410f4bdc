"""The whole-image colour head: identity when fresh, smooth, whole-image aware, loads onto older weights."""

from __future__ import annotations

import pytest
import torch

from core.errors import FundusError
from core.models.global_colour import MAX_LOG_GAIN, GlobalColour
from core.models.magenet import MageNet, MageNetConfig
from core.training.trainer import freeze_except, load_initial
from tests.synthetic import TINY_MAGENET, TINY_MAGENET_HEAD, tiny_magenet_with_live_head


def test_fresh_head_leaves_a_trained_network_unchanged():
    torch.manual_seed(0)
    old = MageNet(MageNetConfig.from_dict(TINY_MAGENET)).eval()
    new = MageNet(MageNetConfig.from_dict(TINY_MAGENET_HEAD)).eval()
    load_initial(new, old.state_dict(), ["global_head"])
    x, m = torch.rand(2, 3, 40, 56), torch.ones(2, 1, 40, 56)
    with torch.no_grad():
        assert torch.equal(old(x, m).image, new(x, m).image)


def test_starting_weights_may_lack_only_the_new_parts():
    old = MageNet(MageNetConfig.from_dict(TINY_MAGENET))
    new = MageNet(MageNetConfig.from_dict(TINY_MAGENET_HEAD))
    with pytest.raises(FundusError, match="missing: global_head"):
        load_initial(new, old.state_dict())
    weights = dict(old.state_dict())
    weights.pop("stage3.to_residual.weight")
    with pytest.raises(FundusError, match="stage3.to_residual.weight"):
        load_initial(new, weights, ["global_head"])


def test_freeze_except_trains_only_the_named_parts():
    net = MageNet(MageNetConfig.from_dict(TINY_MAGENET_HEAD))
    freeze_except(net, ["global_head"])
    trainable = {k for k, p in net.named_parameters() if p.requires_grad}
    assert trainable and all(k.startswith("global_head.") for k in trainable)
    with pytest.raises(FundusError, match="no_such_part"):
        freeze_except(net, ["no_such_part"])


@torch.no_grad()
def test_field_is_smooth_and_bounded():
    head = GlobalColour(channels=4, size=32)
    with torch.no_grad():
        head.to_field.bias.fill_(100.0)  # far beyond the bounds
    x = torch.rand(1, 3, 64, 64)
    f = head.field(x, x, None)
    assert f.shape == (1, 6, 8, 8)
    assert float(f[:, :3].max()) <= MAX_LOG_GAIN + 1e-6
    y = head(x, torch.zeros_like(x))  # an all-black output gains only the (bounded) offset
    assert float(y.max()) <= 0.5 + 1e-6
    # a coarse field (8 x 8 for 64 px), upsampled bilinearly: a step between neighbouring
    # pixels is at most an eighth of the field's range, however noisy the input
    with torch.no_grad():
        head.to_field.weight.normal_(0, 0.5)
        head.to_field.bias.zero_()
    g = head(torch.rand(1, 3, 64, 64), torch.ones(1, 3, 64, 64))
    step = float((g[..., 1:] - g[..., :-1]).abs().max())
    assert 0 < step <= float(g.max() - g.min()) / 4


def test_correction_depends_on_the_whole_image():
    """A change far away moves the correction here: what patches alone cannot see."""
    net = tiny_magenet_with_live_head()
    x = torch.full((1, 3, 64, 64), 0.4)
    m = torch.ones(1, 1, 64, 64)
    x2 = x.clone()
    x2[..., :16, :16] = 0.9  # a bright corner
    with torch.no_grad():
        a, b = net(x, m).image, net(x2, m).image
    assert float((a[..., 48:, 48:] - b[..., 48:, 48:]).abs().max()) > 1e-4


@pytest.mark.parametrize("shape", [(64, 64), (40, 56), (17, 23)])
def test_any_size_and_fov_still_masks(shape):
    net = tiny_magenet_with_live_head()
    h, w = shape
    x = torch.rand(1, 3, h, w)
    m = torch.zeros(1, 1, h, w)
    m[..., 2:-2, 2:-2] = 1
    with torch.no_grad():
        out = net(x, m).image
    assert out.shape == (1, 3, h, w)
    assert float(out[..., 0, 0].abs().max()) == 0.0 and 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_bad_head_sizes_are_refused():
    with pytest.raises(ValueError, match="multiple of 16"):
        MageNetConfig.from_dict({**TINY_MAGENET_HEAD, "global_size": 20})
    with pytest.raises(ValueError, match="multiple of 16"):
        GlobalColour(4, 24)
