"""The structured output form G * (x - V) + D: what it cannot do, whatever its weights."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.models import structured as S
from core.models.magenet import MageNet, preset
from core.models.structured import floor_that_recovers

SIDE = 256


def _net(seed: int = 0, scale: float = 0.0, cues: bool = False) -> MageNet:
    torch.manual_seed(seed)
    net = MageNet(replace(preset("mage-s"), detail_cues=cues)).eval()
    if scale:
        with torch.no_grad():  # an "adversarial" network: large random heads
            heads = [net.field_head.to_logits, net.stage3.detail.to_gains[-1], net.stage3.detail.to_residual]
            if cues:
                heads.append(net.stage3.detail.from_cues[-1])
            for head in heads:
                head.weight.normal_(0.0, scale)
                head.bias.normal_(0.0, scale)
    return net


both_heads = pytest.mark.parametrize("cues", [False, True], ids=["features", "features+cues"])


def _disc(side: int = SIDE) -> torch.Tensor:
    yy, xx = np.mgrid[:side, :side]
    r = np.hypot(yy - side / 2 + 0.5, xx - side / 2 + 0.5)
    return torch.from_numpy((r < side * 0.48).astype(np.float32))[None, None]


def _macula_image(side: int = SIDE) -> torch.Tensor:
    """A uniform orange fundus with a macula-sized dark dip (sigma = 4 % of the diameter, 30 % deep)."""
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    d = side * 0.96
    dip = 1.0 - 0.3 * np.exp(-((yy - side * 0.5) ** 2 + (xx - side * 0.55) ** 2) / (2 * (0.04 * d) ** 2))
    rgb = np.array([0.75, 0.4, 0.2], np.float32)[:, None, None] * dip[None]
    return torch.from_numpy(rgb)[None] * _disc(side)


def test_fresh_network_is_close_to_identity() -> None:
    x, m = _macula_image(), _disc()
    with torch.no_grad():
        out = _net()(x, m).image
    assert float((out - x).abs().max()) < 1e-4  # the heads start exactly at the identity


def test_gain_does_not_follow_a_macula_sized_dip() -> None:
    """G varies < 3 % across the dark macula: the fields are too coarse to fill it in."""
    x, m = _macula_image(), _disc()
    for seed in range(3):
        f = _net(seed, scale=0.5 / S.LOGIT_SCALE).fields(x, m)
        c = (int(SIDE * 0.5), int(SIDE * 0.55))
        r = int(0.04 * SIDE * 0.96 * 2)
        patch = f.gain[0, :, c[0] - r : c[0] + r, c[1] - r : c[1] + r]
        spread = (patch.amax(dim=(1, 2)) / patch.amin(dim=(1, 2))).max()
        assert float(spread) < 1.03


@both_heads
def test_adversarial_fields_stay_bounded_and_smooth(cues: bool) -> None:
    x, m = torch.rand(1, 3, SIDE, SIDE) * _disc(), _disc()
    f = _net(1, scale=5.0, cues=cues).fields(x, m)
    assert float(f.gain.min()) >= S.MIN_GAIN - 1e-5 and float(f.gain.max()) <= S.MAX_GAIN + 1e-5
    assert float(f.veil.min()) >= S.MIN_VEIL_FRACTION - 1e-5
    assert float(f.detail_gain.min()) >= S.MIN_DETAIL_GAIN - 1e-5
    assert float(f.detail_gain.max()) <= S.MAX_DETAIL_GAIN + 1e-5
    # Smooth: the log-gain changes little from one pixel to the next (cells are 80 px wide).
    lg = torch.log(f.gain[0])
    step = max(float((lg[:, 1:] - lg[:, :-1]).abs().max()), float((lg[:, :, 1:] - lg[:, :, :-1]).abs().max()))
    assert step < (math.log(S.MAX_GAIN) - math.log(S.MIN_GAIN)) / 20
    # The veil never exceeds 0.9 x the smoothed local minimum of a noise image's 1/4-scale copy.
    assert float(f.veil.max()) <= S.MAX_VEIL_FRACTION + 1e-5


@both_heads
def test_detail_cannot_move_a_regions_mean_level(cues: bool) -> None:
    torch.manual_seed(3)
    x = (0.4 + 0.2 * torch.rand(1, 3, SIDE, SIDE)) * _disc()
    m = _disc()
    f = _net(2, scale=5.0, cues=cues).fields(x, m)
    inner = m[0, 0] > 0
    inner[: SIDE // 4] = False
    inner[-SIDE // 4 :] = False
    inner[:, : SIDE // 4] = False
    inner[:, -SIDE // 4 :] = False
    region_mean = f.detail[0][:, inner].mean(dim=1).abs()
    level = x[0][:, inner].mean(dim=1)
    assert float((region_mean / level).max()) < 0.02


@both_heads
def test_structured_output_never_inverts_darker_structure(cues: bool) -> None:
    """With detail gains above -1 and a monotone base, a vessel stays darker than its background."""
    x = _macula_image().clone()
    x[..., 100:104, 40:200] *= 0.6  # a horizontal vessel
    m = _disc()
    for seed in range(3):
        with torch.no_grad():
            out = _net(seed, scale=2.0, cues=cues)(x, m).image
        vessel = out[0, 1, 101:103, 60:180].mean()
        ring = torch.cat([out[0, 1, 94:98, 60:180], out[0, 1, 106:110, 60:180]]).mean()
        assert float(vessel) < float(ring)


def test_a_detail_floor_of_zero_never_softens_a_band_and_keeps_a_cards_output_where_it_sharpens() -> None:
    """detail_floor = 0 (mage-s 2.2): whatever the weights, no detail-band gain is below 0, so the
    detail stage cannot fade a vessel or a dot; where the gains are >= 0 the output is unchanged."""
    x, m = torch.rand(1, 3, SIDE, SIDE) * _disc(), _disc()
    soft = _net(4, scale=5.0, cues=True)
    floored = MageNet(replace(soft.config, detail_floor=0.0)).eval()
    floored.load_state_dict(soft.state_dict())
    f_soft, f_floor = soft.fields(x, m), floored.fields(x, m)
    assert float(f_soft.detail_gain.min()) < -0.1  # the adversarial head does ask to soften
    assert float(f_floor.detail_gain.min()) >= 0.0
    assert torch.equal(f_floor.detail_gain, f_soft.detail_gain.clamp_min(0.0))
    with torch.no_grad():
        fresh = _net(0, cues=True)
        fresh_floored = MageNet(replace(fresh.config, detail_floor=0.0)).eval()
        fresh_floored.load_state_dict(fresh.state_dict())
        assert float((fresh_floored(x, m).image - fresh(x, m).image).abs().max()) < 1e-6


def test_the_floor_holds_forward_and_lets_through_only_the_gradient_that_raises_a_band() -> None:
    """A plain clamp froze mage-s 2.2's head under the floor; this one lets a loss that asks for detail revive it."""
    a = torch.tensor([-0.2, -0.05, 0.0, 0.3], requires_grad=True)
    out = floor_that_recovers(a, 0.0)
    assert torch.equal(out, a.detach().clamp_min(0.0))
    out.backward(torch.tensor([-1.0, 1.0, 1.0, -1.0]))  # descent raises cells 0 and 3, lowers 1 and 2
    assert a.grad is not None
    assert a.grad.tolist() == [-1.0, 0.0, 1.0, -1.0]


def test_a_floored_detail_head_below_its_floor_still_learns_to_sharpen() -> None:
    x, m = torch.rand(1, 3, SIDE, SIDE) * _disc(), _disc()
    soft = _net(4, scale=5.0, cues=True)
    floored = MageNet(replace(soft.config, detail_floor=0.0)).train()
    floored.load_state_dict(soft.state_dict())
    floored.requires_grad_(True)
    with torch.no_grad():  # every cell far under the floor, where a plain clamp passes no gradient
        floored.stage3.detail.to_gains[-1].bias.fill_(-10.0)
    gains = floored(x, m).fields.detail_gain
    assert float(gains.detach().max()) == 0.0
    (-gains.mean()).backward()  # a loss that wants every band sharper
    grads = [p.grad for n, p in floored.named_parameters() if "detail" in n and p.grad is not None]
    assert grads and any(float(g.abs().max()) > 0 for g in grads)


@pytest.mark.parametrize("floor", [0.1, -0.5])
def test_a_detail_floor_outside_the_bounds_is_refused(floor: float) -> None:
    with pytest.raises(ValueError, match="detail_floor"):
        replace(preset("mage-s"), output_form="structured", detail_floor=floor)


def test_forward_returns_the_fields_it_composed_and_rows_slices_them_with_the_image() -> None:
    """The teacher-student field consistency reads G from the training pass itself."""
    x, m = torch.rand(2, 3, SIDE, SIDE) * _disc(), _disc().expand(2, 1, SIDE, SIDE)
    net = _net(6, scale=0.3 / S.LOGIT_SCALE)
    with torch.no_grad():
        out = net(x, m)
        assert out.fields is not None
        assert torch.allclose(out.fields.gain, net.fields(x, m).gain)
        second = out.rows(1)
    assert second.image.shape[0] == 1 and second.fields.gain.shape[0] == 1
    assert torch.equal(second.fields.detail_gain, out.fields.detail_gain[1:])
    assert torch.equal(second.stages[0], out.stages[0][1:])


def test_a_cue_head_added_to_a_card_without_one_starts_at_that_cards_output() -> None:
    """Fine-tuning 2.0.0 into a cue head (init_new_parts) starts from 2.0.0's exact output."""
    x, m = _macula_image(), _disc()
    old = _net(5, scale=0.3 / S.LOGIT_SCALE)
    new = _net(6, cues=True)
    result = new.load_state_dict(old.state_dict(), strict=False)
    assert result.missing_keys and all(k.startswith("stage3.detail.from_cues.") for k in result.missing_keys)
    with torch.no_grad():
        assert torch.equal(old(x, m).image, new(x, m).image)


def test_sharpness_cue_tells_a_blurred_photo_from_a_sharp_one_and_is_zero_outside_the_fov() -> None:
    import cv2  # noqa: PLC0415

    torch.manual_seed(7)
    m = _disc()
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.random((SIDE, SIDE)).astype(np.float32), (0, 0), 1.0)
    sharp = (0.3 + 0.4 * torch.from_numpy(texture))[None, None].expand(1, 3, SIDE, SIDE) * m
    blurred = torch.from_numpy(cv2.GaussianBlur(sharp[0].permute(1, 2, 0).numpy(), (0, 0), 2.5)).permute(2, 0, 1)[None] * m
    comp = S.StructuredOutput()
    logits = torch.zeros(1, 6, math.ceil(SIDE / 80), math.ceil(SIDE / 80))
    logits[:, :3] = S._IDENTITY_GAIN_LOGIT

    def cues(x: torch.Tensor) -> torch.Tensor:
        return comp.detail_cues(x, m, comp.bands(x, m), logits, 20)

    c_sharp, c_blur = cues(sharp), cues(blurred)
    centre = (slice(12, 20), slice(12, 20))
    assert float(c_sharp[0, 1][centre].mean()) > float(c_blur[0, 1][centre].mean()) + 0.5
    outside = S.pool_cells(m, S.DetailHead.CELL)[0, 0] < 0.5
    assert float(c_sharp[0][:, outside].abs().max()) == 0.0
    assert float(c_sharp[0, 0][centre].abs().max()) < 1e-5  # G = 1 at the identity logits: log G = 0


def test_enhancer_takes_structured_fields_from_one_whole_image_pass_in_tiled_mode() -> None:
    """The fields' cells are fixed in working-resolution px, so a tile alone would judge its
    illumination at the wrong scale: tiled mode takes the broad shading from a whole-image pass."""
    from core.enhance import EnhanceSettings, Enhancer  # noqa: PLC0415

    residual = preset("mage-s")
    residual.output_form = "residual"
    s = EnhanceSettings(mode="tiled")
    assert Enhancer.from_module(_net()).has_colour_head
    assert Enhancer.from_module(_net())._needs_whole_image_pass(2048, s)
    assert not Enhancer.from_module(MageNet(residual))._needs_whole_image_pass(2048, s)


def test_what_changed_maps_fields_to_the_photo() -> None:
    """The "What changed" maps have the photo's geometry, are neutral outside the FOV and follow the fields."""
    from core.enhance import Enhancer  # noqa: PLC0415
    from core.imaging.types import FundusImage  # noqa: PLC0415

    rgb = (np.transpose(_macula_image(300)[0].numpy(), (1, 2, 0)) * 255).astype(np.uint8)
    photo = np.zeros((320, 420, 3), np.uint8)
    photo[10:310, 60:360] = rgb
    image = FundusImage(pixels=photo, bit_depth=8, source_sha256="0" * 64)
    net = _net(4, scale=1.0)
    wc = Enhancer.from_module(net).what_changed(image)
    assert wc.gain.shape == photo.shape[:2] == wc.veil.shape == wc.detail_gain.shape
    assert np.all(wc.gain[~wc.fov] == 1.0) and np.all(wc.veil[~wc.fov] == 0.0)
    lo, hi = wc.ranges["gain"]
    assert S.MIN_GAIN <= lo <= hi <= S.MAX_GAIN and hi - lo > 1e-4  # a random head changes the gain somewhere
    assert set(wc.to_dict()) == {"gain", "veil", "detail_gain"}
    residual = preset("mage-s")
    residual.output_form = "residual"
    import pytest  # noqa: PLC0415

    from core.errors import ModelError  # noqa: PLC0415

    with pytest.raises(ModelError, match="no illumination"):
        Enhancer.from_module(MageNet(residual)).what_changed(image)


@pytest.mark.parametrize("sigma", [S.FINE_SIGMA, S.CONTRAST_SIGMA])
def test_masked_blur_of_rgb_and_mask_gives_the_per_channel_sums_and_gradients(sigma: float) -> None:
    """The grouped (depthwise) fast path must be the same blur as one channel at a time, in training too."""
    torch.manual_seed(0)
    blur = S.MaskedBlur(sigma)
    x = torch.rand(2, 3, 40, 52, requires_grad=True)
    mask = (torch.rand(2, 1, 40, 52) > 0.2).float()
    fast = blur(x, mask)
    slow = torch.cat([blur(x[:, i:i + 1], mask) for i in range(3)], dim=1)  # 2 channels: the folded path
    assert torch.allclose(fast, slow, atol=1e-6)
    g_fast, = torch.autograd.grad(fast.square().sum(), x)
    g_slow, = torch.autograd.grad(slow.square().sum(), x)
    assert torch.allclose(g_fast, g_slow, atol=1e-5)
    assert fast.is_contiguous()


@pytest.mark.parametrize("cells,k,size", [((7, 7), 80, (512, 512)), ((7, 5), 80, (500, 333)), ((3, 9), 20, (57, 171))])
def test_fields_reach_pixels_by_plain_bicubic(cells: tuple[int, int], k: int, size: tuple[int, int]) -> None:
    """The separable matrix form is F.interpolate's bicubic, borders included (no edge guidance, nothing else)."""
    z = torch.randn(2, 6, *cells)
    ref = torch.nn.functional.interpolate(z, size=(cells[0] * k, cells[1] * k), mode="bicubic",
                                          align_corners=False)[..., : size[0], : size[1]]
    assert torch.allclose(S.cells_to_pixels(z, k, size), ref, atol=1e-5)


def _dot_and_vessel(side: int = SIDE) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]]:
    """An orange fundus with a dark microaneurysm-sized dot (sigma 1.2 px, 30 % deep) and a dark vessel
    (a vertical line, sigma 1.5 px, 30 % deep); returns the image, the dot's and a vessel point's (row, col)."""
    yy, xx = np.mgrid[:side, :side].astype(np.float32)
    dot, vessel_col = (side // 2, side // 3), 2 * side // 3
    shade = 1.0 - 0.3 * np.exp(-((yy - dot[0]) ** 2 + (xx - dot[1]) ** 2) / (2 * 1.2**2))
    shade *= 1.0 - 0.3 * np.exp(-((xx - vessel_col) ** 2) / (2 * 1.5**2))
    rgb = np.array([0.75, 0.4, 0.2], np.float32)[:, None, None] * shade[None]
    return torch.from_numpy(rgb)[None] * _disc(side), dot, (side // 2, vessel_col)


def test_roundness_marks_a_dot_and_not_a_vessel_or_flat_ground() -> None:
    x, dot, vessel = _dot_and_vessel()
    r = S.RoundStructure()(x, _disc())[0, 0]
    assert float(r[dot]) > 0.9
    assert float(r[vessel]) < 0.05
    assert float(r[20:40, SIDE // 2 - 10 : SIDE // 2 + 10].max()) == 0.0  # flat ground is not round


def test_an_oriented_detail_stage_sharpens_the_vessel_as_before_and_not_the_dot() -> None:
    """detail_oriented (mage-s 2.3): a positive gain applies only to elongated structure, so sharpening
    cannot add lesion-like dots; the same weights sharpen a vessel exactly as without it."""
    x, dot, vessel = _dot_and_vessel()
    m = _disc()
    plain = _net(0, cues=True)
    with torch.no_grad():
        plain.stage3.detail.to_gains[-1].bias.fill_(1.0)  # both bands sharpened everywhere
    oriented = MageNet(replace(plain.config, detail_oriented=True)).eval()
    oriented.load_state_dict(plain.state_dict())
    with torch.no_grad():
        a, b = plain(x, m).image, oriented(x, m).image
    g = 1
    assert float(a[0, g][vessel]) < float(x[0, g][vessel]) - 0.005  # the vessel is darkened (sharpened)
    assert abs(float(b[0, g][vessel]) - float(a[0, g][vessel])) < 1e-3  # ... as much with orientation
    assert float(a[0, g][dot]) < float(b[0, g][dot]) - 0.005  # the plain stage deepens the dot
    assert abs(float((b - x)[0, g][dot])) < abs(float((a - x)[0, g][dot])) / 3  # the oriented one barely


def test_detail_oriented_needs_the_structured_form() -> None:
    with pytest.raises(ValueError, match="structured"):
        replace(preset("mage-s"), output_form="residual", detail_oriented=True)
