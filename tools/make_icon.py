"""Draw the application icon (a stylised fundus: orange disc, optic disc, vessels) as PNG and ICO."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def draw(size: int = 256) -> np.ndarray:
    s = size * 4  # supersample, then downscale for smooth edges
    img = np.zeros((s, s, 4), np.uint8)
    c = s // 2
    cv2.circle(img, (c, c), int(0.47 * s), (32, 36, 44, 255), -1, cv2.LINE_AA)
    cv2.circle(img, (c, c), int(0.40 * s), (30, 95, 205, 255), -1, cv2.LINE_AA)  # BGR orange-red
    od = (int(c + 0.16 * s), c)
    cv2.circle(img, od, int(0.075 * s), (150, 215, 250, 255), -1, cv2.LINE_AA)
    for angle, length in ((-2.4, 0.55), (2.4, 0.55), (-1.9, 0.4), (1.9, 0.4), (3.1, 0.5)):
        end = (int(od[0] + length * s * np.cos(angle)), int(od[1] + length * s * np.sin(angle)))
        mid = (int(od[0] + 0.5 * length * s * np.cos(angle * 0.9)), int(od[1] + 0.5 * length * s * np.sin(angle * 0.9)))
        cv2.line(img, od, mid, (20, 40, 120, 255), int(0.014 * s), cv2.LINE_AA)
        cv2.line(img, mid, end, (20, 40, 120, 255), int(0.010 * s), cv2.LINE_AA)
    ring = np.zeros((s, s), np.uint8)
    cv2.circle(ring, (c, c), int(0.40 * s), 255, -1, cv2.LINE_AA)
    img[..., 3] = np.where(ring > 0, img[..., 3], np.where(img[..., 0] == 32, 255, img[..., 3]))
    small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_BGRA2RGBA)


def main(out_dir: str = "resources/icons") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rgba = Image.fromarray(draw(256), "RGBA")
    rgba.save(out / "fundus-studio.png")
    rgba.save(out / "fundus-studio.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])


if __name__ == "__main__":
    main(*sys.argv[1:])
