"""Synthetic degradation of clean fundus photographs (MAGE-NET.md section 4).

Training pairs (degraded, clean) come from here, and the synthetic test set of
the evaluation protocol is made here with fixed seeds. The model follows Shen et
al., "Modeling and Enhancing Low-Quality Retinal Fundus Images" (TMI 2021):

* ``i`` illumination: brightness / contrast / saturation jitter, a coloured halo
  at the FOV rim, and a dark patch near the centre (only when the photo is bright
  enough, mean FOV brightness > 0.25);
* ``s`` spots: 5-10 whitish, soft-edged discs (dust and reflections);
* ``b`` blur: Gaussian defocus, and (with probability ``haze_probability``) a
  cataract-like haze, a blend toward a blurred, yellowed copy.

Any of the 7 non-empty combinations ("i", "s", "b", "is", "ib", "sb", "isb") is
applied in that order, then the FOV mask, then optional JPEG re-encoding.

Every length is stored relative to the FOV diameter (or in "reference pixels",
pixels of a 512-px FOV, for the defocus sigma), so the same parameters degrade a
1024 px photo like an upscaled 512 px one. ``degrade`` returns fully resolved
parameters (the image-dependent strengths filled in): passing them back through
``params=`` reproduces the output bit for bit. They are JSON-serialisable with
``DegradeParams.to_dict`` / ``from_dict``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from core.errors import UnsupportedImageError

COMBINATIONS: tuple[str, ...] = ("i", "s", "b", "is", "ib", "sb", "isb")
PARAMS_VERSION = 1
REFERENCE_DIAMETER = 512.0  # the card's numbers are for a 512 px FOV
_LUMA = np.array([[0.299, 0.587, 0.114]], np.float32)  # ITU-R 601, as torchvision
_DARK_BLUE_GREY = (1.15, 0.85, 0.5)  # real dark patches lose red more than blue
_GRID = 128  # low-frequency fields are drawn on a grid where the FOV is this many px wide

# Halo tints of Shen et al. (white, cyan, yellow-green); the real EyePACS photos
# show cyan rims most often, then white/yellowish ones.
HALO_TINTS: tuple[tuple[float, float, float], ...] = (
    (251 / 255, 249 / 255, 246 / 255),
    (141 / 255, 238 / 255, 238 / 255),
    (177 / 255, 195 / 255, 147 / 255),
)


# ----------------------------------------------------------------------------- parameters


@dataclass
class ColorParams:
    """Global jitter factors, applied in this order, each as torchvision does (clamped).

    white_balance (our addition): a colour cast, as the real photos range from pink
    to green-grey; applied first, normalised so it leaves the brightness alone.
    """

    brightness: float
    contrast: float
    saturation: float
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel gains, luma-neutral


@dataclass
class HaloParams:
    """Coloured glow at the FOV rim: a blurred ring outside a circle of `inner_diameter`."""

    inner_diameter: float  # relative to the FOV diameter
    offset: tuple[float, float]  # ring centre offset from the FOV centre, relative to the diameter
    softness: float  # Gaussian edge sigma, relative to the FOV diameter
    tint: tuple[float, float, float]
    gain: float  # strength = gain * mean FOV brightness (after the colour jitter)
    strength: float | None = None  # resolved by degrade()


@dataclass
class DarkPatchParams:
    """Soft dark disc near the centre (uneven illumination)."""

    diameter: float  # relative to the FOV diameter
    offset: tuple[float, float]
    softness: float  # Gaussian edge sigma, relative to the FOV diameter
    base: float  # strength = -(base + slope * mean) when mean FOV brightness > 0.25, else 0
    slope: float
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel weights of the darkening
    strength: float | None = None  # resolved by degrade(); 0.0 means "not applied"


@dataclass
class Spot:
    """One whitish soft disc."""

    x: float  # centre, relative to the FOV centre and diameter
    y: float
    diameter: float  # relative to the FOV diameter
    softness: float  # edge sigma, relative to the FOV diameter
    amplitude: float  # added to every channel at the disc centre


@dataclass
class HazeParams:
    """Cataract-like veil: out = (1 - a) * img + a * gain * tint * blur(mean of RGB).

    The veil is light scattered by a clouded, yellowed lens: a blurred copy of the
    image's brightness, coloured by the lens (tint), not by the retina.
    """

    strength: float  # a at the FOV centre
    falloff: float  # a drops by this fraction toward the rim (cataract haze is central)
    sigma: float  # blur of the veil, relative to the FOV diameter
    tint: tuple[float, float, float]
    gain: float


@dataclass
class DegradeParams:
    """Everything needed to reproduce one degradation exactly (JSON-serialisable)."""

    combination: str
    color: ColorParams | None = None
    halo: HaloParams | None = None
    dark_patch: DarkPatchParams | None = None
    spots: list[Spot] = field(default_factory=list)
    defocus_sigma: float | None = None  # Gaussian sigma in reference px (512-px FOV)
    haze: HazeParams | None = None
    jpeg_quality: int | None = None
    image_shape: tuple[int, int] | None = None  # (H, W) the parameters were drawn for; informative
    version: int = PARAMS_VERSION

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DegradeParams":
        if int(d.get("version", PARAMS_VERSION)) != PARAMS_VERSION:
            raise ValueError(f"degradation parameters of version {d.get('version')} are not supported")

        def opt(klass, key):
            v = d.get(key)
            if v is None:
                return None
            v = dict(v)
            for k in ("offset", "tint", "white_balance"):
                if k in v and v[k] is not None:
                    v[k] = tuple(float(t) for t in v[k])
            return klass(**v)

        shape = d.get("image_shape")
        return cls(
            combination=str(d["combination"]),
            color=opt(ColorParams, "color"),
            halo=opt(HaloParams, "halo"),
            dark_patch=opt(DarkPatchParams, "dark_patch"),
            spots=[Spot(**s) for s in d.get("spots", [])],
            defocus_sigma=None if d.get("defocus_sigma") is None else float(d["defocus_sigma"]),
            haze=opt(HazeParams, "haze"),
            jpeg_quality=None if d.get("jpeg_quality") is None else int(d["jpeg_quality"]),
            image_shape=None if shape is None else (int(shape[0]), int(shape[1])),
            version=PARAMS_VERSION,
        )


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass(frozen=True)
class DegradeRanges:
    """Sampling ranges. Lengths relative to the FOV diameter unless said otherwise.

    Tuned against the real low-quality photos (docs/degradation.md says why).
    """

    brightness: tuple[float, float] = (0.7, 1.2)
    contrast: tuple[float, float] = (0.6, 1.4)
    saturation: tuple[float, float] = (0.5, 1.25)
    white_balance: float = 0.12  # each channel gain log-uniform in [1/(1+x), 1+x] before normalising
    halo_inner_diameter: tuple[float, float] = (0.78, 1.0)
    halo_offset: float = 0.06
    halo_softness: tuple[float, float] = (0.3, 0.7)  # edge sigma as a fraction of the ring width (1 - inner) / 2
    halo_gain: tuple[float, float] = (0.4, 0.9)
    halo_tint_p: tuple[float, float, float] = (0.15, 0.6, 0.25)  # white, cyan, yellow-green
    dark_diameter: tuple[float, float] = (0.4, 0.7)
    dark_offset: tuple[float, float] = (0.25, 0.125)
    dark_softness: tuple[float, float] = (0.08, 0.16)
    dark_base: tuple[float, float] = (0.15, 0.27)
    dark_slope: tuple[float, float] = (0.05, 0.06)
    dark_blue_grey: tuple[float, float] = (0.0, 1.0)  # 0: neutral, 1: removes mostly red (blue-grey patch)
    spot_count: tuple[int, int] = (5, 10)
    spot_diameter: tuple[float, float] = (0.01, 0.05)
    spot_softness: tuple[float, float] = (0.2, 0.5)  # relative to the spot diameter
    spot_radius: float = 0.45  # spot centres lie within this distance of the FOV centre
    defocus_sigma: tuple[float, float] = (0.7, 4.0)  # reference px, log-uniform
    haze_probability: float = 0.5
    haze_strength: tuple[float, float] = (0.2, 0.7)
    haze_falloff: tuple[float, float] = (0.0, 0.5)
    haze_sigma: tuple[float, float] = (0.02, 0.06)
    haze_green: tuple[float, float] = (0.8, 1.05)
    haze_blue: tuple[float, float] = (0.3, 0.95)  # yellow cataract veil .. whitish wash-out
    haze_gain: tuple[float, float] = (0.9, 1.4)
    jpeg_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (70, 95)


DEFAULT_RANGES = DegradeRanges()


def ranges_with(overrides: Mapping[str, Any] | None, base: DegradeRanges = DEFAULT_RANGES) -> DegradeRanges:
    """`base` with some fields replaced, e.g. a training config's wider cataract-veil tint.

    Why: training may need degradations the synthetic test does not sample (a fifth of the real
    low-quality photos are greener than any default haze can make a clean photo), while the test keeps
    DEFAULT_RANGES so that its figures stay comparable. Unknown names and malformed values are refused."""
    if not overrides:
        return base
    known = {f.name: f for f in fields(DegradeRanges)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown degradation range(s) {unknown}; known: {sorted(known)}")
    changes: dict[str, Any] = {}
    for name, value in overrides.items():
        current = getattr(base, name)
        if isinstance(current, tuple):
            if not isinstance(value, (list, tuple)) or len(value) != len(current):
                raise ValueError(f"degradation range {name!r} needs {len(current)} numbers, got {value!r}")
            kind = type(current[0])
            new = tuple(kind(v) for v in value)
            if len(new) == 2 and new[0] > new[1]:
                raise ValueError(f"degradation range {name!r} is reversed: {list(value)}")
            changes[name] = new
        else:
            if isinstance(value, (list, tuple, dict)):
                raise ValueError(f"degradation range {name!r} is one number, got {value!r}")
            changes[name] = type(current)(value)
    return replace(base, **changes)


def _u(rng: np.random.Generator, lo_hi: Sequence[float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _spot_amplitude(diameter_ref_px: float) -> float:
    """Shen et al.'s amplitude law: bigger spots are brighter (about 0.06 at 5 px, 0.20 at 25 px)."""
    r = diameter_ref_px
    k = 14 / 25 + (1.0 - r / 25)
    beta = 0.5 + r / 25
    d = 0.3 * r / 25
    return float(k * (1.0 - math.exp(-beta * d)))


def _blend_tint(t: float) -> tuple[float, float, float]:
    return tuple(float(1.0 + t * (c - 1.0)) for c in _DARK_BLUE_GREY)  # type: ignore[return-value]


def _check_combination(combination: str) -> str:
    c = "".join(ch for ch in "isb" if ch in combination)
    if not combination or c != combination or combination not in COMBINATIONS:
        raise ValueError(f"unknown degradation combination {combination!r}; use one of {COMBINATIONS}")
    return c


def sample_params(
    rng: np.random.Generator | int,
    combination: str | None = None,
    size: tuple[int, int] | None = None,
    ranges: DegradeRanges = DEFAULT_RANGES,
) -> DegradeParams:
    """Draw one set of degradation parameters.

    combination: one of COMBINATIONS, or None for a uniformly random one.
    size: (H, W) of the image they are for; only recorded (all lengths are relative).
    Image-dependent strengths (halo, dark patch) stay None until degrade() resolves them.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    if combination is None:
        combination = COMBINATIONS[int(rng.integers(len(COMBINATIONS)))]
    combination = _check_combination(combination)
    p = DegradeParams(combination=combination, image_shape=None if size is None else (int(size[0]), int(size[1])))
    r = ranges
    if "i" in combination:
        wb = np.exp(rng.uniform(-math.log1p(r.white_balance), math.log1p(r.white_balance), 3))
        wb = wb / float(_LUMA[0] @ wb)
        p.color = ColorParams(
            _u(rng, r.brightness), _u(rng, r.contrast), _u(rng, r.saturation), tuple(float(g) for g in wb)
        )
        tint = HALO_TINTS[int(rng.choice(len(HALO_TINTS), p=np.asarray(r.halo_tint_p) / sum(r.halo_tint_p)))]
        inner = _u(rng, r.halo_inner_diameter)
        p.halo = HaloParams(
            inner_diameter=inner,
            offset=(_u(rng, (-r.halo_offset, r.halo_offset)), _u(rng, (-r.halo_offset, r.halo_offset))),
            softness=max(0.015, (1.0 - inner) / 2.0 * _u(rng, r.halo_softness)),
            tint=tuple(float(t) for t in tint),
            gain=_u(rng, r.halo_gain),
        )
        p.dark_patch = DarkPatchParams(
            diameter=_u(rng, r.dark_diameter),
            offset=(_u(rng, (-r.dark_offset[0], r.dark_offset[0])), _u(rng, (-r.dark_offset[1], r.dark_offset[1]))),
            softness=_u(rng, r.dark_softness),
            base=_u(rng, r.dark_base),
            slope=_u(rng, r.dark_slope),
            tint=_blend_tint(_u(rng, r.dark_blue_grey)),
        )
    if "s" in combination:
        n = int(rng.integers(r.spot_count[0], r.spot_count[1] + 1))
        for _ in range(n):
            rad = r.spot_radius * math.sqrt(float(rng.uniform()))
            ang = float(rng.uniform(0, 2 * math.pi))
            dia = _u(rng, r.spot_diameter)
            p.spots.append(
                Spot(
                    x=rad * math.cos(ang),
                    y=rad * math.sin(ang),
                    diameter=dia,
                    softness=dia * _u(rng, r.spot_softness),
                    amplitude=_spot_amplitude(dia * REFERENCE_DIAMETER),
                )
            )
    if "b" in combination:
        lo, hi = r.defocus_sigma
        p.defocus_sigma = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        if rng.uniform() < r.haze_probability:
            p.haze = HazeParams(
                strength=_u(rng, r.haze_strength),
                falloff=_u(rng, r.haze_falloff),
                sigma=_u(rng, r.haze_sigma),
                tint=(1.0, _u(rng, r.haze_green), _u(rng, r.haze_blue)),
                gain=_u(rng, r.haze_gain),
            )
    if rng.uniform() < r.jpeg_probability:
        p.jpeg_quality = int(rng.integers(r.jpeg_quality[0], r.jpeg_quality[1] + 1))
    return p


# ----------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class FovGeometry:
    """Centre (x, y) and diameter of the FOV circle, in image pixels."""

    cx: float
    cy: float
    diameter: float

    @classmethod
    def from_fov(cls, fov: Any) -> "FovGeometry":
        """From core.imaging.fov.FieldOfView (its fitted circle: better than the mask for cut FOVs)."""
        return cls(float(fov.cx), float(fov.cy), 2.0 * float(fov.radius))


def fov_geometry(mask: np.ndarray) -> FovGeometry:
    """Circle of the FOV from its mask: the widest extent is the diameter.

    For a FOV cut at the top and/or bottom the vertical centre comes from the
    mask's centroid rather than its bounding box.
    """
    m = mask > 0.5 if mask.dtype != bool else mask
    cols = np.flatnonzero(m.any(axis=0))
    rows = np.flatnonzero(m.any(axis=1))
    if cols.size == 0:
        raise UnsupportedImageError("The field-of-view mask is empty, so the photo cannot be degraded.")
    w = float(cols[-1] - cols[0] + 1)
    h = float(rows[-1] - rows[0] + 1)
    cx = (cols[0] + cols[-1]) / 2.0
    if h >= 0.97 * w:
        cy = (rows[0] + rows[-1]) / 2.0
    else:
        ys = np.arange(m.shape[0], dtype=np.float64)
        cnt = m.sum(axis=1)
        cy = float((ys * cnt).sum() / cnt.sum())
    return FovGeometry(float(cx), float(cy), max(w, h))


def _grid_coords(shape: tuple[int, int], geo: FovGeometry) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Coordinates (relative to the FOV centre, in FOV diameters) of a coarse grid covering the image."""
    H, W = shape
    scale = _GRID / geo.diameter
    gh, gw = max(2, int(math.ceil(H * scale))), max(2, int(math.ceil(W * scale)))
    # centre of grid cell j in image pixels, matching cv2.resize(INTER_LINEAR) sampling
    xs = ((np.arange(gw, dtype=np.float32) + 0.5) * (W / gw) - 0.5 - geo.cx) / geo.diameter
    ys = ((np.arange(gh, dtype=np.float32) + 0.5) * (H / gh) - 0.5 - geo.cy) / geo.diameter
    return xs[None, :], ys[:, None], (gw, gh)


def _soft_step(z: np.ndarray) -> np.ndarray:
    """Smooth 0..1 step, close to the normal CDF (logistic approximation): a Gaussian-blurred edge."""
    return 1.0 / (1.0 + np.exp(-1.702 * z))


def _upsample(field_: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(field_.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


# ----------------------------------------------------------------------------- operations


def _luma(img: np.ndarray) -> np.ndarray:
    out = cv2.transform(img, _LUMA)
    return out[..., 0] if out.ndim == 3 else out


def _rgb(plane: np.ndarray) -> np.ndarray:
    """H x W -> H x W x 3 (cv2.merge: much faster than numpy broadcasting for the ops below)."""
    return cv2.merge([plane, plane, plane])


def _scale_channels(img: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Multiply each RGB channel by its own gain."""
    g = [float(v) for v in gains]
    return cv2.multiply(img, (g[0], g[1], g[2], 0.0))


def _clip01(img: np.ndarray) -> np.ndarray:
    """Clamp in place (cheaper than np.clip's copy on every step)."""
    return np.clip(img, 0.0, 1.0, out=img)


def _fov_mean(img: np.ndarray, m: np.ndarray) -> float:
    s = float(m.sum())
    return float(cv2.transform(img, np.ones((1, 3), np.float32)).reshape(-1) @ m.reshape(-1) / (3.0 * s)) if s > 0 else 0.0


def _affine(img: np.ndarray, matrix: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """img @ matrix.T + offset per pixel in one pass (cv2.transform), then clamp to [0, 1]."""
    m = np.concatenate([matrix.astype(np.float32), np.full((3, 1), offset, np.float32)], axis=1)
    return _clip01(cv2.transform(img, m))


def _apply_color(img: np.ndarray, m: np.ndarray, c: ColorParams) -> np.ndarray:
    img = _affine(img, np.diag(np.asarray(c.white_balance, np.float32) * np.float32(c.brightness)))
    s = float(m.sum())
    mean_gray = float(_luma(img).reshape(-1) @ m.reshape(-1) / s) if s > 0 else 0.0
    img = _affine(img, np.eye(3, dtype=np.float32) * np.float32(c.contrast), (1.0 - c.contrast) * mean_gray)
    sat = np.float32(c.saturation)
    return _affine(img, sat * np.eye(3, dtype=np.float32) + (1 - sat) * np.repeat(_LUMA, 3, axis=0))


def _halo_field(shape, geo: FovGeometry, h: HaloParams) -> np.ndarray:
    xs, ys, _ = _grid_coords(shape, geo)
    d = np.sqrt((xs - h.offset[0]) ** 2 + (ys - h.offset[1]) ** 2)
    ring = _soft_step((d - h.inner_diameter / 2.0) / max(h.softness, 1e-4))
    return _upsample(ring, shape)


def _dark_field(shape, geo: FovGeometry, p: DarkPatchParams) -> np.ndarray:
    xs, ys, _ = _grid_coords(shape, geo)
    d = np.sqrt((xs - p.offset[0]) ** 2 + (ys - p.offset[1]) ** 2)
    disc = _soft_step((p.diameter / 2.0 - d) / max(p.softness, 1e-4))
    return _upsample(disc, shape)


def _apply_spots(img: np.ndarray, geo: FovGeometry, spots: list[Spot]) -> np.ndarray:
    H, W = img.shape[:2]
    add = np.zeros((H, W), np.float32)
    D = geo.diameter
    for s in spots:
        cx, cy = geo.cx + s.x * D, geo.cy + s.y * D
        r, soft = s.diameter * D / 2.0, max(s.softness * D, 0.3)
        reach = r + 3.0 * soft
        x0, x1 = max(0, int(cx - reach)), min(W, int(cx + reach) + 2)
        y0, y1 = max(0, int(cy - reach)), min(H, int(cy + reach) + 2)
        if x0 >= x1 or y0 >= y1:
            continue
        xx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
        yy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
        dist = np.sqrt(xx * xx + yy * yy)
        add[y0:y1, x0:x1] += np.float32(s.amplitude) * _soft_step((r - dist) / np.float32(soft))
    return _clip01(cv2.add(img, _rgb(add)))


def _masked_blur(img: np.ndarray, m: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur that does not pull the black outside of the FOV into the rim.

    Normalised convolution: blur(img * m) / blur(m). Outside the FOV the result is
    meaningless and is masked off by the caller. Wide blurs (sigma > 5 px, i.e. big
    photos) run on a copy shrunk by k = sigma // 2.5 and come back bilinearly: the
    result is band-limited far below the shrunk copy's Nyquist limit, so this costs
    little accuracy (the box average of the shrink is subtracted from the sigma).
    """
    H, W = m.shape
    k = int(sigma // 2.5) if sigma > 5.0 else 1
    if k >= 2:
        size = (max(1, W // k), max(1, H // k))
        sx, sy = W / size[0], H / size[1]
        small_img = cv2.resize(cv2.multiply(img, _rgb(m)), size, interpolation=cv2.INTER_AREA)
        small_m = cv2.resize(m, size, interpolation=cv2.INTER_AREA)
        s_small = float(np.sqrt(max(sigma * sigma - (sx * sy - 1) / 12.0, 0.25))) / float(np.sqrt(sx * sy))
        num = cv2.GaussianBlur(small_img, (0, 0), s_small, borderType=cv2.BORDER_REFLECT)
        den = cv2.GaussianBlur(small_m, (0, 0), s_small, borderType=cv2.BORDER_REFLECT)
        out = cv2.multiply(num, _rgb(1.0 / np.maximum(den, np.float32(1e-3))))
        return cv2.resize(out, (W, H), interpolation=cv2.INTER_LINEAR)
    num = cv2.GaussianBlur(cv2.multiply(img, _rgb(m)), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return cv2.multiply(num, _rgb(1.0 / np.maximum(den, np.float32(1e-3))))


def _apply_haze(img: np.ndarray, m: np.ndarray, geo: FovGeometry, h: HazeParams) -> np.ndarray:
    H, W = img.shape[:2]
    xs, ys, (gw, gh) = _grid_coords((H, W), geo)
    brightness = cv2.transform(img, np.full((1, 3), 1.0 / 3.0, np.float32))  # H x W mean of RGB
    small = cv2.resize(brightness * m, (gw, gh), interpolation=cv2.INTER_AREA)
    small_m = cv2.resize(m, (gw, gh), interpolation=cv2.INTER_AREA)
    sg = max(h.sigma * _GRID, 0.5)
    num = cv2.GaussianBlur(small, (0, 0), sg, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(small_m, (0, 0), sg, borderType=cv2.BORDER_REFLECT)
    rr = np.minimum((xs * xs + ys * ys) * 4.0, 1.0)  # (r / R)^2, 1 at the rim
    alpha_small = (h.strength * (1.0 - h.falloff * rr)).astype(np.float32)
    veil_small = num / np.maximum(den, 1e-3)
    veil = _scale_channels(_rgb(_upsample(veil_small, (H, W))), np.asarray(h.tint) * h.gain)
    alpha = _rgb(_upsample(alpha_small, (H, W)))
    return _clip01(cv2.add(cv2.multiply(cv2.subtract(veil, img), alpha), img))


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - cv2 always encodes uint8 RGB
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def _check_inputs(image: np.ndarray, fov_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if image.ndim != 3 or image.shape[2] != 3:
        raise UnsupportedImageError(f"Expected an RGB image, got an array of shape {image.shape}.")
    if fov_mask.shape != image.shape[:2]:
        raise UnsupportedImageError(
            f"The field-of-view mask ({fov_mask.shape}) does not match the image ({image.shape[:2]})."
        )
    img = np.array(image, dtype=np.float32, copy=True, order="C")  # worked on in place below
    m = fov_mask.astype(np.float32) if fov_mask.dtype == bool else np.clip(fov_mask.astype(np.float32), 0, 1)
    return img, np.ascontiguousarray(m)


def degrade(
    image: np.ndarray,
    fov_mask: np.ndarray,
    combination: str | None = "isb",
    seed: int | np.random.Generator | None = None,
    params: DegradeParams | dict | None = None,
    *,
    geometry: FovGeometry | None = None,
    ranges: DegradeRanges = DEFAULT_RANGES,
) -> tuple[np.ndarray, DegradeParams]:
    """Degrade a clean photo; returns (degraded float32 RGB in [0,1], resolved parameters).

    image: float RGB in [0, 1], H x W x 3. fov_mask: bool or soft float mask, H x W.
    combination: one of COMBINATIONS, or None for a random one (ignored when params are given).
    params: earlier output parameters (object or dict) to reproduce a degradation exactly.
    geometry: FOV circle to use instead of the one measured from the mask (for crops of a larger photo).
    """
    img, m = _check_inputs(image, fov_mask)
    if params is None:
        params = sample_params(seed if seed is not None else np.random.default_rng(), combination, img.shape[:2], ranges)
    elif isinstance(params, dict):
        params = DegradeParams.from_dict(params)
    else:
        params = replace(params)
    geo = geometry if geometry is not None else fov_geometry(m)
    shape = img.shape[:2]

    if params.color is not None:
        img = _apply_color(img, m, params.color)
    if params.halo is not None:
        h = params.halo
        if h.strength is None:
            params.halo = h = replace(h, strength=float(h.gain * _fov_mean(img, m)))
        ring = _halo_field(shape, geo, h)
        img = _clip01(cv2.add(img, _scale_channels(_rgb(ring), np.asarray(h.tint) * h.strength)))
    if params.dark_patch is not None:
        p = params.dark_patch
        if p.strength is None:
            mean = _fov_mean(img, m)
            params.dark_patch = p = replace(p, strength=float(-(p.base + p.slope * mean)) if mean > 0.25 else 0.0)
        if p.strength != 0.0:
            dark = _scale_channels(_rgb(_dark_field(shape, geo, p)), np.asarray(p.tint) * p.strength)
            img = _clip01(cv2.add(img, dark))
    if params.spots:
        img = _apply_spots(img, geo, params.spots)
    if params.defocus_sigma is not None and params.defocus_sigma > 0:
        sigma = params.defocus_sigma * geo.diameter / REFERENCE_DIAMETER
        if sigma >= 0.2:
            img = _masked_blur(img, m, sigma)
    if params.haze is not None:
        img = _apply_haze(img, m, geo, params.haze)
    m3 = _rgb(m)
    img = _clip01(cv2.multiply(img, m3))
    if params.jpeg_quality is not None:
        img = cv2.multiply(_jpeg(img, params.jpeg_quality), m3)
    return img, params


# ----------------------------------------------------------------------------- photometric pairs


@dataclass(frozen=True)
class PhotometricRanges:
    """A global photometric shift only (exposure, gamma, white balance): what another camera or a
    darker exposure does to a clean photo. Training pairs of this kind teach the network that a
    darker or differently pigmented fundus is not a degradation to paint over (MAGE-NET.md
    section 6). Deliberately wider than evaluate's photometric table, so the network is not tuned
    to that table's exact range."""

    exposure: tuple[float, float] = (0.4, 1.4)  # log-uniform
    gamma: tuple[float, float] = (0.8, 1.3)  # log-uniform
    red: tuple[float, float] = (0.85, 1.15)
    green: tuple[float, float] = (0.7, 1.1)
    blue: tuple[float, float] = (0.55, 1.15)


def _log_uniform(rng: np.random.Generator, lo_hi: Sequence[float]) -> float:
    lo, hi = lo_hi
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def photometric_shift(
    image: np.ndarray, fov_mask: np.ndarray, seed: int | np.random.Generator | None = None,
    ranges: PhotometricRanges = PhotometricRanges(),
) -> tuple[np.ndarray, dict[str, float]]:
    """(shifted float32 RGB in [0,1], its parameters): out = clip(exposure * wb * image ** gamma) in the FOV."""
    img, m = _check_inputs(image, fov_mask)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    p = {
        "exposure": _log_uniform(rng, ranges.exposure),
        "gamma": _log_uniform(rng, ranges.gamma),
        "red": _u(rng, ranges.red),
        "green": _u(rng, ranges.green),
        "blue": _u(rng, ranges.blue),
    }
    wb = np.array([p["red"], p["green"], p["blue"]], np.float32) * np.float32(p["exposure"])
    out = np.power(np.clip(img, 0.0, 1.0), np.float32(p["gamma"])) * wb
    out = _clip01(out * _rgb(m))
    return out.astype(np.float32), p
