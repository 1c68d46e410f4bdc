"""Enhancer: run MAGE-Net on a photo and return the result at its full original resolution.

The network sees the field of view (FOV) squared and resized to a working resolution,
so it always has the whole retina as global context. Two ways back to full size:

- fast (default): the correction the network made at working resolution is fitted as
  local linear maps (a, b) and applied to the full-resolution photo (guided upsampling,
  core.imaging.guided_upsample), so detail comes from the original pixels.
- tiled (high quality): the network runs at a higher resolution in overlapping tiles
  blended with smooth weights, then the same guided step reaches full resolution.

Outside the FOV the output stays black. Inference is deterministic (eval mode, no dropout).

How the network runs (eager float32, channels-last, bfloat16, ONNX Runtime, CUDA half
precision...) is an inference path from core.inference: with backend="auto" the fastest
path whose output matches float32 (>= 45 dB) is measured once per machine and model and
cached; `inference_path` says which one is in use, and provenance records it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import cv2
import numpy as np
import torch

from core.choices import MODES
from core.device import DeviceChoice, choose_device
from core.errors import Cancelled, FundusError, ModelError
from core.guard import DEFAULT_GUARD_THRESHOLD, GUARD_MESSAGE, GuardResult, check_output, guard_threshold
from core.imaging.fov import FieldOfView, SquareFrame, detect_fov
from core.imaging.guided_upsample import apply_to_photo, local_linear_coefficients
from core.imaging.low_frequency import carry_low_frequencies
from core.imaging.types import FundusImage
from core.imaging.unrecorded import keep_unrecorded
from core.inference import fixed_backend, select_backend, selector
from core.inference.allocator import tune_malloc
from core.inference.gpu_upsample import apply_to_photo_torch
from core.inference.graph import module_fingerprint
from core.inference.sample import synthetic_input
from core.models.registry import ModelRegistry
from core.progress import ProgressCallback, StopCallback, check_stop, report
from core.provenance import build_provenance

WHOLE_IMAGE_SIGMA = 8.0
"""Tiled mode with a colour head: shading finer than this (px at 512) comes from the tiles, broader from the
whole-image pass (the head's field has 16 px cells at 512, so this carries all of it)."""
BACKENDS = ("auto", "eager", "channels_last", "cpu_bf16", "onnxruntime", "compiled", "compiled_bf16", "aot", "aot_bf16",
            "cuda_fp32", "cuda_fp16", "cuda_bf16")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnhanceSettings:
    """Everything that changes the output, recorded in provenance and cache keys."""

    mode: str = "fast"
    working_size: int = 512  # FOV diameter the network sees (its training scale)
    guide_radius: int = 2  # window radius of the local linear fit, working-res pixels
    guide_eps: float = 1e-4
    tiled_scale: float = 2.0  # tiled mode: network resolution = working_size * tiled_scale (capped at native)
    tile_size: int = 512  # the fastest tiling within 45 dB of the untiled network (docs/performance.md)
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
    inference_path: str = "eager"  # core.inference path name, e.g. "onnxruntime"
    guard_score: float | None = None  # core.guard: band-pass correlation of output vs input (None: not measured)
    guard_flagged: bool = False  # below the model's threshold: show core.guard.GUARD_MESSAGE, never block
    guard_threshold: float | None = None
    guard_threshold_source: str = "default"  # "model card" or "default" (card without a calibration)
    what_changed: "WhatChanged | None" = None  # the structured model's fields, when asked for (the viewer)

    @property
    def guard_message(self) -> str | None:
        """The do-no-harm warning to show with this output, or None."""

        return GUARD_MESSAGE if self.guard_flagged else None

    def guard_record(self) -> dict[str, Any]:
        """The guard entry of the provenance sidecar."""

        t = DEFAULT_GUARD_THRESHOLD if self.guard_threshold is None else self.guard_threshold
        return GuardResult(self.guard_score, t, self.guard_flagged, self.guard_threshold_source).to_dict()

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
            extra={
                "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
                "inference_path": self.inference_path,
                "guard": self.guard_record(),
                **({"fields": self.what_changed.to_dict()} if self.what_changed is not None else {}),
            },
        )


@dataclass
class WhatChanged:
    """What a structured MAGE-Net did to one photo, as maps in the photo's own geometry.

    gain: mean per-channel illumination gain (1 = unchanged); veil: mean veil removed (image
    units); detail_gain: mean of the two detail-band gains (0 = no sharpening). Zero (gain 1)
    outside the FOV. `ranges` gives each map's min and max inside the FOV, for a legend.
    """

    gain: np.ndarray
    veil: np.ndarray
    detail_gain: np.ndarray
    fov: np.ndarray
    ranges: dict[str, tuple[float, float]]

    def to_dict(self) -> dict[str, Any]:
        """The ranges, for provenance and reports."""
        return {k: [round(lo, 4), round(hi, 4)] for k, (lo, hi) in self.ranges.items()}


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
        backend: str = "auto",
    ) -> None:
        """backend: "auto" (measured once per machine and model, then cached), or a path name
        from BACKENDS; a path that cannot run here falls back to float32 with the reason logged."""

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
        self._setup(module, self._card_info(card, installed), base, backend)

    @classmethod
    def from_module(
        cls,
        module: torch.nn.Module,
        card: Any = None,
        device: str = "cpu",
        settings: EnhanceSettings | None = None,
        backend: str = "eager",
    ) -> "Enhancer":
        """Wrap an already built model (tests, training previews, evaluation).

        Eager float32 by default: these callers compare models and want the reference numbers.
        """
        self = cls.__new__(cls)
        self.device_choice = choose_device(device)
        self._setup(module, cls._card_info(card, None), settings or EnhanceSettings(), backend)
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
            **Enhancer._guard_info(card),
        }

    @staticmethod
    def _guard_info(card: Any) -> dict[str, Any]:
        """The card's do-no-harm guard threshold (core.guard; a documented default for older cards)."""

        threshold, source = guard_threshold(card)
        return {"guard_threshold": threshold, "guard_threshold_source": source}

    def _setup(
        self, module: torch.nn.Module, info: dict[str, Any], settings: EnhanceSettings, backend: str = "eager"
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"Unknown inference path {backend!r}: choose one of {', '.join(BACKENDS)}.")
        self.model = module.to(self.device_choice.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.model_info = info
        self.settings = settings
        self.backend_request = backend
        self._inference: dict[int, Any] = {}  # input side -> core.inference.InferenceChoice
        if self.device == "cpu" and backend != "eager":
            tune_malloc()  # activations reuse heap memory instead of fresh pages (docs/performance.md)

    @property
    def device(self) -> str:
        return self.device_choice.device

    # ------------------------------------------------------------------ inference paths
    def _model_key(self) -> str:
        key = self.model_info.get("weights_sha256") or getattr(self, "_fingerprint", None)
        if not key:
            key = self._fingerprint = module_fingerprint(self.model)
        return str(key)

    @property
    def model_key(self) -> str:
        """Identifies the loaded weights (their sha256, else a fingerprint): the key of cached choices
        and compiled packages."""
        return self._model_key()

    @property
    def inference(self) -> Any:
        """The InferenceChoice for the working size (None until the first photo or prepare_inference)."""
        choice = self._inference.get(self.settings.working_size)
        return choice if choice is not None else next(iter(self._inference.values()), None)

    @property
    def inference_path(self) -> str:
        """Short text for the status bar / model info, e.g. 'ONNX Runtime float32 (CPU, 1 thread)'."""
        choice = self.inference
        if choice is not None:
            return choice.label
        if self.backend_request == "auto":
            return "chosen by measurement on the first photo"
        return self.backend_request

    def forget_inference(self) -> None:
        """Drop the chosen inference paths, so the next photo (or prepare_inference) chooses again:
        after `fundus-studio optimise` has built a compiled package, for instance."""
        self._inference.clear()

    def prepare_inference(self, x: torch.Tensor | None = None, fov: torch.Tensor | None = None,
                          progress: Any = None, should_stop: StopCallback | None = None) -> Any:
        """Choose (or load the cached choice of) the inference path for the working size now.

        Without an input, a synthetic fundus-like picture stands in for the photo. Measuring
        asks `should_stop()` between runs and raises Cancelled (nothing chosen) when told to.
        """
        if x is None or fov is None:
            x, fov = synthetic_input(self.settings.working_size)
        return self._choice_for(x, fov, progress, should_stop)

    def _choice_for(self, x: torch.Tensor, m: torch.Tensor, progress: Any = None,
                    should_stop: StopCallback | None = None) -> Any:
        size = int(x.shape[-1])
        choice = self._inference.get(size)
        if choice is not None:
            return choice

        req = self.backend_request
        key = self._model_key()
        if req == "eager":
            req = selector.reference_for(self.device)
        if req == "auto":
            try:
                choice = select_backend(self.model, x, m, device=self.device, model_key=key,
                                        should_stop=should_stop)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - never lose the photo over a faster path
                log.warning("inference path selection failed (%s); using float32", exc)
                choice = fixed_backend(selector.reference_for(self.device), self.model, size, model_key=key,
                                       device=self.device)
                choice.reason = f"selection failed ({exc}); float32"
        else:
            choice = fixed_backend(req, self.model, size, model_key=key, device=self.device)
        if choice.backend.size != size:
            choice.backend.prepare(self.model, size)
        log.info("inference path for %dx%d: %s (%s)", size, size, choice.label, choice.reason)
        self._inference[size] = choice
        return choice

    def _forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S), (B,1,S,S) CPU float32 -> (B,3,S,S) CPU float32 in [0, 1], by the chosen path."""
        backend = self._choice_for(x[:1], m[:1]).backend
        with torch.inference_mode():
            return backend(x, m).clamp_(0, 1)

    # ------------------------------------------------------------------ inference
    def _run(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Network on one float32 HxWx3 array (any size); returns HxWx3 float32."""
        return self._run_batch([rgb], [mask])[0]

    @staticmethod
    def _tensors(rgbs: list[np.ndarray], masks: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(np.stack(rgbs).transpose(0, 3, 1, 2), np.float32))
        m = torch.from_numpy(np.stack(masks).astype(np.float32))[:, None]
        return x, m

    def _run_batch(self, rgbs: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        """Network on same-size float32 HxWx3 arrays in one call; returns HxWx3 float32 each."""
        y = self._forward(*self._tensors(rgbs, masks))
        return list(y.permute(0, 2, 3, 1).numpy())

    def max_batch_for(self, size: int) -> int:
        """Inputs of this side per network call (1 on the CPU; several on a GPU path)."""
        choice = self._inference.get(size)
        return int(getattr(choice.backend, "max_batch", 1)) if choice is not None else 1

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
        n_all = len(ys) * len(xs)
        todo: list[tuple[int, int, int]] = []
        for i, (y0, x0) in enumerate((y, x) for y in ys for x in xs):
            if mask[y0:y0 + tile, x0:x0 + tile].any():
                todo.append((i, y0, x0))
            else:
                report(progress, done0 + i + 1, total, "outside the field of view")
        batch = 1
        k = 0
        while k < len(todo):
            check_stop(should_stop)
            if k == 0:  # the first tile fixes the path; a GPU path then takes several tiles per call
                _, ty, tx = todo[0]
                self._choice_for(*self._tensors([rgb[ty:ty + tile, tx:tx + tile]], [mask[ty:ty + tile, tx:tx + tile]]),
                                 should_stop=should_stop)
                batch = max(1, self.max_batch_for(tile))
            group = todo[k:k + batch]
            outs = self._run_batch([rgb[y0:y0 + tile, x0:x0 + tile] for _, y0, x0 in group],
                                   [mask[y0:y0 + tile, x0:x0 + tile] for _, y0, x0 in group])
            for (i, y0, x0), out in zip(group, outs):
                sl = (slice(y0, y0 + tile), slice(x0, x0 + tile))
                wy = _feather(tile, overlap, y0 == 0, y0 + tile == h)
                wx = _feather(tile, overlap, x0 == 0, x0 + tile == w)
                wt = (wy[:, None] * wx[None, :])[..., None]
                acc[sl] += out * wt
                wsum[sl] += wt
                report(progress, done0 + i + 1, total, f"tile {i + 1} of {n_all}")
            k += len(group)
        out = acc / np.maximum(wsum, 1e-6)
        return np.where(wsum > 0, out, rgb)

    @property
    def has_colour_head(self) -> bool:
        """The model judges colour from the whole image (core.models.global_colour) or from coarse
        fields whose cells are fixed in working-resolution px (the structured form): a tile alone
        would judge its own illumination at the wrong scale."""
        return getattr(self.model, "global_head", None) is not None or bool(getattr(self.model, "structured", False))

    def _needs_whole_image_pass(self, size: int, s: EnhanceSettings) -> bool:
        """Tiled with several tiles and a colour head: the tiles alone cannot see the whole photo."""
        return s.mode == "tiled" and self.has_colour_head and size > max(s.tile_size, s.working_size)

    def _whole_image_colour(self, job: "_Job", tiled: np.ndarray) -> np.ndarray:
        """The tiles' detail with the illumination and colour of one whole-image pass at the working size."""

        n = job.settings.working_size
        mask = cv2.resize(job.small_mask.astype(np.float32), (n, n), interpolation=cv2.INTER_AREA) > 0.5
        rgb = cv2.resize(job.small, (n, n), interpolation=cv2.INTER_AREA) * mask[..., None]
        reference = self._run(rgb, mask)
        sigma = WHOLE_IMAGE_SIGMA * n / 512.0
        return carry_low_frequencies(tiled, job.small_mask, reference, mask, sigma)

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
        job = self._begin(image, mode, progress, should_stop)
        s = job.settings
        t1 = time.perf_counter()
        if s.mode == "tiled":
            out_small = self._run_tiled(job.small, job.small_mask, s, progress, should_stop, 1, job.total)
            if self._needs_whole_image_pass(job.size, s):
                check_stop(should_stop)
                report(progress, job.total - 2, job.total, "whole-image colour")
                out_small = self._whole_image_colour(job, out_small)
        else:
            self._choice_for(*self._tensors([job.small], [job.small_mask]), should_stop=should_stop)  # may measure
            out_small = self._run(job.small, job.small_mask)
        job.timings["inference"] = time.perf_counter() - t1
        check_stop(should_stop)
        return self._finish(job, out_small, progress)

    @property
    def is_structured(self) -> bool:
        """The model has the structured output form, so `what_changed` can show its fields."""
        return bool(getattr(self.model, "structured", False))

    def what_changed(self, image: FundusImage, max_side: int = 1024) -> WhatChanged:
        """The gain, veil and detail-gain fields of this photo (one eager pass at the working size),
        mapped to the photo's geometry and shrunk so the longer side is at most `max_side`.

        Computed on request (the "What changed" view), not on every enhancement: the inference
        paths return only the image."""
        if not self.is_structured:
            raise ModelError("This model has no illumination and detail fields to show (it predates the structured MAGE-Net).")
        job = self._begin(image, "fast", None, None)
        x, m = self._tensors([job.small], [job.small_mask])
        f = self.model.fields(x, m)
        maps = {
            "gain": f.gain[0].mean(dim=0),
            "veil": f.veil[0].mean(dim=0),
            "detail_gain": f.detail_gain[0].mean(dim=0),
        }
        h, w = image.pixels.shape[:2]
        scale = min(1.0, max_side / max(h, w))
        out_hw = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        side = job.frame.side
        photo_fov = cv2.resize(job.fov.mask.astype(np.uint8), out_hw, interpolation=cv2.INTER_NEAREST) > 0
        out: dict[str, np.ndarray] = {}
        ranges: dict[str, tuple[float, float]] = {}
        inside = job.small_mask
        for name, t in maps.items():
            a = t.detach().float().cpu().numpy()
            ranges[name] = (float(a[inside].min()), float(a[inside].max())) if inside.any() else (0.0, 0.0)
            full = job.frame.from_square(cv2.resize(a, (side, side), interpolation=cv2.INTER_LINEAR),
                                         fill=1.0 if name == "gain" else 0.0)
            small = cv2.resize(full.astype(np.float32), out_hw, interpolation=cv2.INTER_AREA)
            out[name] = np.where(photo_fov, small, 1.0 if name == "gain" else 0.0).astype(np.float32)
        return WhatChanged(out["gain"], out["veil"], out["detail_gain"], photo_fov, ranges)

    def _begin(
        self, image: FundusImage, mode: str | None, progress: ProgressCallback | None,
        should_stop: StopCallback | None,
    ) -> "_Job":
        """FOV, square frame and the working-size input of one photo."""
        s = self.settings if mode is None else EnhanceSettings(**{**self.settings.to_dict(), "mode": mode})
        if s.mode not in MODES:
            raise ValueError(f"Unknown mode {s.mode!r}: choose fast or tiled.")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        rgb = image.pixels
        fov = detect_fov(rgb)
        timings["fov"] = time.perf_counter() - t0
        frame = SquareFrame.from_fov(fov, rgb.shape)
        sq_mask = frame.to_square(fov.mask)
        side = sq_mask.shape[0]
        size = self._network_size(side, s)
        n_tiles = self.tile_count(side) if s.mode == "tiled" else 1
        total = n_tiles + 2 + int(self._needs_whole_image_pass(size, s))
        report(progress, 0, total, "finding the field of view")
        check_stop(should_stop)
        square = frame.to_square(rgb).astype(np.float32)
        square *= 1.0 / image.max_value
        small = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
        small_mask = cv2.resize(sq_mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) > 0.5
        small *= small_mask[..., None]
        del square  # the guided step reads the photo itself: no full-size float copy is kept
        timings["prepare"] = time.perf_counter() - t0 - timings["fov"]  # squaring + working-size resize
        report(progress, 1, total, "enhancing")
        check_stop(should_stop)
        return _Job(image, s, fov, frame, sq_mask, small, small_mask, size, total, timings, t0)

    def _finish(self, job: "_Job", out_small: np.ndarray, progress: ProgressCallback | None) -> EnhancementResult:
        """Carry the working-size result to full resolution (guided upsampling) and package it."""
        s, image, timings = job.settings, job.image, job.timings
        t2 = time.perf_counter()
        # Radius scales with the network resolution so the fit covers the same retinal area.
        radius = max(1, int(round(s.guide_radius * job.size / s.working_size)))
        out_small = keep_unrecorded(job.small, out_small, job.small_mask)
        a, b = local_linear_coefficients(job.small, out_small, radius, s.guide_eps, weight=job.small_mask)
        # a * photo + b, FOV-masked, clipped and rounded band by band in the photo's own geometry
        pixels = self._apply(image, job, a, b)
        timings["upsample"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        guard = self._guard(image, pixels, job.fov.mask)
        timings["guard"] = time.perf_counter() - t3
        timings["total"] = time.perf_counter() - job.t0
        report(progress, job.total, job.total, "done")
        choice = self._inference.get(job.size)
        return EnhancementResult(
            pixels=pixels,
            fov=job.fov,
            settings=s,
            device=self.device,
            model_info=dict(self.model_info),
            timings=timings,
            inference_path=choice.name if choice is not None else self.backend_request,
            guard_score=guard.score,
            guard_flagged=guard.flagged,
            guard_threshold=guard.threshold,
            guard_threshold_source=guard.threshold_source,
        )

    def _guard(self, image: FundusImage, pixels: np.ndarray, fov: np.ndarray) -> Any:
        """core.guard on this output (a few ms at 256 px); flags, never blocks."""

        info = self.model_info if "guard_threshold" in self.model_info else self._guard_info(None)
        return check_output(image.pixels, pixels, fov, info["guard_threshold"], info["guard_threshold_source"])

    def _apply(self, image: FundusImage, job: "_Job", a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The full-resolution guided step: on the GPU when the model runs there, else on the CPU."""
        if self.device == "cuda":
            try:
                return apply_to_photo_torch(image.pixels, job.frame, job.sq_mask, a, b, image.max_value, "cuda")
            except RuntimeError as exc:  # e.g. out of GPU memory: the CPU gives the same picture
                log.warning("guided step on the GPU failed (%s); using the CPU", exc)
        return apply_to_photo(image.pixels, job.frame, job.sq_mask, a, b, image.max_value)

    def enhance_many(
        self,
        images: Iterable[FundusImage],
        mode: str | None = None,
        progress: ProgressCallback | None = None,
        should_stop: StopCallback | None = None,
    ) -> Iterator[EnhancementResult | FundusError]:
        """Enhance several photos with the model loaded once; a failure is yielded, not raised.

        In fast mode on a path that batches (GPU), the working-size inputs of several photos
        go through the network in one call.
        """
        items = list(images)
        pending: list[_Job] = []
        done = 0

        def flush() -> Iterator[EnhancementResult | FundusError]:
            if not pending:
                return
            t = time.perf_counter()
            outs = self._run_batch([j.small for j in pending], [j.small_mask for j in pending])
            share = (time.perf_counter() - t) / len(pending)
            for job, out in zip(pending, outs):
                job.timings["inference"] = share
                try:
                    yield self._finish(job, out, None)
                except FundusError as err:
                    yield err
            pending.clear()

        for image in items:
            check_stop(should_stop)
            report(progress, done, len(items), image.name)
            try:
                s_mode = mode or self.settings.mode
                if s_mode != "fast" or self.max_batch_for(self.settings.working_size) <= 1:
                    yield self.enhance(image, mode=mode, should_stop=should_stop)
                    done += 1
                    continue
                pending.append(self._begin(image, mode, None, should_stop))
            except Cancelled:
                raise
            except FundusError as err:
                yield err
                done += 1
                continue
            if len(pending) >= self.max_batch_for(self.settings.working_size):
                done += len(pending)
                yield from flush()
        done += len(pending)
        yield from flush()
        report(progress, len(items), len(items), "done")


@dataclass
class _Job:
    """One photo between preparation and the guided upsampling step."""

    image: FundusImage
    settings: EnhanceSettings
    fov: FieldOfView
    frame: SquareFrame
    sq_mask: np.ndarray
    small: np.ndarray
    small_mask: np.ndarray
    size: int
    total: int
    timings: dict[str, float]
    t0: float
