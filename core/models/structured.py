"""The structured output of MAGE-Net: ``output = G * (x - V) + D``, bounded by construction.

Why (shared/design/MAGE-NET.md section 6): a free residual trained on a few dozen
bright orange-red targets learned that "a dark region is a degradation" and painted
bright patches, filled in the dark macula and faded the disc on darker fundi. This
form bounds what the network can do:

- **G** (per-channel gain, 0.5-3x) and **V** (veil, -0.1 to 0.9 x a smoothed local
  minimum of x) are fields predicted on a coarse grid of cells ``cell_px`` wide
  (80 px at the 512 px working FOV: about 1/6 of the diameter) and brought to full
  size by plain bicubic interpolation of their logits, then bounded. Never guided by
  image edges, so they cannot brighten exactly the macula or the disc; plain
  interpolation keeps every inference path exportable. They fix exposure, colour
  cast, vignetting, dark patches, rim glow and cataract veil.
- **D** (the RSP stage's contribution) is a bounded correction of x's own
  high-frequency bands: gains of -0.3 to 2.5 on a fine band
  (x minus a 1.5 px blur: sharpening) and a local-contrast band (1.5 px minus 6 px
  blur), on a grid of 8 px cells, plus a small deblurring residual that is itself
  high-passed. D has no local mean, so it cannot add broad shading; a gain above -1
  can strengthen or soften structure x has, never invert it.

Cells are fixed in pixels of the working resolution, not fractions of the input, so
a network trained on patches sees the same cell size as one run on a whole photo.
The blurs are masked (normalised convolution), so the black outside the FOV does not
turn the rim into an edge to sharpen.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.structured_bounds import (  # noqa: F401 - re-exported
    MAX_DEBLUR,
    MAX_DETAIL_GAIN,
    MAX_GAIN,
    MAX_VEIL_FRACTION,
    MIN_DETAIL_GAIN,
    MIN_GAIN,
    MIN_VEIL_FRACTION,
)
FINE_SIGMA = 1.5
"""px at the working resolution: the fine (sharpening) band is x - blur(x, 1.5)."""
CONTRAST_SIGMA = 6.0
"""px at 512 (1.2 % of the FOV diameter, the classical unsharp-mask scale): the local-contrast band."""
ROUND_SIGMAS = (1.0, 1.8)
"""px at 512: the Hessian scales at which an oriented detail stage looks for round structure, those of
the lesion-blob measure's dots (0.3-1 % of the FOV diameter: sigma 0.6-1.8 px at 512)."""
ROUND_EDGE_RATIO = 6.0
"""A point is round when its principal curvatures share a sign and differ by less than this ratio:
the blob measure's own test (core.imaging.measures.BLOB_EDGE_RATIO); a vessel's cross-section is
far more elongated."""
ROUND_CONTRAST = (0.02, 0.05)
"""A round point counts from the first to fully at the second scale-normalised curvature relative to the
local level (sigma^2 |trace| / level): below the blob measure's 8 % dots, so faint dots count, above
the grain of flat ground (without it 80 % of the FOV reads as round, measured on real photos)."""
LEVEL_SIGMA = 12.0
"""px at 512: the broad local level the curvature is measured against."""
MIN_WINDOW = 9
"""Local-minimum window at 1/4 resolution (36 px at the working resolution)."""
_IDENTITY_GAIN_LOGIT = math.log((0.0 - math.log(MIN_GAIN)) / (math.log(MAX_GAIN) - 0.0))
"""Logit at which the bounded log-gain is exactly 0 (gain 1)."""
_VEIL_IDENTITY_LOGIT = math.log(-MIN_VEIL_FRACTION / MAX_VEIL_FRACTION)
"""Logit at which the veil is exactly 0."""
_DETAIL_IDENTITY_LOGIT = math.log(-MIN_DETAIL_GAIN / MAX_DETAIL_GAIN)
"""Logit at which both detail gains are exactly 0."""
LOGIT_SCALE = 4.0
"""The heads' last layers are multiplied by this: Adam moves a parameter by about the learning rate
per step whatever its gradient, so a logit that starts at -6 and must reach about -1 would need
~15 k steps at lr 3e-4 unscaled (measured: an 18-minute run left the detail gains at ~0)."""


class Fields(NamedTuple):
    """The fields of one pass, at the input's size: what the "What changed" view shows."""

    gain: torch.Tensor  # (B,3,H,W) in [MIN_GAIN, MAX_GAIN]
    veil: torch.Tensor  # (B,3,H,W), MIN_VEIL_FRACTION..MAX_VEIL_FRACTION x the local minimum
    detail_gain: torch.Tensor  # (B,2,H,W) in [MIN_DETAIL_GAIN, MAX_DETAIL_GAIN]: fine band, local-contrast band
    detail: torch.Tensor  # (B,3,H,W): D itself


def gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


class MaskedBlur(nn.Module):
    """Separable Gaussian blur by normalised convolution: blur(x*m)/blur(m) (no rim leak)."""

    GROUPED_CHANNELS = 4
    """RGB plus the mask: what every caller blurs. These get one depthwise convolution per axis with a
    fixed (4,1,...) kernel: exactly the same sums as one channel at a time, about 5x faster on the CPU
    (a single-channel convolution is oneDNN's slowest case; measured in docs/performance.md)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        k = gaussian_kernel(sigma)
        n = self.GROUPED_CHANNELS
        self.register_buffer("kernel", k, persistent=False)
        # Fixed shapes, not expanded at run time: ONNX export refuses a depthwise kernel expanded
        # to a channel count it only learns while tracing.
        self.register_buffer("kernel_rows", k.view(1, 1, 1, -1).repeat(n, 1, 1, 1), persistent=False)
        self.register_buffer("kernel_cols", k.view(1, 1, -1, 1).repeat(n, 1, 1, 1), persistent=False)

    def _sep(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        r = self.kernel.numel() // 2
        if c == self.GROUPED_CHANNELS:
            x = F.pad(x, (r, r, r, r), mode="replicate").contiguous(memory_format=torch.channels_last)
            x = F.conv2d(x, self.kernel_rows.to(x.dtype), groups=c)
            return F.conv2d(x, self.kernel_cols.to(x.dtype), groups=c).contiguous()
        # Any other channel count: channels folded into the batch, one fixed single-channel kernel.
        k = self.kernel.to(x.dtype)
        x = F.pad(x.reshape(n * c, 1, h, w), (r, r, r, r), mode="replicate")
        x = F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))
        return x.reshape(n, c, h, w)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        num = self._sep(torch.cat([x * mask, mask], dim=1))
        return num[:, :-1] / num[:, -1:].clamp_min(1e-3)


def pool_cells(x: torch.Tensor, k: int) -> torch.Tensor:
    """Average over k x k cells (a partial last cell is padded by replication): fixed kernels only."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % k, (-w) % k
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return F.avg_pool2d(x, k)


def bicubic_weights(n: int, k: int, length: int, like: torch.Tensor) -> torch.Tensor:
    """(length, n): the 1-D weights of F.interpolate's bicubic from n cells of k px to n*k px, first
    `length` rows. Read off the interpolation of the unit vectors (a width-1 axis is copied exactly),
    so they are PyTorch's own coefficients and border rule, whatever its version."""
    eye = torch.eye(n, dtype=like.dtype, device=like.device).view(n, 1, n, 1)
    return F.interpolate(eye, size=(n * k, 1), mode="bicubic", align_corners=False)[:, 0, :length, 0].t()


def cells_to_pixels(z: torch.Tensor, k: int, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic from cells of k px to pixels (cell centres at their pixel centres), cropped to size.

    As two small matrix products (bicubic is separable): the same values as F.interpolate to
    within float rounding, ~10x faster on the CPU for the large factors of the fields (80 px cells)."""
    rows = bicubic_weights(int(z.shape[-2]), k, int(size[0]), z)
    cols = bicubic_weights(int(z.shape[-1]), k, int(size[1]), z)
    return rows @ z @ cols.t()


def bounded_log_gain(z: torch.Tensor) -> torch.Tensor:
    """log G from gain logits: log(MIN_GAIN) .. log(MAX_GAIN) by a sigmoid, so no weight can leave the bounds."""
    lo, hi = math.log(MIN_GAIN), math.log(MAX_GAIN)
    return lo + (hi - lo) * torch.sigmoid(z)


def local_minimum(x4: torch.Tensor, mask4: torch.Tensor) -> torch.Tensor:
    """Smoothed local minimum of the 1/4-resolution image inside the FOV (outside counts as bright)."""
    inside = x4 * mask4 + (1.0 - mask4)
    m = -F.max_pool2d(-inside, MIN_WINDOW, stride=1, padding=MIN_WINDOW // 2)
    m = F.avg_pool2d(F.pad(m, (4, 4, 4, 4), mode="replicate"), MIN_WINDOW, stride=1)
    return m.clamp(0.0, 1.0)


class FieldHead(nn.Module):
    """G and V logits on cells of `cell_px` (working-resolution px), from the coarse stages.

    Each cell sees the stage-1 and stage-2 features averaged over it, its own masked mean
    colour (log) and FOV coverage, the whole input's mean of those (exposure context) and,
    through a 3x3 convolution, its neighbours.
    """

    def __init__(self, c1: int, c2: int, cell_px: int, hidden: int = 32) -> None:
        super().__init__()
        if cell_px % 4:
            raise ValueError("the field cell must be a multiple of 4 px (it is pooled at 1/4 resolution)")
        self.k = cell_px // 4
        c_in = 2 * (c1 + c2 + 4)
        self.body = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1), nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, padding=1, padding_mode="replicate"), nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 1), nn.PReLU(hidden),
        )
        self.to_logits = nn.Conv2d(hidden, 6, 1)
        nn.init.zeros_(self.to_logits.weight)
        with torch.no_grad():
            self.to_logits.bias.copy_(torch.tensor([_IDENTITY_GAIN_LOGIT] * 3 + [_VEIL_IDENTITY_LOGIT] * 3) / LOGIT_SCALE)

    def forward(self, f1: torch.Tensor, f2_at4: torch.Tensor, x4: torch.Tensor, mask4: torch.Tensor) -> torch.Tensor:
        k = self.k
        cover = pool_cells(mask4, k)
        mean = pool_cells(x4 * mask4, k) / cover.clamp_min(1e-3)
        stats = torch.cat([torch.log(mean.clamp_min(1e-3)), cover], dim=1)
        cell = torch.cat([pool_cells(f1 * mask4, k), pool_cells(f2_at4 * mask4, k)], dim=1) / cover.clamp_min(1e-3)
        cell = torch.cat([cell, stats], dim=1)
        weight = cover / cover.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        context = (cell * weight).sum(dim=(2, 3), keepdim=True).expand_as(cell)
        return LOGIT_SCALE * self.to_logits(self.body(torch.cat([cell, context], dim=1)))


N_CUES = 3
"""Per-cell cues the detail head may see (MageNetConfig.detail_cues): log G, log fine/contrast band
energy ratio (how sharp x is there) and log local luminance (how dark, i.e. how coarsely quantised)."""


class DetailHead(nn.Module):
    """Detail-band gains on 8 px cells and the bounded deblurring residual, from RSP features.

    With `cues`, a small head on N_CUES explicit per-cell measures is added to the gain logits. Why:
    the right gain depends on things the RSP features encode only after long training. Measured on
    2.0.0: the loss gradient on the gain bias asked to sharpen blurred pairs and to soften pairs whose
    dark regions G brightens (amplified 8-bit steps), so the mean pull was about zero and the gains
    stayed at 0 whatever the learning rate (150 steps at lr 2e-3 left them within +-0.03).
    """

    CELL = 8

    def __init__(self, channels: int, cues: bool = False) -> None:
        super().__init__()
        self.to_gains = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.PReLU(channels), nn.Conv2d(channels, 2, 1))
        self.to_residual = nn.Conv2d(channels, 3, 3, padding=1)
        self.from_cues = (
            nn.Sequential(nn.Conv2d(N_CUES, 16, 1), nn.PReLU(16), nn.Conv2d(16, 2, 1)) if cues else None
        )
        last = [self.to_gains[-1], self.to_residual] + ([self.from_cues[-1]] if self.from_cues is not None else [])
        for layer in last:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        with torch.no_grad():
            self.to_gains[-1].bias.fill_(_DETAIL_IDENTITY_LOGIT / LOGIT_SCALE)

    @property
    def uses_cues(self) -> bool:
        return self.from_cues is not None

    def forward(self, features: torch.Tensor, cues: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain logits on 8 px cells (B,2,h/8,w/8), residual (B,3,H,W) in +-MAX_DEBLUR)."""
        z = self.to_gains(pool_cells(features, self.CELL))
        if self.from_cues is not None:
            if cues is None:
                raise ValueError("this detail head was built with cues: pass StructuredOutput.detail_cues(...)")
            z = z + self.from_cues(cues)
        gains = LOGIT_SCALE * z
        return gains, MAX_DEBLUR * torch.tanh(LOGIT_SCALE * self.to_residual(features) / MAX_DEBLUR)


class _FloorThatRecovers(torch.autograd.Function):
    """``a.clamp_min(floor)`` forward; backward also passes the gradient that would raise a band.

    Why: with a plain clamp, a cell below the floor gets no gradient at all, so once a
    supervised loss that rewards denoising has pushed every cell under the floor the
    head is frozen there (mage-s 2.2: every detail gain exactly 0 on clean, blurred and
    spotted photos, measured). Here the output never goes below the floor, but a loss
    that asks for more detail (a vessel loss, a blurred photo) still reaches the logits.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, floor: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(a)
        ctx.floor = floor
        return a.clamp_min(floor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (a,) = ctx.saved_tensors
        passes = (a >= ctx.floor) | (grad < 0)  # descent raises a where the gradient is negative
        return grad * passes.to(grad.dtype), None


def floor_that_recovers(a: torch.Tensor, floor: float) -> torch.Tensor:
    """The detail floor: never below `floor` forward, never a dead head backward.

    Inference (no gradient) takes the plain clamp, the same values, so that the ONNX and
    torch.export paths see only standard operators."""
    if torch.is_grad_enabled() and a.requires_grad:
        return _FloorThatRecovers.apply(a, floor)
    return a.clamp_min(floor)


class RoundStructure(nn.Module):
    """Per-pixel roundness in [0, 1] of x's green: 1 on dots (microaneurysm, exudate, noise-grain
    sized), 0 on vessels and flat ground. No learned weights.

    Why: a detail gain on 8 px cells sharpens a dot as much as the vessel beside it, and sharpened
    dots are what the lesion-blob measure counts (the tenth round's detail-only run: 824 dots in,
    929 out on real photos). With this map an oriented detail stage sharpens only elongated
    structure; it may still soften dots. Hessian of the masked-blurred green at ROUND_SIGMAS, the
    blob measure's roundness test made soft, the maximum over scales, dilated by one pixel so a
    dot's sharpening ring goes with it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.blurs = nn.ModuleList(MaskedBlur(s) for s in ROUND_SIGMAS)
        self.level = MaskedBlur(LEVEL_SIGMA)
        k = torch.zeros(3, 1, 3, 3)
        k[0, 0, 1] = torch.tensor([1.0, -2.0, 1.0])  # d2/dx2
        k[1, 0, :, 1] = torch.tensor([1.0, -2.0, 1.0])  # d2/dy2
        k[2, 0] = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 1.0]]) / 4.0  # d2/dxdy
        self.register_buffer("hessian", k, persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        green = x[:, 1:2]
        lo = 1.0 / ROUND_EDGE_RATIO
        level = self.level(green, mask).clamp_min(0.02)
        c0, c1 = ROUND_CONTRAST
        rounds = []
        for sigma, blur in zip(ROUND_SIGMAS, self.blurs):
            h = F.conv2d(F.pad(blur(green, mask), (1, 1, 1, 1), mode="replicate"), self.hessian.to(x.dtype))
            dxx, dyy, dxy = h[:, :1], h[:, 1:2], h[:, 2:]
            half_trace = 0.5 * (dxx + dyy).abs()
            spread = torch.sqrt(0.25 * (dxx - dyy) ** 2 + dxy**2 + 1e-12)
            ratio = (half_trace - spread).abs() / (half_trace + spread + 1e-6)  # |small| / |large| curvature
            same_sign = (dxx * dyy - dxy**2 > 0).to(x.dtype)
            strength = ((sigma**2 * 2.0 * half_trace / level - c0) / (c1 - c0)).clamp(0.0, 1.0)
            rounds.append(same_sign * strength * ((ratio - lo) / (0.5 - lo)).clamp(0.0, 1.0))
        r = torch.stack(rounds, dim=0).amax(dim=0)
        return F.max_pool2d(r, 3, stride=1, padding=1) * mask


class StructuredOutput(nn.Module):
    """Composes ``G * (x - V) + D`` from the heads' logits; no learned weights of its own."""

    def __init__(self, detail_floor: float = MIN_DETAIL_GAIN, oriented: bool = False) -> None:
        super().__init__()
        self.detail_floor = float(detail_floor)
        self.fine = MaskedBlur(FINE_SIGMA)
        self.contrast = MaskedBlur(CONTRAST_SIGMA)
        self.round = RoundStructure() if oriented else None
        """With it, a positive detail gain applies only to elongated structure (RoundStructure)."""

    def bands(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x's fine band (x - blur 1.5 px) and local-contrast band (blur 1.5 px - blur 6 px)."""
        b1 = self.fine(x, mask)
        b2 = self.contrast(x, mask)
        return x - b1, b1 - b2

    @staticmethod
    def gain_at_cells(field_logits: torch.Tensor, field_k: int, cells: tuple[int, int]) -> torch.Tensor:
        """log G (B,3,...) on the detail head's 8 px cells, by the same bicubic as the full-size field."""
        return bounded_log_gain(cells_to_pixels(field_logits[:, :3], 4 * field_k // DetailHead.CELL, cells))

    def detail_cues(
        self, x: torch.Tensor, mask: torch.Tensor, bands: tuple[torch.Tensor, torch.Tensor],
        field_logits: torch.Tensor, field_k: int,
    ) -> torch.Tensor:
        """(B, N_CUES, h/8, w/8): mean log G, log(fine energy / contrast energy), log luminance; 0 outside the FOV."""
        k = DetailHead.CELL
        cover = pool_cells(mask, k)
        inside = (cover > 0.5).to(x.dtype)
        denom = cover.clamp_min(1e-3)
        fine, contrast = bands
        e_fine = pool_cells(fine.pow(2).mean(dim=1, keepdim=True) * mask, k) / denom
        e_con = pool_cells(contrast.pow(2).mean(dim=1, keepdim=True) * mask, k) / denom
        lum = pool_cells(x.mean(dim=1, keepdim=True) * mask, k) / denom
        cells = (int(cover.shape[-2]), int(cover.shape[-1]))
        log_g = self.gain_at_cells(field_logits, field_k, cells).mean(dim=1, keepdim=True)
        sharp = torch.log((e_fine + 1e-6) / (e_con + 1e-6))
        dark = torch.log(lum.clamp_min(0.0) + 0.02)
        return torch.cat([log_g, sharp, dark], dim=1) * inside

    def compose(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        field_logits: torch.Tensor,
        field_k: int,
        gain_logits: torch.Tensor,
        residual: torch.Tensor,
        bands: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, Fields]:
        """x (B,3,H,W), mask (B,1,H,W); field logits on cells of 4*field_k px; detail logits on 8 px cells;
        `bands` = self.bands(x, mask), made once for both the detail cues and D."""
        size = (int(x.shape[-2]), int(x.shape[-1]))
        z = cells_to_pixels(field_logits, 4 * field_k, size)
        gain = torch.exp(bounded_log_gain(z[:, :3]))
        x4 = F.avg_pool2d(x, 4)
        m4 = F.avg_pool2d(mask, 4)
        lmin = F.interpolate(local_minimum(x4, (m4 > 0.5).to(x.dtype)), size=size, mode="bilinear", align_corners=False)
        veil = (MIN_VEIL_FRACTION + (MAX_VEIL_FRACTION - MIN_VEIL_FRACTION) * torch.sigmoid(z[:, 3:])) * lmin
        base = torch.maximum(x - veil, (1.0 - MAX_VEIL_FRACTION) * x)
        fine_band, contrast_band = bands
        a = MIN_DETAIL_GAIN + (MAX_DETAIL_GAIN - MIN_DETAIL_GAIN) * torch.sigmoid(
            F.interpolate(gain_logits, scale_factor=DetailHead.CELL, mode="bilinear", align_corners=False)[..., : size[0], : size[1]]
        )
        if self.detail_floor > MIN_DETAIL_GAIN:
            a = floor_that_recovers(a, self.detail_floor)  # no logit takes a band below it, none is frozen there
        applied = a
        if self.round is not None:
            with torch.no_grad():
                roundness = self.round(x, mask)
            applied = a - roundness * a.clamp_min(0.0)  # round dots keep only a softening gain
        r = residual - self.contrast(residual, mask)
        detail = gain * (applied[:, :1] * fine_band + applied[:, 1:2] * contrast_band + r) * mask
        out = gain * base + detail
        return out, Fields(gain, veil, a, detail)
