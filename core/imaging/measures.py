"""Do-no-harm measures (MAGE-NET.md section 6): does an enhancement keep the photo's structure?

One Qt-free, torch-free module used by evaluate, the Enhancer's guard, shipping and the
site verdict, so that every layer measures the same thing the same way.

Conventions: images are float32 H x W x 3 RGB in [0, 1]; ``fov`` is a bool H x W mask.
Every spatial scale is a fraction of the FOV diameter, so a measure means the same at
256 px, at the 512 px working FOV and at native resolution.

* ``structure_psnr``: PSNR after the best per-channel gain and offset (least squares inside
  the FOV) of the output to the reference. A global exposure, gamma-free colour or white
  balance difference costs nothing; a painted patch, an erased macula or lost vessels do.
* ``bandpass`` / ``bandpass_correlation``: luminance difference of Gaussians at 1.5 % and
  6 % of the FOV diameter (vessels up to the macula and disc), divided by the broad level.
  The correlation of two photos' band-pass images says whether the anatomy-scale structure
  survived; a per-channel gain leaves it unchanged.
* ``vessel_pixels`` / ``weber_vessel_contrast`` / ``vessel_contrast_ratio``: Weber contrast
  (ring - vessel) / ring of green at vessel pixels found on the input, output over input.
  Gain-invariant; an added veil (offset) lowers it, as it lowers what a reader sees.
* ``blob_counts`` / ``blob_ratio``: small dark (microaneurysm-like) and bright
  (exudate-like) blobs of 0.3-1 % of the diameter: sharpened noise must not create them and
  enhancement must not erase them.
* ``guard_score`` / ``calibrate_guard``: the band-pass correlation of output vs input at a
  256 px FOV (fast enough for every enhancement), and the model's threshold for it.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

PSNR_CAP_DB = 100.0
"""structure_psnr of a perfect affine match (an MSE of 0 would be +inf and spoil means)."""
BANDPASS_FINE = 0.015
BANDPASS_BROAD = 0.06
"""DoG sigmas as fractions of the FOV diameter: vessels/small lesions up to the macula and disc."""
ERODE_FRACTION = 0.03
"""The rim band left out of the correlation, vessel and blob measures (vignetting, rim glare)."""
LEVEL_FLOOR = 0.1
"""The broad level is floored at this share of its FOV median, so the dark rim does not blow up."""
VESSEL_TOPHAT = 0.015
"""Radius of the black top-hat's disc, as a fraction of the FOV diameter (wider than any vessel)."""
VESSEL_RING = 0.01
"""Width of the background ring around the vessel pixels."""
VESSEL_DECILE = 0.9
MIN_INPUT_CONTRAST = 0.01
"""Below this input Weber contrast the vessel ratio is undefined (no visible vessels to keep)."""
BLOB_DIAMETERS = (0.003, 0.01)
"""Blob diameters as fractions of the FOV diameter (microaneurysms, small exudates)."""
BLOB_SCALES = 4
BLOB_CONTRAST = 0.08
"""Blob threshold: DoG response relative to the local level (8 % darker or brighter). At 4 % a clean
DRIVE photo already holds hundreds of texture "blobs"; at 8 % it holds a few distinct dots (IDRiD and
EyeQ photos with retinopathy more), and added or sharpened noise still adds many."""
BLOB_EDGE_RATIO = 6.0
"""Largest ratio of principal curvatures of a blob: vessel cross-sections are elongated, dots are not."""
GUARD_SIDE = 256
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# ----------------------------------------------------------------------------- helpers


def _mask(fov: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(fov)
    m = m > 0.5 if m.dtype != bool else m
    if m.shape != tuple(shape[:2]):
        raise ValueError(f"FOV mask {m.shape} does not match the image {tuple(shape[:2])}")
    if not m.any():
        raise ValueError("the FOV mask is empty")
    return m


def _rgb(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an RGB image, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) * np.float32(1 / 255)
    if a.dtype == np.uint16:
        return a.astype(np.float32) * np.float32(1 / 65535)
    return a.astype(np.float32, copy=False)


def fov_diameter(fov: np.ndarray) -> float:
    """The FOV's diameter in px: the larger extent of its bounding box (a cut disc keeps its width)."""
    m = np.asarray(fov)
    m = m > 0.5 if m.dtype != bool else m
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        raise ValueError("the FOV mask is empty")
    return float(max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1)


def _gauss(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; a broad one is done on an area-reduced copy (same result, many times faster)."""
    if sigma <= 0:
        return img
    h, w = img.shape[:2]
    f = int(sigma / 5.0)
    if f >= 2 and min(h, w) // f >= 8:
        small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        small = cv2.GaussianBlur(small, (0, 0), sigma * sw / w, borderType=cv2.BORDER_REFLECT)
        # map the reduced cells' centres back onto the full grid
        mx = ((np.arange(w, dtype=np.float32) + 0.5) * (sw / w) - 0.5).clip(0, sw - 1)
        my = ((np.arange(h, dtype=np.float32) + 0.5) * (sh / h) - 0.5).clip(0, sh - 1)
        mapx, mapy = np.meshgrid(mx, my)
        return cv2.remap(small, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


_FOV_CACHE: dict[tuple, dict] = {}
"""Per-FOV results reused across the methods scored on one photo (blurred mask, eroded mask)."""


def _fov_entry(m: np.ndarray) -> dict:
    key = (m.shape, zlib.crc32(np.packbits(m).tobytes()))
    entry = _FOV_CACHE.get(key)
    if entry is None:
        if len(_FOV_CACHE) >= 16:
            _FOV_CACHE.pop(next(iter(_FOV_CACHE)))
        entry = _FOV_CACHE[key] = {}
    return entry


def _mask_blur(m: np.ndarray, sigma: float) -> np.ndarray:
    entry = _fov_entry(m)
    k = ("den", round(float(sigma), 4))
    if k not in entry:
        entry[k] = _gauss(m.astype(np.float32), sigma)
    return entry[k]


def _masked_gauss(img: np.ndarray, m: np.ndarray, sigma: float, den: np.ndarray | None = None) -> np.ndarray:
    """Gaussian average of img over the FOV only (normalised convolution), so the black outside does not leak in."""
    mf = m.astype(np.float32)
    if den is None:
        den = _mask_blur(m, sigma)
    if img.ndim == 3:
        return _gauss(np.ascontiguousarray(img * mf[..., None]), sigma) / np.maximum(den, 1e-6)[..., None]
    return _gauss(img * mf, sigma) / np.maximum(den, 1e-6)


def masked_gaussian(img: np.ndarray, fov: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian average (sigma px) of a H x W or H x W x C float image over the FOV pixels only
    (normalised convolution: the black outside does not darken the rim); broad sigmas run on a
    reduced copy. Values outside the FOV are extrapolated, not zero."""
    a = np.asarray(img, np.float32)
    return _masked_gauss(a, _mask(fov, a.shape), float(sigma))


def _eroded(m: np.ndarray, diameter: float) -> np.ndarray:
    entry = _fov_entry(m)
    k = ("eroded", float(diameter))
    if k not in entry:
        entry[k] = _erode(m, diameter)
    return entry[k]


def _erode(m: np.ndarray, diameter: float) -> np.ndarray:
    r = max(1, int(round(ERODE_FRACTION * diameter)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    e = cv2.erode(m.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return e if e.any() else m


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb @ _LUMA)


# ----------------------------------------------------------------------------- structure PSNR


def affine_fit(output: np.ndarray, reference: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """output after the per-channel gain and offset (least squares inside the FOV) closest to reference, clipped to [0, 1]."""
    a, b = _rgb(output).astype(np.float64), _rgb(reference).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    m = _mask(fov, a.shape)
    out = np.empty_like(a)
    for c in range(3):
        x, y = a[..., c][m], b[..., c][m]
        mx, my = x.mean(), y.mean()
        vx = float(((x - mx) ** 2).mean())
        gain = float(((x - mx) * (y - my)).mean()) / vx if vx > 1e-12 else 0.0
        out[..., c] = (a[..., c] - mx) * gain + my
    return np.clip(out, 0.0, 1.0)


def structure_psnr(output: np.ndarray, reference: np.ndarray, fov: np.ndarray) -> float:
    """PSNR (peak 1, FOV pixels) of output against reference after the best per-channel affine fit,
    capped at PSNR_CAP_DB: what is left is structure, not a global colour or exposure difference."""
    fitted = affine_fit(output, reference, fov)
    ref = _rgb(reference).astype(np.float64)
    m = _mask(fov, ref.shape)
    mse = float(((fitted - ref) ** 2)[m].mean())
    if mse <= 10 ** (-PSNR_CAP_DB / 10):
        return PSNR_CAP_DB
    return 10.0 * math.log10(1.0 / mse)


# ----------------------------------------------------------------------------- band-pass correlation


def bandpass(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Luminance DoG at 1.5 % and 6 % of the FOV diameter divided by the broad level (both masked
    Gaussians): anatomy-scale structure as local relative contrast, float32 H x W, 0 outside the FOV."""
    img = _rgb(rgb)
    m = _mask(fov, img.shape)
    d = fov_diameter(m)
    y = _luma(img)
    fine = _masked_gauss(y, m, BANDPASS_FINE * d)
    broad = _masked_gauss(y, m, BANDPASS_BROAD * d)
    level = float(np.median(broad[m]))
    out = (fine - broad) / np.maximum(broad, max(LEVEL_FLOOR * level, 1e-4))
    return (out * m).astype(np.float32)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    if den <= 1e-20:
        return 1.0 if float(np.abs(a - b).max(initial=0.0)) <= 1e-12 else 0.0
    return float((a * b).sum() / den)


def bandpass_correlation(a: np.ndarray, b: np.ndarray, fov: np.ndarray) -> float:
    """Pearson correlation of bandpass(a) and bandpass(b) inside the eroded FOV (1: same structure)."""
    m = _mask(fov, np.shape(a))
    inner = _eroded(m, fov_diameter(m))
    return _pearson(bandpass(a, m)[inner], bandpass(b, m)[inner])


# ----------------------------------------------------------------------------- vessel contrast


def vessel_pixels(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """The top decile of a black top-hat of green (disc radius ~1.5 % of the diameter), relative to
    the local level, inside the eroded FOV: the clearest vessel pixels of this photo (bool H x W)."""
    img = _rgb(rgb)
    m = _mask(fov, img.shape)
    d = fov_diameter(m)
    inner = _eroded(m, d)
    g = np.ascontiguousarray(img[..., 1])
    # outside the FOV is set to the FOV's level so the closing does not see the black rim as a vessel
    g_in = np.where(m, g, float(np.median(g[m]))).astype(np.float32)
    r = max(1, int(round(VESSEL_TOPHAT * d)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    th = cv2.morphologyEx(g_in, cv2.MORPH_BLACKHAT, k, borderType=cv2.BORDER_REFLECT)
    level = _masked_gauss(g, m, BANDPASS_BROAD * d)
    th = th / np.maximum(level, max(LEVEL_FLOOR * float(np.median(level[m])), 1e-4))
    vals = th[inner]
    thr = float(np.quantile(vals, VESSEL_DECILE))
    return inner & (th >= thr) & (th > 0)


def weber_vessel_contrast(rgb: np.ndarray, fov: np.ndarray, vessels: np.ndarray | None = None) -> float:
    """Mean Weber contrast (ring - vessel) / ring of green over the vessel pixels; ring = the local
    mean of the background annulus around them (dilation minus vessels). 0 without vessel pixels."""
    img = _rgb(rgb)
    m = _mask(fov, img.shape)
    d = fov_diameter(m)
    v = vessel_pixels(img, m) if vessels is None else np.asarray(vessels, bool)
    if not v.any():
        return 0.0
    inner = _eroded(m, d)
    w = max(1, int(round(VESSEL_RING * d)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * w + 1, 2 * w + 1))
    ring = (cv2.dilate(v.astype(np.uint8), k) > 0) & ~v & inner
    if not ring.any():
        return 0.0
    g = np.ascontiguousarray(img[..., 1])
    sigma = max(1.0, 2.0 * w)
    rf = ring.astype(np.float32)
    den = _gauss(rf, sigma)
    ring_level = _gauss(g * rf, sigma) / np.maximum(den, 1e-6)
    ok = v & (den > 1e-3)
    if not ok.any():
        return 0.0
    lvl = ring_level[ok]
    floor = max(LEVEL_FLOOR * float(np.median(g[m])), 1e-4)
    return float(np.mean((lvl - g[ok]) / np.maximum(lvl, floor)))


def vessel_contrast_ratio(output: np.ndarray, input: np.ndarray, fov: np.ndarray) -> float | None:  # noqa: A002
    """Weber vessel contrast of output over input at the vessel pixels found on the input (> 1:
    vessels stand out more); None when the input's contrast is below MIN_INPUT_CONTRAST."""
    m = _mask(fov, np.shape(input))
    v = vessel_pixels(input, m)
    ci = weber_vessel_contrast(input, m, v)
    if not ci >= MIN_INPUT_CONTRAST:
        return None
    return weber_vessel_contrast(output, m, v) / ci


# ----------------------------------------------------------------------------- lesion-like blobs


@dataclass
class BlobCounts:
    """Small dark (microaneurysm-like) and small bright (exudate-like) blobs in one photo."""

    dark: int
    bright: int

    @property
    def total(self) -> int:
        return self.dark + self.bright


def _blob_sigmas(d: float) -> list[float]:
    lo, hi = (f * d / 2.0 / math.sqrt(2.0) for f in BLOB_DIAMETERS)  # sigma = radius / sqrt(2)
    lo = max(lo, 0.6)
    hi = max(hi, lo * 1.5)
    return list(np.geomspace(lo, hi, BLOB_SCALES))


def blob_points(rgb: np.ndarray, fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dark, bright) blob centres as K x 2 int arrays of (row, col): DoG scale-space extrema of green
    relative to its local level, diameters 0.3-1 % of the FOV diameter, contrast >= BLOB_CONTRAST,
    round (not vessel-like), inside the eroded FOV. What blob_counts counts, for crops and overlays."""
    img = _rgb(rgb)
    m = _mask(fov, img.shape)
    d = fov_diameter(m)
    inner = _eroded(m, d)
    g = np.ascontiguousarray(img[..., 1])
    level = _masked_gauss(g, m, BANDPASS_BROAD * d)
    n = np.where(m, g / np.maximum(level, max(LEVEL_FLOOR * float(np.median(level[m])), 1e-4)), 1.0)
    n = n.astype(np.float32)
    k = 1.6
    # DoG = centre - surround; scaled so a disc of the matched size responds with about its relative contrast
    scale = np.float32(0.6 / (k - 1.0))
    dogs = [(cv2.GaussianBlur(n, (0, 0), s) - cv2.GaussianBlur(n, (0, 0), s * k)) * scale for s in _blob_sigmas(d)]
    nb = max(3, int(round(BLOB_DIAMETERS[1] * d)) | 1)
    kern = np.ones((nb, nb), np.uint8)
    h, w = n.shape
    found = []
    for sign in (-1.0, 1.0):  # dark, bright
        # strongest response over the scales, and which scale gave it
        best = sign * dogs[0]
        arg = np.zeros((h, w), np.int8)
        for i in range(1, len(dogs)):
            r_i = sign * dogs[i]
            better = r_i > best
            best = np.where(better, r_i, best)
            arg[better] = i
        peak = (best >= cv2.dilate(best, kern)) & (best >= BLOB_CONTRAST) & inner
        ys, xs = np.nonzero(peak)
        if ys.size == 0:
            found.append(np.zeros((0, 2), np.int64))
            continue
        resp = np.stack([sign * dogs[i][np.clip(ys[:, None] + np.array([-1, 0, 1]), 0, h - 1)[:, :, None],
                                        np.clip(xs[:, None] + np.array([-1, 0, 1]), 0, w - 1)[:, None, :]]
                         for i in range(len(dogs))])  # scales x K x 3 x 3 neighbourhoods of the peaks
        # edge test on the DoG at the chosen scale: a vessel cross-section has one large curvature
        nb3 = resp[arg[ys, xs], np.arange(ys.size)]  # K x 3 x 3 at each peak's own scale
        dd = nb3[:, 1, 1]
        dxx = nb3[:, 1, 2] + nb3[:, 1, 0] - 2 * dd
        dyy = nb3[:, 2, 1] + nb3[:, 0, 1] - 2 * dd
        dxy = (nb3[:, 2, 2] - nb3[:, 2, 0] - nb3[:, 0, 2] + nb3[:, 0, 0]) / 4.0
        tr, det = dxx + dyy, dxx * dyy - dxy * dxy
        r = BLOB_EDGE_RATIO
        round_ = (det > 0) & (tr * tr * r < (r + 1) ** 2 * det)
        # plateaus give several equal maxima: one blob per connected group of peaks
        keep = np.zeros((h, w), np.uint8)
        keep[ys[round_], xs[round_]] = 1
        n_groups, _, _, centroids = cv2.connectedComponentsWithStats(keep, connectivity=8)
        found.append(np.rint(centroids[1:, ::-1]).astype(np.int64).reshape(-1, 2))
    return found[0], found[1]


def blob_counts(rgb: np.ndarray, fov: np.ndarray) -> BlobCounts:
    """Small dark (microaneurysm-like) and small bright (exudate-like) blobs of 0.3-1 % of the FOV
    diameter inside the eroded FOV (see blob_points)."""
    dark, bright = blob_points(rgb, fov)
    return BlobCounts(dark=int(len(dark)), bright=int(len(bright)))


def blob_ratio(output: np.ndarray, input: np.ndarray, fov: np.ndarray) -> float:  # noqa: A002
    """(blobs in output + 1) / (blobs in input + 1): > 1 means lesion-like dots appeared."""
    return (blob_counts(output, fov).total + 1) / (blob_counts(input, fov).total + 1)


# ----------------------------------------------------------------------------- guard


def _square_small(img: np.ndarray, bbox: tuple[int, int, int, int], side: int) -> np.ndarray:
    """The FOV bounding box area-resized so its longer side is `side`, centred in a side x side square.

    First an integer-factor INTER_AREA reduction (OpenCV's fast path; a 3504 x 2336 photo in a
    few ms), then a small INTER_AREA step to the exact size."""
    y0, y1, x0, x1 = bbox
    h, w = y1 - y0, x1 - x0
    f = max(1, max(h, w) // side)
    crop = img[y0 : y0 + h // f * f, x0 : x0 + w // f * f]
    if f > 1:
        crop = cv2.resize(crop, (w // f, h // f), interpolation=cv2.INTER_AREA)
    h, w = crop.shape[:2]
    s = side / max(h, w)
    nh, nw = max(1, min(side, int(round(h * s)))), max(1, min(side, int(round(w * s))))
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA) if (nh, nw) != (h, w) else crop
    out = np.zeros((side, side) + small.shape[2:], small.dtype)
    oy, ox = (side - nh) // 2, (side - nw) // 2
    out[oy : oy + nh, ox : ox + nw] = small
    return out


def guard_score(input_rgb: np.ndarray, output_rgb: np.ndarray, fov: np.ndarray) -> float:
    """bandpass_correlation of output vs input with the FOV's bounding square at GUARD_SIDE px:
    cheap enough for every enhancement (uint8/uint16 images are resized before conversion)."""
    m = np.asarray(fov)
    m = m > 0.5 if m.dtype != bool else m
    if np.shape(input_rgb) != np.shape(output_rgb):
        raise ValueError(f"images differ in shape: {np.shape(input_rgb)} vs {np.shape(output_rgb)}")
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        raise ValueError("the FOV mask is empty")
    bbox = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    small_m = _square_small(m.view(np.uint8), bbox, GUARD_SIDE) > 0.5
    a = _rgb(_square_small(np.asarray(input_rgb), bbox, GUARD_SIDE))
    b = _rgb(_square_small(np.asarray(output_rgb), bbox, GUARD_SIDE))
    return bandpass_correlation(a, b, small_m)


def calibrate_guard(
    scores: Sequence[float],
    structure_psnrs: Sequence[float],
    good_db: float = 36.0,
    max_flag: float = 0.05,
    bad_db: float = 30.0,
) -> dict:
    """The guard threshold of a model from its photometric outputs: an output is flagged when its
    score < threshold; the threshold is the highest value that flags at most `max_flag` of the
    outputs whose structure PSNR >= good_db. Also the share of < bad_db outputs it catches.

    Returns {"threshold", "catch_rate", "good_flag_rate", "n", "n_good", "n_bad", "n_good_flagged",
    "n_bad_caught", "good_db", "bad_db", "max_flag"}; threshold None without good outputs,
    catch_rate None without bad ones.
    """
    s = np.asarray(scores, np.float64)
    p = np.asarray(structure_psnrs, np.float64)
    if s.shape != p.shape:
        raise ValueError(f"{s.size} scores but {p.size} structure PSNRs")
    ok = np.isfinite(s) & ~np.isnan(p)
    s, p = s[ok], p[ok]
    good = np.sort(s[p >= good_db])
    bad = s[p < bad_db]
    threshold: float | None = None
    if good.size:
        allowed = int(math.floor(max_flag * good.size + 1e-9))
        threshold = float(good[allowed]) if allowed < good.size else float(np.nextafter(good[-1], np.inf))
    n_good_flagged = int((good < threshold).sum()) if threshold is not None else 0
    n_bad_caught = int((bad < threshold).sum()) if threshold is not None else 0
    return {
        "threshold": threshold,
        "catch_rate": (n_bad_caught / bad.size) if (bad.size and threshold is not None) else None,
        "good_flag_rate": (n_good_flagged / good.size) if good.size else None,
        "n": int(s.size),
        "n_good": int(good.size),
        "n_bad": int(bad.size),
        "n_good_flagged": n_good_flagged,
        "n_bad_caught": n_bad_caught,
        "good_db": good_db,
        "bad_db": bad_db,
        "max_flag": max_flag,
    }
