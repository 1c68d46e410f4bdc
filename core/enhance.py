"""Enhancer: run MAGE-Net on a photo and return the result at its full original resolution.

The network sees the field of view (FOV) squared and resized to a working resolution,
so it always has the whole retina as global context. Two ways back to full size:

- fast (default): the correction the network made at working resolution is fitted as
  local linear maps (a, b) and applied to the full-resolution photo (guided upsampling,
  core.imaging.guided_upsample), so detail comes from the original pixels.
- tiled (high quality): the network runs at a higher resolution in overlapping tiles
  blended with smooth weights, then the same guided step reaches full resolution.

Outside the FOV the output stays black. Inference is deterministic (eval mode, no dropout).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import cv2
import numpy as np
import torch

from core.device import DeviceChoice, choose_device
from core.errors import Cancelled, FundusError, ModelError
from core.imaging.fov import FieldOfView, SquareFrame, detect_fov
from core.imaging.guided_upsample import apply_upsampled, local_linear_coefficients
from core.imaging.types import FundusImage
from core.progress import ProgressCallback, StopCallback, check_stop, report
from core.provenance import build_provenance

MODES = ("fast", "tiled")


@dataclass(frozen=True)
class EnhanceSettings:
    """Everything that changes the output, recorded in provenance and cache keys."""

    mode: str = "fast"
    working_size: int = 512  # FOV diameter the network sees (its training scale)
    guide_radius: int = 2  # window radius of the local linear fit, working-res pixels
    guide_eps: float = 1e-4
    tiled_scale: float = 2.0  # tiled mode: network resolution = working_size * tiled_scale (capped at native)
    tile_size: int = 384
    tile_overlap: int = 64

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class EnhancementResult:
    pixels: np.ndarray  # same shape and dtype as the input photo
    fov: FieldOfView
    settings: EnhanceSettings
    device: str
    model_info: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return self.settings.mode

    def provenance(self, image: FundusImage) -> dict[str, Any]:
        """The sidecar record of what made this output."""
        return build_provenance(
            input_sha256=image.source_sha256,
            input_path=image.source_path,
            model=self.model_info,
            device=self.device,
            parameters={**self.settings.to_dict(), "bit_depth": image.bit_depth},
            extra={"timings_s": {k: round(v, 4) for k, v in self.timings.items()}},
        )


def _model_image(output: Any) -> torch.Tensor:
    """The final image of a model output (MageNetOutput, or a bare tensor for simple models)."""
    return output if isinstance(output, torch.Tensor) else output.image


def _feather(size: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D blending weights: a raised-cosine ramp over the overlap on every side that has a
    neighbouring tile, flat 1 on sides at the image edge, so tiles cross-fade seamlessly."""
    w = np.ones(size, np.float32)
    if overlap > 0:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)
        if not at_start:
            w[:overlap] = ramp
        if not at_end:
            w[-overlap:] = ramp[::-1]
    return w


def _tile_starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return sorted(set(starts))


class Enhancer:
    """Owns one loaded model on one device; enhance as many photos as you like with it."""

    def __init__(
        self,
        model: Any = None,
        device: str = "auto",
        registry: Any = None,
        settings: EnhanceSettings | None = None,
    ) -> None:
        from core.models.registry import ModelRegistry  # noqa: PLC0415 - keeps import light for tests

        registry = registry or ModelRegistry()
        installed = model
        if installed is None:
            installed = registry.active("enhancer")
            if installed is None:
                raise ModelError(
                    "No MAGE-Net model is installed. Install one with the model manager "
                    "(or `fundus-studio models`)."
                )
        elif isinstance(installed, str):
            name, _, version = installed.partition("@")
            installed = registry.get(name, version or None)
        self.device_choice: DeviceChoice = choose_device(device)
        module = registry.load(installed, device="cpu")
        card = installed.card
        inference = dict(getattr(card, "config", {}).get("inference", {})) if card else {}
        base = settings or EnhanceSettings()
        if "working_size" in inference and settings is None:
            base = EnhanceSettings(working_size=int(inference["working_size"]))
        self._setup(module, self._card_info(card, installed), base)

    @classmethod
    def from_module(
        cls,
        module: torch.nn.Module,
        card: Any = None,
        device: str = "cpu",
        settings: EnhanceSettings | None = None,
    ) -> "Enhancer":
        """Wrap an already built model (tests, training previews, evaluation)."""
        self = cls.__new__(cls)
        self.device_choice = choose_device(device)
        self._setup(module, cls._card_info(card, None), settings or EnhanceSettings())
        return self

    @staticmethod
    def _card_info(card: Any, installed: Any) -> dict[str, Any]:
        if card is None:
            return {"name": "unnamed", "version": "0", "weights_sha256": None}
        return {
            "name": card.name,
            "version": card.version,
            "weights_sha256": card.sha256,
            "architecture": getattr(card, "architecture", None),
        }

    def _setup(self, module: torch.nn.Module, info: dict[str, Any], settings: EnhanceSettings) -> None:
        self.model = module.to(self.device_choice.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model_info = info
        self.settings = settings

    @property
    def device(self) -> str:
        return self.device_choice.device

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def _run(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Network on one float32 HxWx3 array (any size); returns HxWx3 float32."""
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(self.device)
        m = torch.from_numpy(mask.astype(np.float32))[None, None].to(self.device)
        y = _model_image(self.model(x, m))
        return y[0].float().clamp_(0, 1).permute(1, 2, 0).cpu().numpy()

    def _run_tiled(
        self,
        rgb: np.ndarray,
        mask: np.ndarray,
        s: EnhanceSettings,
        progress: ProgressCallback | None,
        should_stop: StopCallback | None,
        done0: int,
        total: int,
    ) -> np.ndarray:
        h, w = rgb.shape[:2]
        tile = min(s.tile_size, h, w)
        overlap = min(s.tile_overlap, tile // 4)
        step = tile - overlap
        ys, xs = _tile_starts(h, tile, step), _tile_starts(w, tile, step)
        acc = np.zeros((h, w, 3), np.float32)
        wsum = np.zeros((h, w, 1), np.float32)
        for i, (y0, x0) in enumerate((y, x) for y in ys for x in xs):
            check_stop(should_stop)
            sl = (slice(y0, y0 + tile), slice(x0, x0 + tile))
            if not mask[sl].any():
                report(progress, done0 + i + 1, total, "outside the field of view")
                continue
            out = self._run(rgb[sl], mask[sl])
            wy = _feather(tile, overlap, y0 == 0, y0 + tile == h)
            wx = _feather(tile, overlap, x0 == 0, x0 + tile == w)
            wt = (wy[:, None] * wx[None, :])[..., None]
            acc[sl] += out * wt
            wsum[sl] += wt
            report(progress, done0 + i + 1, total, f"tile {i + 1} of {len(ys) * len(xs)}")
        out = acc / np.maximum(wsum, 1e-6)
        return np.where(wsum > 0, out, rgb)

    def tile_count(self, square_side: int) -> int:
        s = self.settings
        size = self._network_size(square_side, s)
        tile = min(s.tile_size, size)
        step = tile - min(s.tile_overlap, tile // 4)
        return len(_tile_starts(size, tile, step)) ** 2

    @staticmethod
    def _network_size(square_side: int, s: EnhanceSettings) -> int:
        if s.mode == "tiled":
            size = int(round(s.working_size * s.tiled_scale))
            return max(8, min(size, square_side) // 8 * 8)
        return s.working_size

    def enhance(
        self,
        image: FundusImage,
        mode: str | None = None,
        progress: ProgressCallback | None = None,
        should_stop: StopCallback | None = None,
    ) -> EnhancementResult:
        """Enhance one photo; the result has the photo's size, dtype and bit depth."""
        s = self.settings if mode is None else EnhanceSettings(**{**self.settings.to_dict(), "mode": mode})
        if s.mode not in MODES:
            raise ValueError(f"Unknown mode {s.mode!r}: choose fast or tiled.")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        rgb = image.pixels
        fov = detect_fov(rgb)
        frame = SquareFrame.from_fov(fov, rgb.shape)
        sq_mask = frame.to_square(fov.mask)
        side = sq_mask.shape[0]
        size = self._network_size(side, s)
        n_tiles = self.tile_count(side) if s.mode == "tiled" else 1
        total = n_tiles + 2
        report(progress, 0, total, "finding the field of view")
        check_stop(should_stop)
        square = frame.to_square(rgb).astype(np.float32)
        square *= 1.0 / image.max_value
        small = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
        small_mask = cv2.resize(sq_mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0.5
        small *= small_mask[..., None]
        timings["prepare"] = time.perf_counter() - t0
        report(progress, 1, total, "enhancing")
        check_stop(should_stop)

        t1 = time.perf_counter()
        if s.mode == "tiled":
            out_small = self._run_tiled(small, small_mask, s, progress, should_stop, 1, total)
        else:
            out_small = self._run(small, small_mask)
        timings["inference"] = time.perf_counter() - t1
        check_stop(should_stop)

        t2 = time.perf_counter()
        # Radius scales with the network resolution so the fit covers the same retinal area.
        radius = max(1, int(round(s.guide_radius * size / s.working_size)))
        a, b = local_linear_coefficients(small, out_small, radius, s.guide_eps, weight=small_mask)
        full = apply_upsampled(square, a, b, out=square)  # in place: square is no longer needed
        full *= sq_mask[..., None]
        np.clip(full, 0.0, 1.0, out=full)
        back = frame.from_square(full, fill=0.0)
        pixels = np.rint(back * image.max_value).astype(image.pixels.dtype)
        timings["upsample"] = time.perf_counter() - t2
        timings["total"] = time.perf_counter() - t0
        report(progress, total, total, "done")
        return EnhancementResult(
            pixels=pixels,
            fov=fov,
            settings=s,
            device=self.device,
            model_info=dict(self.model_info),
            timings=timings,
        )

    def enhance_many(
        self,
        images: Iterable[FundusImage],
        mode: str | None = None,
        progress: ProgressCallback | None = None,
        should_stop: StopCallback | None = None,
    ) -> Iterator[EnhancementResult | FundusError]:
        """Enhance several photos with the model loaded once; a failure is yielded, not raised."""
        items = list(images)
        for i, image in enumerate(items):
            check_stop(should_stop)
            report(progress, i, len(items), image.name)
            try:
                yield self.enhance(image, mode=mode, should_stop=should_stop)
            except Cancelled:
                raise
            except FundusError as err:
                yield err
        report(progress, len(items), len(items), "done")
