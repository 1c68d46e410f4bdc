"""MAGE-Net: multi-stage, multi-attention guided enhancement network.

Our design after Guo et al. (IEEE TMI 2023), as set out in
shared/design/MAGE-NET.md section 2:

- stage 1 at 1/4 and stage 2 at 1/2 resolution: small 3-level U-Nets of CABs,
  skips through a CAB, a SAM that emits the stage's image; stage 2 also gets
  stage 1's encoder and decoder features (1x1 conv, upsampled, added) and its
  SAM features (cross-stage fusion);
- stage 3, the retinal structure preservation (RSP) module, at the full working
  resolution with no downsampling: residual groups of CABs + spatial attention,
  fed with stage 2's SAM features and a structure prior (Sobel gradient
  magnitude of the green channel), with a structure head (vessel logits);
- optionally (``global_channels`` > 0, our addition) a whole-image colour head
  that corrects the output's illumination and colour with a smooth gain/offset
  field seen from a thumbnail of the whole image (core.models.global_colour);
- final image = input + predicted residual (then the colour head), clamped to
  [0, 1], times the FOV mask.

Global context (illumination, haze, colour) is cheap to model at low
resolution, so the capacity sits in stages 1 and 2; the full-resolution RSP
stage dominates the cost and is kept narrow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.models.blocks import CAB, SAM, Down, ResidualGroup, Up, conv3x3
from core.models.global_colour import GlobalColour
from core.models.structured import DetailHead, FieldHead, Fields, StructuredOutput
from core.structured_bounds import MIN_DETAIL_GAIN

PAD_MULTIPLE = 8
OUTPUT_FORMS = ("residual", "structured")
"""Inputs are reflect-padded to a multiple of this inside forward (stage 1 runs at 1/4)."""


@dataclass
class MageNetConfig:
    """Every size of the network; stored in the model card so weights rebuild exactly."""

    stage1_channels: tuple[int, int, int] = (48, 72, 96)
    """Widths of stage 1's three U-Net levels (1/4, 1/8, 1/16 of the working resolution)."""
    stage2_channels: tuple[int, int, int] = (32, 48, 64)
    """Widths of stage 2's three U-Net levels (1/2, 1/4, 1/8)."""
    stage1_cabs: int = 2
    """CABs per encoder level and per decoder level in stage 1."""
    stage2_cabs: int = 1
    rsp_channels: int = 16
    """Width of the full-resolution RSP stage: the main driver of CPU time."""
    rsp_groups: int = 2
    rsp_cabs: int = 2
    """CABs per RSP residual group."""
    reduction: int = 4
    """Channel attention squeeze ratio (C -> C/reduction)."""
    sa_kernel: int = 7
    structure_hidden: int = 8
    """Width of the structure head's hidden layer."""
    global_channels: int = 0
    """Width of the whole-image colour head (core.models.global_colour); 0 = no head (cards before 1.2)."""
    global_size: int = 128
    """Side of the thumbnail the colour head sees; its gain/offset field is a quarter of that."""
    output_form: str = "residual"
    """"residual" (cards before 2.0: input + free residual) or "structured": G * (x - V) + D with
    bounded smooth fields and a bounded detail stage (core.models.structured; MAGE-NET.md section 6)."""
    field_cell: int = 80
    """Structured form: width in working-resolution px of the cells G and V are predicted on
    (80 px = about 1/6 of the 512 px FOV); a multiple of 4."""
    detail_cues: bool = False
    """Structured form: the detail head also sees explicit per-cell cues (G, sharpness, darkness;
    core.models.structured.DetailHead). False for cards before 2.1."""
    detail_floor: float = MIN_DETAIL_GAIN
    """Structured form: lowest detail-band gain the stage may use, MIN_DETAIL_GAIN (cards before 2.2:
    it may soften a band by up to 30 %) .. 0 (it may only sharpen). Why 0: 2.1's small negative gains
    on sharp-looking photos faded faint dark dots under the lesion detector's threshold."""
    detail_oriented: bool = False
    """Structured form: a positive detail gain sharpens only elongated structure, never a round dot
    (core.models.structured.RoundStructure). False for cards before 2.3. Why: sharpening added
    lesion-like dots on real photos (blob ratio 1.111 in the tenth round's detail-only run)."""

    def __post_init__(self) -> None:
        self.stage1_channels = tuple(int(c) for c in self.stage1_channels)  # type: ignore[assignment]
        self.stage2_channels = tuple(int(c) for c in self.stage2_channels)  # type: ignore[assignment]
        if len(self.stage1_channels) != 3 or len(self.stage2_channels) != 3:
            raise ValueError("stage1_channels and stage2_channels need exactly three widths (three U-Net levels)")
        ints = [*self.stage1_channels, *self.stage2_channels, self.rsp_channels, self.reduction, self.structure_hidden]
        if min(ints) < 1 or min(self.stage1_cabs, self.stage2_cabs, self.rsp_groups, self.rsp_cabs) < 1:
            raise ValueError("MAGE-Net widths and block counts must be positive")
        if self.sa_kernel < 1 or self.sa_kernel % 2 == 0:
            raise ValueError("sa_kernel must be a positive odd number")
        if self.global_channels < 0 or self.global_size < 16 or self.global_size % 16:
            raise ValueError("global_channels must be >= 0 and global_size a positive multiple of 16")
        if self.output_form not in OUTPUT_FORMS:
            raise ValueError(f"output_form must be one of {', '.join(OUTPUT_FORMS)}, got {self.output_form!r}")
        if self.output_form == "structured" and self.global_channels:
            raise ValueError("the whole-image colour head belongs to the residual form; the structured form has its own fields")
        if self.field_cell < 32 or self.field_cell % 4:
            raise ValueError("field_cell must be a multiple of 4 and at least 32 px (the fields must stay smooth)")
        if self.detail_cues and (self.output_form != "structured" or self.field_cell % 8):
            raise ValueError("detail_cues need the structured form and a field_cell that is a multiple of 8 px (the detail cells)")
        self.detail_floor = float(self.detail_floor)
        if not MIN_DETAIL_GAIN <= self.detail_floor <= 0.0:
            raise ValueError(f"detail_floor must lie in {MIN_DETAIL_GAIN}..0 (0 = the detail stage never softens)")
        if self.detail_oriented and self.output_form != "structured":
            raise ValueError("detail_oriented needs the structured form (it shapes the detail stage's gains)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stage1_channels"] = list(self.stage1_channels)
        d["stage2_channels"] = list(self.stage2_channels)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MageNetConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown MAGE-Net config keys: {', '.join(unknown)}")
        return cls(**dict(data))


PRESETS: dict[str, MageNetConfig] = {
    # CPU and laptop: ~1.8 M parameters, narrow full-resolution stage.
    "mage-s": MageNetConfig(
        stage1_channels=(48, 80, 112),
        stage2_channels=(32, 48, 64),
        stage1_cabs=2,
        stage2_cabs=1,
        rsp_channels=16,
        rsp_groups=2,
        rsp_cabs=2,
        output_form="structured",
    ),
    # Paper-sized, for GPU sites: ~14 M parameters.
    "mage": MageNetConfig(
        stage1_channels=(96, 160, 224),
        stage2_channels=(64, 96, 128),
        stage1_cabs=3,
        stage2_cabs=2,
        rsp_channels=32,
        rsp_groups=3,
        rsp_cabs=3,
        structure_hidden=16,
        output_form="structured",
    ),
}


def preset(name: str) -> MageNetConfig:
    """A fresh copy of a named preset (so callers may change it)."""
    try:
        return MageNetConfig.from_dict(PRESETS[name].to_dict())
    except KeyError:
        raise ValueError(f"unknown MAGE-Net preset {name!r}; choose one of {', '.join(PRESETS)}") from None


class MageNetOutput(NamedTuple):
    """What one forward pass gives.

    image: final enhanced image (B,3,H,W) in [0,1], zero outside the FOV.
    stages: [stage 1 image at 1/4 (B,3,ceil(H/4),ceil(W/4)), stage 2 image at 1/2
        (B,3,ceil(H/2),ceil(W/2)), stage 3 image = `image`]. Stage 1 and 2 images
        are the raw SAM outputs (input + correction): not clamped and not masked,
        so their losses keep a gradient; mask them with the FOV in the loss.
    structure_logits: (B,1,H,W) vessel/structure logits of the RSP structure head.
    fields: the structured form's G, V and detail gains (None for the residual form); the
        teacher-student field consistency compares them.
    """

    image: torch.Tensor
    stages: list[torch.Tensor]
    structure_logits: torch.Tensor
    fields: Fields | None = None

    def rows(self, start: int, stop: int | None = None) -> "MageNetOutput":
        """The same output for batch rows start:stop (a student pass that ran two batches at once)."""
        sl = slice(start, stop)
        fields = None if self.fields is None else Fields(*(t[sl] for t in self.fields))
        return MageNetOutput(self.image[sl], [s[sl] for s in self.stages], self.structure_logits[sl], fields)


class UNetStage(nn.Module):
    """Stage 1 or 2: three-level U-Net of CABs, skips through a CAB, SAM output.

    With `prev_channels` it takes the previous stage's encoder and decoder
    features (cross-stage fusion) and with `prev_sam_channels` its SAM features.
    """

    def __init__(
        self,
        channels: tuple[int, int, int],
        n_cabs: int,
        reduction: int,
        prev_channels: tuple[int, int, int] | None = None,
        prev_sam_channels: int | None = None,
    ) -> None:
        super().__init__()
        c = channels

        def cabs(width: int) -> nn.Sequential:
            return nn.Sequential(*[CAB(width, reduction) for _ in range(n_cabs)])

        self.shallow = nn.Sequential(conv3x3(3, c[0]), CAB(c[0], reduction))
        self.from_prev_sam = Up(prev_sam_channels, c[0]) if prev_sam_channels else None
        self.encoders = nn.ModuleList([cabs(w) for w in c])
        self.downs = nn.ModuleList([Down(c[0], c[1]), Down(c[1], c[2])])
        self.decoders = nn.ModuleList([cabs(w) for w in c])
        self.ups = nn.ModuleList([Up(c[1], c[0]), Up(c[2], c[1])])
        self.skips = nn.ModuleList([CAB(c[0], reduction), CAB(c[1], reduction)])
        if prev_channels is not None:
            self.csff_enc = nn.ModuleList([Up(p, w) for p, w in zip(prev_channels, c)])
            self.csff_dec = nn.ModuleList([Up(p, w) for p, w in zip(prev_channels, c)])
        else:
            self.csff_enc = None
            self.csff_dec = None
        self.sam = SAM(c[0])

    def forward(
        self,
        image: torch.Tensor,
        prev: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None,
        prev_sam: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Returns (SAM features, stage image, encoder features, decoder features)."""
        x = self.shallow(image)
        if self.from_prev_sam is not None:
            if prev_sam is None:
                raise ValueError("this stage needs the previous stage's SAM features")
            x = x + self.from_prev_sam(prev_sam, x.shape[-2:])
        enc: list[torch.Tensor] = []
        for level, encoder in enumerate(self.encoders):
            if level > 0:
                x = self.downs[level - 1](x)
            x = encoder(x)
            if self.csff_enc is not None and self.csff_dec is not None:
                if prev is None:
                    raise ValueError("this stage needs the previous stage's encoder and decoder features")
                size = x.shape[-2:]
                x = x + self.csff_enc[level](prev[0][level], size) + self.csff_dec[level](prev[1][level], size)
            enc.append(x)
        dec: list[torch.Tensor] = [torch.empty(0)] * 3
        y = self.decoders[2](enc[2])
        dec[2] = y
        for level in (1, 0):
            y = self.ups[level](y, enc[level].shape[-2:]) + self.skips[level](enc[level])
            y = self.decoders[level](y)
            dec[level] = y
        features, stage_image = self.sam(y, image)
        return features, stage_image, enc, dec


class RSP(nn.Module):
    """Stage 3, retinal structure preservation: full resolution, no downsampling.

    Input: the image, its structure prior and stage 2's SAM features; output: a
    residual image and structure (vessel) logits from the same features, so the
    features that make the residual must also encode the vessels.
    """

    def __init__(self, cfg: MageNetConfig) -> None:
        super().__init__()
        c = cfg.rsp_channels
        self.shallow = conv3x3(4, c)
        self.from_stage2 = Up(cfg.stage2_channels[0], c)
        self.groups = nn.Sequential(
            *[ResidualGroup(c, cfg.rsp_cabs, cfg.reduction, cfg.sa_kernel) for _ in range(cfg.rsp_groups)]
        )
        self.structured = cfg.output_form == "structured"
        if self.structured:
            self.detail = DetailHead(c, cues=cfg.detail_cues)
        else:
            self.to_residual = conv3x3(c, 3, bias=True)
        h = cfg.structure_hidden
        self.structure_head = nn.Sequential(conv3x3(c, h, bias=True), nn.PReLU(h), nn.Conv2d(h, 1, 1, bias=True))

    def features(self, image: torch.Tensor, prior: torch.Tensor, stage2_features: torch.Tensor) -> torch.Tensor:
        x = self.shallow(torch.cat([image, prior], dim=1))
        x = x + self.from_stage2(stage2_features, x.shape[-2:])
        return self.groups(x)

    def forward(
        self, image: torch.Tensor, prior: torch.Tensor, stage2_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, structure logits): the image head is the network's (residual or structured)."""
        x = self.features(image, prior, stage2_features)
        return x, self.structure_head(x)


class StructurePrior(nn.Module):
    """Sobel gradient magnitude of the green channel (where vessels have the most contrast)."""

    def __init__(self) -> None:
        super().__init__()
        gx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
        kernel = torch.stack([gx, gx.t()]).unsqueeze(1)  # (2,1,3,3)
        self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        green = F.pad(image[:, 1:2], (1, 1, 1, 1), mode="replicate")
        g = F.conv2d(green, self.kernel.to(image.dtype))
        return torch.sqrt((g * g).sum(dim=1, keepdim=True) + 1e-8)


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"  # reflect needs pad < size
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _fov_tensor(fov: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if fov.dim() == 3:
        fov = fov.unsqueeze(1)
    if fov.dim() != 4 or fov.shape[1] != 1 or tuple(fov.shape[-2:]) != tuple(like.shape[-2:]):
        raise ValueError(f"fov must be (B,1,H,W) matching the image {tuple(like.shape)}, got {tuple(fov.shape)}")
    return fov.to(device=like.device, dtype=like.dtype)


class MageNet(nn.Module):
    """MAGE-Net. `forward(x, fov=None)`: x (B,3,H,W) RGB in [0,1], fov (B,1,H,W) mask or None."""

    def __init__(self, config: MageNetConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else preset("mage-s")
        self.config = cfg
        self.prior = StructurePrior()
        self.stage1 = UNetStage(cfg.stage1_channels, cfg.stage1_cabs, cfg.reduction)
        self.stage2 = UNetStage(
            cfg.stage2_channels,
            cfg.stage2_cabs,
            cfg.reduction,
            prev_channels=cfg.stage1_channels,
            prev_sam_channels=cfg.stage1_channels[0],
        )
        self.stage3 = RSP(cfg)
        self.global_head = (
            GlobalColour(cfg.global_channels, cfg.global_size, cfg.reduction) if cfg.global_channels else None
        )
        self.structured = cfg.output_form == "structured"
        if self.structured:
            self.field_head = FieldHead(cfg.stage1_channels[0], cfg.stage2_channels[0], cfg.field_cell)
            self.compose = StructuredOutput(cfg.detail_floor, cfg.detail_oriented)

    @classmethod
    def from_config(cls, config: MageNetConfig | Mapping[str, Any] | str | None = None) -> "MageNet":
        """Build from a config object, its dict form (model cards) or a preset name."""
        if config is None or isinstance(config, MageNetConfig):
            return cls(config)
        if isinstance(config, str):
            return cls(preset(config))
        return cls(MageNetConfig.from_dict(config))

    def final_image(
        self, xp: torch.Tensor, residual: torch.Tensor, size: tuple[int, int], fov: torch.Tensor | None
    ) -> torch.Tensor:
        """Residual form: padded input + residual, the colour head, clamp, crop to the FOV's size and mask.

        The colour head runs in its own dtype (float32 even in a bfloat16 graph: its gain multiplies
        the whole image, so its rounding would show everywhere; it costs ~3 % of the network).
        """
        h, w = int(size[0]), int(size[1])
        out = xp + residual.to(xp.dtype)
        if self.global_head is not None:
            dt = self.global_head.to_field.weight.dtype
            mp = None if fov is None else F.pad(fov.to(dt), (0, xp.shape[-1] - w, 0, xp.shape[-2] - h))
            out = self.global_head(xp.to(dt), out.to(dt), mp).to(xp.dtype)
        out = torch.clamp(out, 0.0, 1.0)[..., :h, :w]
        return out if fov is None else out * fov.to(out.dtype)

    def structured_image(
        self, xp: torch.Tensor, fov: torch.Tensor | None, size: tuple[int, int], f1: torch.Tensor,
        f2: torch.Tensor, rsp_features: torch.Tensor,
    ) -> tuple[torch.Tensor, Fields]:
        """Structured form: G * (x - V) + D from the stages' features, clamped, cropped and masked.

        The heads and the composition run in float32 whatever the body's dtype (a bfloat16 graph):
        G multiplies the whole image, so its rounding would show everywhere. Shared with the
        inference graph (core.inference.graph), so every path computes the same image.
        """
        h, w = int(size[0]), int(size[1])
        dt = self.field_head.to_logits.weight.dtype
        x = xp.to(dt)
        mask = torch.ones_like(x[:, :1]) if fov is None else F.pad(fov.to(dt), (0, x.shape[-1] - w, 0, x.shape[-2] - h))
        x4 = F.avg_pool2d(x, 4)
        m4 = F.avg_pool2d(mask, 4)
        f2_at4 = F.avg_pool2d(f2.to(dt), 2)
        f1 = f1.to(dt)
        if f2_at4.shape[-2:] != f1.shape[-2:]:
            f2_at4 = F.interpolate(f2_at4, size=f1.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.field_head(f1, f2_at4, x4, m4)
        bands = self.compose.bands(x, mask)
        cues = self.compose.detail_cues(x, mask, bands, logits, self.field_head.k) if self.stage3.detail.uses_cues else None
        gain_logits, residual = self.stage3.detail(rsp_features.to(dt), cues)
        out, fields = self.compose.compose(x, mask, logits, self.field_head.k, gain_logits, residual, bands)
        out = torch.clamp(out, 0.0, 1.0)[..., :h, :w]
        if fov is not None:
            out = out * fov.to(out.dtype)
        return out.to(xp.dtype), Fields(*(t[..., :h, :w] for t in fields))

    def _body(self, x: torch.Tensor):
        xp = _pad_to_multiple(x, PAD_MULTIPLE)
        x2 = F.avg_pool2d(xp, 2)
        x4 = F.avg_pool2d(xp, 4)
        f1, img1, enc1, dec1 = self.stage1(x4)
        f2, img2, _, _ = self.stage2(x2, prev=(enc1, dec1), prev_sam=f1)
        feat, logits = self.stage3(xp, self.prior(xp), f2)
        return xp, f1, img1, f2, img2, feat, logits

    def forward(self, x: torch.Tensor, fov: torch.Tensor | None = None) -> MageNetOutput:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"MAGE-Net expects a (B,3,H,W) RGB batch, got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        fov_t = None if fov is None else _fov_tensor(fov, x)
        xp, f1, img1, f2, img2, feat, logits = self._body(x)
        fields = None
        if self.structured:
            out, fields = self.structured_image(xp, fov_t, (h, w), f1, f2, feat)
        else:
            out = self.final_image(xp, self.stage3.to_residual(feat), (h, w), fov_t)
        img1 = img1[..., : _ceil_div(h, 4), : _ceil_div(w, 4)]
        img2 = img2[..., : _ceil_div(h, 2), : _ceil_div(w, 2)]
        return MageNetOutput(image=out, stages=[img1, img2, out], structure_logits=logits[..., :h, :w], fields=fields)

    @torch.no_grad()
    def fields(self, x: torch.Tensor, fov: torch.Tensor | None = None) -> Fields:
        """What the structured form did to x: gain, veil, detail gains and D (the "What changed" view)."""
        if not self.structured:
            raise ValueError("only a structured MAGE-Net has fields (this model adds a free residual)")
        h, w = x.shape[-2:]
        fov_t = None if fov is None else _fov_tensor(fov, x)
        xp, f1, _, f2, _, feat, _ = self._body(x)
        return self.structured_image(xp, fov_t, (h, w), f1, f2, feat)[1]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those that require grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
