"""Field-of-view (FOV) detection and the square working frame around it.

A fundus camera images the retina through a circular aperture: the useful
picture is a disc, surrounded by a (nearly) black border, and the disc is
often cut by the image border (HRF: top and bottom) or by a straight edge
(EyePACS/EyeQ crops: zero padding above and below a flat cut). Enhancement must
only touch the disc, and models want a square frame centred on it, so this
module finds the disc and maps between the two geometries.

Model of the FOV: ``disc(cx, cy, radius) ∩ rows[top..bottom] ∩ cols[left..right]``
(the straight cuts; the image border when there is none), rendered at full
resolution. Against the reference masks (DRIVE, HRF, EyeQ, cataract) the
rendered model scores a better worst-case IoU than the thresholded region or
the model intersected with it (those follow dark vignetting, eyelid shadows and
rim glare): see tests/core/imaging/test_fov.py and the report for the figures.

Detection, on a copy area-averaged by an integer factor to a long side <= 512:
1. brightness = max over channels, median-filtered; background and retina levels
   from the image's own histogram (Otsu split), so near-black photos work;
2. region = largest connected part above a low threshold between the two;
3. circle = consensus (RANSAC) then least squares on the region's outline,
   leaving out the image border and the extreme rows/columns (straight cuts);
4. straight cuts where the region stops filling the circle's chord along a line;
5. sub-pixel rim along rays: half-way up the local step (the optics blur the rim),
   or, for a photo already cut out by a mask (exact-zero border, abrupt stop), where
   the signal ends; a second robust fit on those points.

No dark border at all (a crop inside the retina): the FOV is the whole frame,
described as the circumscribed circle (centre of the image, half diagonal), so
``mask`` is all True and nothing of the retina is thrown away; ``found`` is
False and ``method`` is ``"whole-frame"``. A blank or almost black frame, or a
bright area that is small or not round, raises FieldOfViewError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from core.errors import FieldOfViewError, UnsupportedImageError

WORK_SIZE = 512
"""Long side of the downscaled copy used for detection."""

_THRESHOLD_FRACTION = 0.1
"""Region threshold, as a fraction of the way from background to FOV brightness: low,
so that a retina darkening towards a straight cut still reaches the cut."""


@dataclass
class FieldOfView:
    """The circular field of view of one photo, in the photo's own pixel coordinates.

    mask: bool H x W, True inside the FOV (disc ∩ straight cuts ∩ image).
    cx, cy, radius: the full circle (pixel centres at integer coordinates); the circle
        may extend beyond the image.
    top, bottom, left, right: first/last row and column (inclusive) the FOV may occupy:
        a straight aperture cut, or the image border.
    cut_top/cut_bottom/cut_left/cut_right: the circle is cut on that side, by the image
        border or by a straight aperture edge (HRF: top and bottom).
    method: "circle-fit" or "whole-frame" (no dark border found).
    confidence: 0..1; circle-fit: IoU of the disc model with the bright region (work scale);
        whole-frame: darkest level relative to the retina (higher: clearly no border).
    found: True when a circular border was detected.
    """

    mask: np.ndarray
    cx: float
    cy: float
    radius: float
    top: int
    bottom: int
    left: int
    right: int
    cut_top: bool
    cut_bottom: bool
    cut_left: bool
    cut_right: bool
    method: str
    confidence: float
    found: bool

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.mask.shape[0]), int(self.mask.shape[1]))


# --------------------------------------------------------------------------- helpers


def _full_scale(rgb: np.ndarray) -> float:
    """Nominal white level, used only for the 'is the frame blank' floor."""
    if rgb.dtype == np.uint8:
        return 255.0
    peak = float(np.nanmax(rgb)) if rgb.size else 0.0
    if np.issubdtype(rgb.dtype, np.floating) and peak <= 1.0:
        return 1.0
    # uint16 or float in counts: guess the bit depth from the peak (12-bit data in uint16).
    return float(2 ** max(8, math.ceil(math.log2(max(peak, 1.0) + 1.0))) - 1)


def _brightness_small(rgb: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Max-of-channels brightness of a copy with long side WORK_SIZE, in [0, ~1].

    Returns (image, sx, sy) where sx, sy = small / original size per axis (1/k: the last
    few rows/columns beyond a multiple of k are left out of detection).
    """
    if rgb.ndim == 2:
        rgb = rgb[:, :, None]
    if rgb.ndim != 3 or rgb.shape[2] not in (1, 3, 4) or min(rgb.shape[:2]) < 8:
        raise UnsupportedImageError(
            f"Cannot look for the field of view in an image of shape {rgb.shape}: "
            "expected a colour photo (height x width x 3)."
        )
    if rgb.shape[2] == 4:
        rgb = rgb[:, :, :3]
    h, w = rgb.shape[:2]
    # an integer factor: OpenCV's area averaging is 2-3x faster then, and exact
    k = max(1, math.ceil(max(h, w) / WORK_SIZE))
    src = rgb
    if src.dtype not in (np.uint8, np.uint16, np.float32):
        src = src.astype(np.float32)
    if src.dtype == np.float32 and not np.isfinite(src).all():
        src = np.nan_to_num(src, nan=0.0, posinf=0.0, neginf=0.0)
    if k > 1:
        hs, ws = h // k, w // k
        small = cv2.resize(src[: hs * k, : ws * k], (ws, hs), interpolation=cv2.INTER_AREA)
    else:
        small = src
    if small.ndim == 3:
        small = small.max(axis=2)
    small = small.astype(np.float32) / np.float32(_full_scale(rgb))
    return small, 1.0 / k, 1.0 / k


def _fit_circle(pts: np.ndarray) -> tuple[float, float, float]:
    """Algebraic (Kasa) least-squares circle through points (N x 2, x y)."""
    x, y = pts[:, 0], pts[:, 1]
    mx, my = x.mean(), y.mean()
    u, v = x - mx, y - my
    a = np.column_stack([u, v, np.ones_like(u)])
    b = u * u + v * v
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    cx, cy = sol[0] / 2.0, sol[1] / 2.0
    r = math.sqrt(max(sol[2] + cx * cx + cy * cy, 0.0))
    return float(cx + mx), float(cy + my), r


def _refine_geometric(pts: np.ndarray, c: tuple[float, float, float], iters: int = 5):
    """A few Gauss-Newton steps minimising the geometric distance to the circle."""
    cx, cy, r = c
    for _ in range(iters):
        dx, dy = pts[:, 0] - cx, pts[:, 1] - cy
        d = np.hypot(dx, dy)
        d[d == 0] = 1e-9
        res = d - r
        jac = np.column_stack([-dx / d, -dy / d, -np.ones_like(d)])
        step, *_ = np.linalg.lstsq(jac, -res, rcond=None)
        cx, cy, r = cx + step[0], cy + step[1], r + step[2]
        if np.abs(step).max() < 1e-3:
            break
    return float(cx), float(cy), float(abs(r))


def _circles_through(p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """Circles (N x 3: cx, cy, r) through triplets of points; NaN where collinear."""
    ax, ay = p1[:, 0], p1[:, 1]
    bx, by = p2[:, 0], p2[:, 1]
    cx, cy = p3[:, 0], p3[:, 1]
    d = 2.0 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
    with np.errstate(divide="ignore", invalid="ignore"):
        a2, b2, c2 = ax * ax + ay * ay, bx * bx + by * by, cx * cx + cy * cy
        ux = (a2 * (by - cy) + b2 * (cy - ay) + c2 * (ay - by)) / d
        uy = (a2 * (cx - bx) + b2 * (ax - cx) + c2 * (bx - ax)) / d
    r = np.hypot(ax - ux, ay - uy)
    out = np.column_stack([ux, uy, r])
    out[np.abs(d) < 1e-9] = np.nan
    return out


def _ransac_circle(pts: np.ndarray, tol: float, iters: int = 400) -> tuple[float, float, float]:
    """The circle through 3 boundary points that most boundary points agree with.

    Parts of the region's outline are not the rim (retina fading out at an eyelid shadow,
    glare at the border); least squares alone averages them in, a consensus ignores them.
    Deterministic (fixed seed) so the same photo always gives the same FOV.
    """
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(pts), size=(iters, 3))
    cand = _circles_through(pts[idx[:, 0]], pts[idx[:, 1]], pts[idx[:, 2]])
    cand = cand[np.isfinite(cand).all(axis=1)].astype(np.float32)
    if len(cand) == 0:
        return _fit_circle(pts)
    sub = (pts if len(pts) <= 500 else pts[:: int(math.ceil(len(pts) / 500))]).astype(np.float32)
    d = np.hypot(sub[None, :, 0] - cand[:, 0, None], sub[None, :, 1] - cand[:, 1, None])
    d -= cand[:, 2, None]
    votes = np.count_nonzero(np.abs(d) <= tol, axis=1)
    best = cand[int(np.argmax(votes))]
    return float(best[0]), float(best[1]), float(best[2])


def _robust_circle(
    pts: np.ndarray, min_tol: float, init: tuple[float, float, float] | None = None
) -> tuple[tuple[float, float, float], np.ndarray]:
    """Circle fit with outlier rejection: consensus start (or `init`), then least squares
    on the points within max(min_tol, 3 robust sigma), repeated, then geometric refinement."""
    circ = init if init is not None else _ransac_circle(pts, tol=max(min_tol, 1.5))
    keep = np.zeros(len(pts), bool)
    for _ in range(10):
        res = np.abs(np.hypot(pts[:, 0] - circ[0], pts[:, 1] - circ[1]) - circ[2])
        near = res <= 4.0 * min_tol
        sigma = 1.4826 * float(np.median(res[near])) if near.sum() >= 10 else min_tol
        new = res <= max(min_tol, 3.0 * sigma)
        if new.sum() < 10 or np.array_equal(new, keep):
            break
        keep = new
        circ = _fit_circle(pts[keep])
    if keep.sum() >= 10:
        circ = _refine_geometric(pts[keep], circ)
    return circ, keep


def _levels(v: np.ndarray) -> tuple[float, float, float]:
    """Background level, FOV level and background noise, from the image's own histogram.

    Otsu splits dark from bright; the FOV level is the median of the bright class, the
    background level the darker of the dark class's median and the 5th percentile (a
    dark class that also holds dark retina must not lift the background level).
    """
    hi = float(np.percentile(v, 99.5))
    if hi <= 0:
        return 0.0, 0.0, 0.0
    u8 = np.clip(v * (255.0 / hi), 0, 255).astype(np.uint8)
    t_otsu, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    t = (t_otsu + 0.5) * hi / 255.0
    low, high = v[v <= t], v[v > t]
    if low.size == 0 or high.size == 0:
        return float(np.median(v)), float(np.median(v)), 0.0
    fg = float(np.median(high))
    bg = min(float(np.median(low)), float(np.percentile(v, 5)))
    near = low[low <= bg + 0.2 * (fg - bg)]
    noise = 1.4826 * float(np.median(np.abs(near - bg))) if near.size else 0.0
    return bg, fg, noise


def _largest_component(binary: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(binary, bool)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == k


def _subpixel_edges(
    v: np.ndarray,
    circ,
    bg: float,
    step_min: float,
    bounds,
    hard_level: float | None = None,
    n_rays: int = 720,
) -> np.ndarray:
    """Sub-pixel rim points (work coords): half-way crossings of the local step along rays.

    The rim of the aperture is blurred by the optics; reference masks put the edge at
    half the local step between the retina just inside and the border just outside,
    which, unlike a global threshold, does not move with vignetting at the periphery.
    Rays that leave the image or cross a straight cut, and rays without a clear step
    (a dark area of retina at the rim), give no point. With `hard_level` (a photo masked
    by earlier processing, see _hard_masked) the edge is where the signal ends instead.
    """
    cx, cy, r = circ
    h, w = v.shape
    top, bottom, left, right = bounds
    span = max(5.0, 0.05 * r)
    n = 4 * int(math.ceil(span)) + 1
    rho = r + np.linspace(-span, span, n, dtype=np.float32)
    th = np.linspace(0, 2 * np.pi, n_rays, endpoint=False, dtype=np.float32)
    cos, sin = np.cos(th)[:, None], np.sin(th)[:, None]
    mx = (cx + rho[None, :] * cos).astype(np.float32)
    my = (cy + rho[None, :] * sin).astype(np.float32)
    # outside the image counts as background; crossings at the image border are dropped below
    prof = cv2.remap(
        v, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=bg
    )
    q = n // 4
    inner = np.median(prof[:, :q], axis=1)
    outer = np.median(prof[:, -q:], axis=1)
    ok = inner - outer >= step_min
    # a rim section where the retina fades out (eyelid shadow, vignetting) pulls the edge
    # inwards: keep rays whose inside level is typical of the rim
    if ok.any():
        ok &= inner >= 0.6 * float(np.median(inner[ok]))
    if hard_level is None:
        level = (0.5 * (inner + outer))[:, None]
    else:
        level = np.full((n_rays, 1), hard_level, np.float32)
    above = prof >= level
    cross = above[:, :-1] & ~above[:, 1:]
    mid = (n - 1) / 2.0
    idx = np.arange(n - 1)
    dist = np.where(cross, np.abs(idx + 0.5 - mid), np.inf)
    j = np.argmin(dist, axis=1)
    ok &= np.isfinite(dist[np.arange(n_rays), j])
    rows = np.nonzero(ok)[0]
    j = j[rows]
    lv = level[rows, 0]
    a, b = prof[rows, j], prof[rows, j + 1]
    frac = np.clip((a - lv) / np.maximum(a - b, 1e-12), 0.0, 1.0)
    rr = rho[j] + frac * (rho[j + 1] - rho[j])
    x, y = cx + rr * cos[rows, 0], cy + rr * sin[rows, 0]
    # an edge made by the image border or a straight cut is not a point of the circle
    inside = (x > max(left, 0) + 1.5) & (x < min(right, w - 1) - 1.5)
    inside &= (y > max(top, 0) + 1.5) & (y < min(bottom, h - 1) - 1.5)
    return np.column_stack([x[inside], y[inside]])


def _hard_masked(small: np.ndarray, circ, bounds, n_rays: int = 720) -> tuple[float, float] | None:
    """(floor, tail) when the photo was cut out by a mask, else None.

    Preprocessed crops (EyeQ, many Kaggle pipelines) were multiplied by their own FOV
    mask: the border just outside the rim is one exact value (the floor, 0 mostly), and
    the retina's soft rim stops abruptly there, at a level well above the floor (the
    tail: median over rays of the last value before the floor). The FOV is then where
    the signal ends, not the half-way point of the rim. A camera's own border is noisy,
    and a soft rim on a noiseless floor fades into it: neither counts.
    """
    cx, cy, r = circ
    h, w = small.shape
    top, bottom, left, right = bounds
    th = np.linspace(0, 2 * np.pi, n_rays, endpoint=False)
    vals = []
    for d in (2.0, 3.0, 4.0):
        x = np.rint(cx + (r + d) * np.cos(th)).astype(int)
        y = np.rint(cy + (r + d) * np.sin(th)).astype(int)
        ok = (x >= max(0.0, left)) & (x <= min(w - 1.0, right))
        ok &= (y >= max(0.0, top)) & (y <= min(h - 1.0, bottom))
        vals.append(small[y[ok], x[ok]])
    vals = np.concatenate(vals)
    if vals.size < 100:
        return None
    floor = vals.min()
    if np.mean(vals == floor) < 0.97:
        return None
    # and the signal stops abruptly there: the last pixel before the floor is still bright
    # (a soft rim on a noiseless floor fades to it instead)
    rr = r + np.arange(-8.0, 4.5, 1.0)
    x = np.rint(cx + rr[None, :] * np.cos(th)[:, None]).astype(int)
    y = np.rint(cy + rr[None, :] * np.sin(th)[:, None]).astype(int)
    ok = ((x >= max(0.0, left)) & (x <= min(w - 1.0, right))).all(axis=1)
    ok &= ((y >= max(0.0, top)) & (y <= min(h - 1.0, bottom))).all(axis=1)
    if ok.sum() < 20:
        return None
    prof = small[y[ok], x[ok]]
    above = prof > floor
    last = np.where(above.any(axis=1), above.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1), 0)
    lastv = prof[np.arange(len(prof)), last] - floor
    inner = prof[:, 0] - floor
    if np.median(lastv / np.maximum(inner, 1e-6)) < 0.06:
        return None
    return float(floor), float(np.median(lastv))


def _straight_cut(
    v: np.ndarray, region: np.ndarray, circ, bg: float, fg: float, low: float, axis: int, side: int
) -> tuple[float, bool] | None:
    """(sub-pixel position in work coords, sharp) of a straight aperture cut on one side, or None.

    axis 0: a horizontal cut (side -1 top, +1 bottom); axis 1: vertical (left, right).
    Walking outward from the centre, a cut is where the region stops filling the circle's
    chord (>= 80 %) and is gone (< 20 %) within a few lines, well inside the circle.
    The retina often darkens towards the cut, so the cut is placed after the last line
    that still carries signal (> `low`), by its partial coverage.
    """
    cx, cy, r = circ
    img, reg = (v, region) if axis == 0 else (v.T, region.T)
    c, oc = (cy, cx) if axis == 0 else (cx, cy)
    n, other = img.shape
    lines = np.arange(n)
    half = np.sqrt(np.maximum(r * r - (lines - c) ** 2, 0.0))
    lo = np.clip(np.ceil(oc - 0.8 * half), 0, other - 1).astype(int)
    hi = np.clip(np.floor(oc + 0.8 * half), 0, other - 1).astype(int)
    # per-line fill of the chord's middle, from the region's integral image
    integral = cv2.integral(region.view(np.uint8) if region.dtype == bool else region)
    if axis == 1:
        integral = integral.T
    inside_sum = (
        integral[lines + 1, hi + 1] - integral[lines, hi + 1] - integral[lines + 1, lo] + integral[lines, lo]
    )
    cover = inside_sum / np.maximum(hi - lo + 1, 1)
    start = int(np.clip(round(c), 0, n - 1))
    order = np.arange(start, n) if side > 0 else np.arange(start, -1, -1)
    tip = np.nonzero(hi[order] - lo[order] < 4)[0]
    thin = np.nonzero(cover[order] < 0.8)[0]
    if thin.size == 0 or (tip.size and tip[0] <= thin[0]):
        return None  # the region fills the chord up to the circle's tip or the image border
    if thin[0] == 0:
        return None
    full = int(order[thin[0] - 1])
    circle_edge = c - r if side < 0 else c + r
    if (full - circle_edge) * (-side) <= max(3.0, 0.03 * r):
        return None  # the region reaches (almost) the circle: a rim, not a cut
    gap = max(3, int(math.ceil(0.015 * r)))
    after = full + side * gap
    if not 0 <= after < n:
        return None
    if reg[after, lo[full] : hi[full] + 1].mean() >= 0.2:
        return None  # fading out gradually: dark retina, not a straight edge
    # mean profile across the cut over the middle of the chord
    a, b = lo[full], hi[full]
    q = (b - a) // 4

    def prof(y: int) -> float:
        return float(img[y, a + q : b + 1 - q].mean())

    k = full
    while 0 <= k + side < n and prof(k + side) > low:
        k += side
    inner = prof(k - side) if 0 <= k - side < n else prof(k)
    cov = float(np.clip((prof(k) - bg) / max(inner - bg, 1e-12), 0.0, 1.0))
    # sharp: the retina is still bright a few lines inside the cut (not faded out)
    deep = int(np.clip(k - side * gap, 0, n - 1))
    sharp = prof(deep) - bg >= 0.5 * (fg - bg)
    return float(k + side * (cov - 0.5)), bool(sharp)


def _mirror_faded_cuts(bounds: list[float], sharp: list[bool], centre: tuple[float, float]) -> None:
    """Complete a faded straight cut of a padded crop from the opposite, sharp one. In place.

    Crops made by earlier processing (EyeQ and similar) keep the columns of the circle and
    pad the rows equally above and below with zeros, so the straight cuts sit symmetrically
    about the frame's centre. When the retina fades to black before one cut (eyelid shadow,
    vignetting) only the region's end is visible there; if the opposite cut is sharp and
    farther out, the faded one is placed at its mirror image. centre: (x, y) of the frame.
    """
    for a, b, c in ((0, 1, centre[1]), (2, 3, centre[0])):
        if not (np.isfinite(bounds[a]) and np.isfinite(bounds[b])) or sharp[a] == sharp[b]:
            continue
        da, db = c - bounds[a], bounds[b] - c
        if sharp[a] and db < da:
            bounds[b] = c + da
        elif sharp[b] and da < db:
            bounds[a] = c - db


def _render_mask(shape, cx, cy, r, top, bottom, left, right) -> np.ndarray:
    """disc ∩ rows[top..bottom] ∩ cols[left..right], at full resolution, row by row."""
    h, w = shape
    ys = np.arange(h, dtype=np.float64)
    dy = ys - cy
    half = np.sqrt(np.maximum(r * r - dy * dy, 0.0))
    inside = r * r - dy * dy >= 0
    x0 = np.where(inside, np.ceil(cx - half), w).astype(np.int64)
    x1 = np.where(inside, np.floor(cx + half), -1).astype(np.int64)
    x0 = np.maximum(x0, left)
    x1 = np.minimum(x1, right)
    row_ok = (ys >= top) & (ys <= bottom)
    x1 = np.where(row_ok, x1, -1)
    xs = np.arange(w, dtype=np.int64)
    return (xs[None, :] >= x0[:, None]) & (xs[None, :] <= x1[:, None])


def _whole_frame(h: int, w: int, confidence: float) -> FieldOfView:
    return FieldOfView(
        mask=np.ones((h, w), bool),
        cx=(w - 1) / 2.0,
        cy=(h - 1) / 2.0,
        radius=math.hypot(w, h) / 2.0,
        top=0,
        bottom=h - 1,
        left=0,
        right=w - 1,
        cut_top=True,
        cut_bottom=True,
        cut_left=True,
        cut_right=True,
        method="whole-frame",
        confidence=confidence,
        found=False,
    )


# --------------------------------------------------------------------------- detection


def detect_fov(rgb: np.ndarray) -> FieldOfView:
    """Find the circular field of view of an as-shot or cropped colour fundus photo.

    rgb: H x W x 3 (or H x W) uint8, uint16 or float. Raises FieldOfViewError when no
    usable field of view is visible (blank or nearly blank frame, no circular region).
    """
    rgb = np.asarray(rgb)
    small, sx, sy = _brightness_small(rgb)
    h, w = rgb.shape[:2]
    hs, ws = small.shape

    v = cv2.medianBlur(small, 5)
    bg, fg, noise = _levels(v)
    if fg < 4.0 / 255.0 or fg - bg < 3.0 / 255.0:
        raise FieldOfViewError(
            "The photo is blank or almost completely dark: no field of view (retina) is visible."
        )
    if bg > 0.2 * fg:
        # the darkest pixels are not dark: there is no black border around the retina
        return _whole_frame(h, w, confidence=float(min(1.0, bg / fg)))

    thr = bg + max(4.0 * noise, _THRESHOLD_FRACTION * (fg - bg), 1.0 / 255.0)
    low = bg + max(3.0 * noise, 0.03 * (fg - bg), 0.5 / 255.0)
    binary = (v > thr).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    region = _largest_component(binary)
    area = int(region.sum())
    if area < 0.02 * hs * ws:
        raise FieldOfViewError(
            "No field of view found: the bright part of the photo is too small to be a retina."
        )
    if area > 0.995 * hs * ws:
        return _whole_frame(h, w, confidence=1.0)

    # outer boundary of the region (holes do not matter)
    contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pts = max(contours, key=len)[:, 0, :].astype(np.float64)
    px, py = pts[:, 0], pts[:, 1]
    rows = np.nonzero(region.any(axis=1))[0]
    cols = np.nonzero(region.any(axis=0))[0]
    keep = (px > 0) & (px < ws - 1) & (py > 0) & (py < hs - 1)
    # drop the extreme rows/columns: a straight cut lies there (a full circle only loses its tips)
    keep &= (py > rows[0] + 2) & (py < rows[-1] - 2) & (px > cols[0] + 2) & (px < cols[-1] - 2)
    if keep.sum() < 20:
        return _whole_frame(h, w, confidence=0.0)
    circ, _ = _robust_circle(pts[keep], min_tol=1.5)

    bounds_w = [-np.inf, np.inf, -np.inf, np.inf]  # top, bottom, left, right (work coords)
    sharp = [False] * 4
    for i, (axis, side) in enumerate(((0, -1), (0, 1), (1, -1), (1, 1))):
        cut = _straight_cut(v, region, circ, bg, fg, low, axis, side)
        if cut is not None:
            bounds_w[i], sharp[i] = cut
    hard = _hard_masked(small, circ, bounds_w)
    hard_level = None
    if hard is not None:
        # the frame's centre in work coordinates
        _mirror_faded_cuts(bounds_w, sharp, (w * sx / 2.0 - 0.5, h * sy / 2.0 - 0.5))
        hard_level = hard[0] + 0.5 * hard[1]

    # sub-pixel refinement of the circle on the half-step crossings along rays
    edges = _subpixel_edges(v, circ, bg, 0.25 * (fg - bg), bounds_w, hard_level)
    if len(edges) >= 20:
        circ2, _ = _robust_circle(edges, min_tol=0.75, init=circ)
        if abs(circ2[2] - circ[2]) < 0.05 * circ[2]:
            circ = circ2

    # confidence: agreement of the model with the thresholded region at work scale
    cxw, cyw, rw = circ
    model_w = _render_mask(
        (hs, ws), cxw, cyw, rw,
        math.ceil(max(bounds_w[0], 0)), math.floor(min(bounds_w[1], hs - 1)),
        math.ceil(max(bounds_w[2], 0)), math.floor(min(bounds_w[3], ws - 1)),
    )
    inter = np.count_nonzero(model_w & region)
    union = np.count_nonzero(model_w | region)
    confidence = inter / union if union else 0.0
    if confidence < 0.6:
        if area > 0.9 * hs * ws:
            return _whole_frame(h, w, confidence=confidence)
        raise FieldOfViewError(
            "No clear circular field of view was found in this photo "
            f"(the bright area is not round: agreement {confidence:.0%})."
        )

    # back to original pixel coordinates (pixel centres at integers)
    cx = (cxw + 0.5) / sx - 0.5
    cy = (cyw + 0.5) / sy - 0.5
    r = rw / math.sqrt(sx * sy)
    if r < 0.05 * min(h, w) or r > 2.0 * max(h, w):
        raise FieldOfViewError("No circular field of view was found in this photo.")

    def to_orig(b: float, s: float) -> float:
        return (b + 0.5) / s - 0.5

    top = max(0, math.ceil(to_orig(bounds_w[0], sy))) if np.isfinite(bounds_w[0]) else 0
    bottom = min(h - 1, math.floor(to_orig(bounds_w[1], sy))) if np.isfinite(bounds_w[1]) else h - 1
    left = max(0, math.ceil(to_orig(bounds_w[2], sx))) if np.isfinite(bounds_w[2]) else 0
    right = min(w - 1, math.floor(to_orig(bounds_w[3], sx))) if np.isfinite(bounds_w[3]) else w - 1

    return FieldOfView(
        mask=_render_mask((h, w), cx, cy, r, top, bottom, left, right),
        cx=float(cx),
        cy=float(cy),
        radius=float(r),
        top=top,
        bottom=bottom,
        left=left,
        right=right,
        cut_top=bool(cy - r < top - 0.5),
        cut_bottom=bool(cy + r > bottom + 0.5),
        cut_left=bool(cx - r < left - 0.5),
        cut_right=bool(cx + r > right + 0.5),
        method="circle-fit",
        confidence=float(confidence),
        found=True,
    )


# --------------------------------------------------------------------------- square frame


@dataclass(frozen=True)
class SquareFrame:
    """A square working frame around the whole FOV circle, and the exact way back.

    The square covers original rows y0 .. y0+side-1 and columns x0 .. x0+side-1; those
    may lie outside the photo (negative or past the edge): that part of the square is
    zero padding (for HRF, the parts of the circle cut off by the image border). The
    circle's centre is the square's centre to within half a pixel, with at least
    `margin` pixels between the circle and the square's edges.
    """

    image_shape: tuple[int, int]
    side: int
    x0: int
    y0: int
    cx: float
    cy: float
    radius: float

    @classmethod
    def from_fov(
        cls,
        fov: FieldOfView,
        image_shape: tuple[int, ...] | None = None,
        margin: int = 4,
        multiple: int = 1,
    ) -> SquareFrame:
        """The square for `fov`; image_shape (H, W[, C]) defaults to the mask's shape.

        multiple: round the side up to a multiple of this (growing both sides equally).
        """
        shape = tuple(image_shape[:2]) if image_shape is not None else fov.shape
        if shape != fov.shape:
            raise ValueError(f"image shape {shape} does not match the FOV mask {fov.shape}")
        return cls.around_circle(fov.cx, fov.cy, fov.radius, shape, margin, multiple)

    @classmethod
    def around_circle(
        cls,
        cx: float,
        cy: float,
        radius: float,
        image_shape: tuple[int, ...],
        margin: int = 4,
        multiple: int = 1,
    ) -> SquareFrame:
        """The square around a circle given in the photo's pixel coordinates."""
        if radius <= 0 or margin < 0 or multiple < 1:
            raise ValueError("radius must be positive, margin >= 0 and multiple >= 1")
        h, w = int(image_shape[0]), int(image_shape[1])
        # odd side centred on the pixel nearest the centre: the circle then clears every
        # edge by >= margin (the centre is within 0.5 px of that pixel's centre)
        side = 2 * math.ceil(radius + margin) + 1
        x0 = round(cx) - (side - 1) // 2
        y0 = round(cy) - (side - 1) // 2
        grown = -(-side // multiple) * multiple
        x0 -= (grown - side) // 2
        y0 -= (grown - side) // 2
        return cls((h, w), int(grown), int(x0), int(y0), float(cx), float(cy), float(radius))

    # -- overlap of the square with the photo

    def _overlap(self) -> tuple[slice, slice, slice, slice]:
        """(rows, cols) in the photo and (rows, cols) in the square of the shared area."""
        h, w = self.image_shape
        ys, ye = max(0, self.y0), min(h, self.y0 + self.side)
        xs, xe = max(0, self.x0), min(w, self.x0 + self.side)
        ye, xe = max(ye, ys), max(xe, xs)
        return (
            slice(ys, ye),
            slice(xs, xe),
            slice(ys - self.y0, ye - self.y0),
            slice(xs - self.x0, xe - self.x0),
        )

    @property
    def centre_in_square(self) -> tuple[float, float]:
        """(x, y) of the circle's centre in square coordinates."""
        return self.cx - self.x0, self.cy - self.y0

    def covered(self) -> np.ndarray:
        """Bool mask of the photo's pixels that lie inside the square."""
        out = np.zeros(self.image_shape, bool)
        ry, rx, _, _ = self._overlap()
        out[ry, rx] = True
        return out

    def to_square(self, arr: np.ndarray) -> np.ndarray:
        """Crop + zero-pad an H x W[ x C] array of the photo's geometry into the square."""
        arr = np.asarray(arr)
        if arr.shape[:2] != self.image_shape:
            raise ValueError(f"array of shape {arr.shape} does not match the photo {self.image_shape}")
        out = np.zeros((self.side, self.side) + arr.shape[2:], arr.dtype)
        ry, rx, sy_, sx_ = self._overlap()
        out[sy_, sx_] = arr[ry, rx]
        return out

    def from_square(self, arr_square: np.ndarray, fill=0) -> np.ndarray:
        """Map a side x side[ x C] array back to the photo's geometry, exactly.

        Pixels of the photo outside the square get `fill`; padding is dropped.
        """
        arr_square = np.asarray(arr_square)
        if arr_square.shape[:2] != (self.side, self.side):
            raise ValueError(
                f"array of shape {arr_square.shape} is not this {self.side} x {self.side} square"
            )
        out = np.full(self.image_shape + arr_square.shape[2:], fill, dtype=arr_square.dtype)
        ry, rx, sy_, sx_ = self._overlap()
        out[ry, rx] = arr_square[sy_, sx_]
        return out

    def square_mask(self) -> np.ndarray:
        """The full FOV disc in the square (bool), including parts cut off in the photo.

        For the FOV as the photo shows it (cuts, image border) use to_square(fov.mask).
        """
        qx, qy = self.centre_in_square
        n = self.side
        return _render_mask((n, n), qx, qy, self.radius, 0, n - 1, 0, n - 1)
