"""Exports: the enhanced image, a side-by-side comparison and the vessel overlay, with sidecars.

Everything goes through core.imaging.write (atomic, JSON provenance sidecar, refuses the
original). Comparison and overlay images carry a burned-in "Not for diagnostic use" band,
because they are the images that travel in e-mails and slide decks. When the do-no-harm
guard flagged the output (core.guard), its warning is burned in as well, above that band.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter

from core import DISCLAIMER, __version__
from core.errors import OutputError
from core.imaging import write

FORMATS = {"png": (".png", None, "PNG"), "tiff16": (".tif", 16, "16-bit TIFF"), "jpeg": (".jpg", None, "JPEG")}


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """`stem+suffix`, or `stem-2+suffix`... so an export never replaces an earlier one."""
    p = folder / f"{stem}{suffix}"
    n = 2
    while p.exists():
        p = folder / f"{stem}-{n}{suffix}"
        n += 1
    return p


def _out_folder(folder: str | Path) -> Path:
    out = Path(folder).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the output folder '{out}': {exc.strerror or exc}.") from exc
    return out


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return np.rint(pixels.astype(np.float32) / 257.0).clip(0, 255).astype(np.uint8)


def _provenance(image: Any, result: Any, kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    prov = result.provenance(image)
    prov["output_kind"] = kind
    if extra:
        prov.update(extra)
    return prov


def export_enhanced(image: Any, result: Any, folder: str | Path, fmt: str = "png") -> Any:
    """The enhanced photo at full resolution; 16-bit TIFF keeps 16-bit inputs exact."""
    suffix, depth, _title = FORMATS[fmt]
    out = unique_path(_out_folder(folder), f"{Path(image.name).stem}_enhanced", suffix)
    return write(
        out,
        result.pixels,
        provenance=_provenance(image, result, "enhanced"),
        input_path=image.source_path,
        bit_depth=depth,
    )


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _qimage_to_rgb(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, : 3 * w]
    return arr.reshape(h, w, 3).copy()


def guard_note(result: Any) -> str | None:
    """The guard's warning for a flagged output ("Warning: the enhancement changed ..."), else None."""
    if not getattr(result, "guard_flagged", False):
        return None
    msg = getattr(result, "guard_message", None) or ""
    score = getattr(result, "guard_score", None)
    tail = f" (structure score {score:.2f})" if isinstance(score, float) else ""
    return f"\u26a0 Warning: {msg}{tail}"


def compose(panels: list[tuple[np.ndarray, str]], footer: str, max_side: int = 2400,
            warning: str | None = None) -> np.ndarray:
    """Panels side by side under titles, with a disclaimer band burned in at the bottom (and an
    amber warning band above it when `warning` is given)."""
    imgs = []
    for rgb, title in panels:
        q = _qimage(to_uint8(rgb))
        if max(q.width(), q.height()) > max_side:
            q = q.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        imgs.append((q, title))
    h = max(q.height() for q, _ in imgs)
    gap = max(8, h // 200)
    title_h = max(36, h // 28)
    foot_h = max(44, h // 22)
    width = sum(q.width() for q, _ in imgs) + gap * (len(imgs) + 1)
    warn_h = foot_h if warning else 0
    height = title_h + h + warn_h + foot_h + gap
    canvas = QImage(width, height, QImage.Format.Format_RGB888)
    canvas.fill(QColor("#1e1e1e"))
    p = QPainter(canvas)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    font = QFont("DejaVu Sans")
    font.setPixelSize(int(title_h * 0.5))
    p.setFont(font)
    x = gap
    for q, title in imgs:
        p.setPen(QColor("#e6e6e6"))
        p.drawText(QRect(x, 0, q.width(), title_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
        p.drawImage(x, title_h, q)
        x += q.width() + gap
    if warning:
        wband = QRect(0, title_h + h + gap // 2, width, warn_h)
        p.fillRect(wband, QColor(255, 176, 0))  # the vessel warning's amber
        wfont = QFont(font)
        wfont.setBold(True)
        wfont.setPixelSize(int(foot_h * 0.34))
        p.setFont(wfont)
        p.setPen(QColor("#1e1e1e"))
        p.drawText(wband.adjusted(gap, 0, -gap, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   warning)
    band = QRect(0, title_h + h + warn_h + gap // 2, width, foot_h)
    p.fillRect(band, QColor("#7a3b00"))
    bold = QFont(font)
    bold.setBold(True)
    bold.setPixelSize(int(foot_h * 0.42))
    p.setFont(bold)
    p.setPen(QColor("#ffffff"))
    p.drawText(band.adjusted(gap, 0, -gap, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, DISCLAIMER.upper())
    small = QFont(font)
    small.setPixelSize(int(foot_h * 0.3))
    p.setFont(small)
    p.drawText(band.adjusted(gap, 0, -gap, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, footer)
    p.end()
    return _qimage_to_rgb(canvas)


def model_title(result: Any) -> str:
    info = getattr(result, "model_info", {}) or {}
    return f"{info.get('name', 'model')} {info.get('version', '')}".strip()


def _footer(image: Any, result: Any) -> str:
    when = datetime.now().strftime("%Y-%m-%d %H:%M")
    return f"{image.name}  \u00b7  {model_title(result)} ({result.mode})  \u00b7  Fundus Studio {__version__}  \u00b7  {when}"


def export_comparison(image: Any, result: Any, folder: str | Path) -> Any:
    rgb = compose(
        [(image.pixels, "Original"), (result.pixels, f"Enhanced \u00b7 {model_title(result)} ({result.mode})")],
        _footer(image, result),
        warning=guard_note(result),
    )
    out = unique_path(_out_folder(folder), f"{Path(image.name).stem}_comparison", ".png")
    return write(
        out, rgb, provenance=_provenance(image, result, "comparison", {"burned_in": DISCLAIMER}),
        input_path=image.source_path,
    )


def vessel_overlay_rgb(base_rgb: np.ndarray, comparison: Any, opacity: float) -> np.ndarray:
    """The engine's three-colour overlay when it offers one; else the same colours blended here."""
    try:
        from core.vessels import difference_overlay  # noqa: PLC0415

        return np.asarray(difference_overlay(to_uint8(base_rgb), comparison, opacity))
    except ImportError:
        from core.colours import COLOUR_BOTH, COLOUR_ONLY_AFTER, COLOUR_ONLY_BEFORE  # noqa: PLC0415

        out = to_uint8(base_rgb).astype(np.float32)
        for mask, color in (
            (comparison.both, COLOUR_BOTH),
            (comparison.only_after, COLOUR_ONLY_AFTER),
            (comparison.only_before, COLOUR_ONLY_BEFORE),
        ):
            m = np.asarray(mask, bool)
            out[m] = out[m] * (1 - opacity) + np.asarray(color, np.float32) * opacity
        return np.rint(out).astype(np.uint8)


def export_vessel_overlay(image: Any, result: Any, payload: Any, folder: str | Path, opacity: float = 0.7) -> Any:
    comparison = payload.comparison
    over = vessel_overlay_rgb(result.pixels, comparison, opacity)
    rgb = compose(
        [(over, "Vessels: yellow both \u00b7 cyan only enhanced \u00b7 magenta only original")],
        _footer(image, result),
        warning=guard_note(result),
    )
    extra = {
        "burned_in": DISCLAIMER,
        "vessel_model": payload.model_name,
        "vessel_measures": {
            k: float(getattr(comparison, k))
            for k in ("density_before", "density_after", "dice")
            if getattr(comparison, k, None) is not None
        },
    }
    out = unique_path(_out_folder(folder), f"{Path(image.name).stem}_vessels", ".png")
    return write(out, rgb, provenance=_provenance(image, result, "vessel_overlay", extra), input_path=image.source_path)
