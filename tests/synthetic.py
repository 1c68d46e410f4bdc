"""Small synthetic fundus-like photos made by the tests themselves (no research data)."""

from __future__ import annotations

import cv2
import numpy as np
import torch


# The smallest MAGE-Net config that still has every part: GUI and training tests build it in milliseconds.
TINY_MAGENET = {
    "stage1_channels": [4, 4, 4],
    "stage2_channels": [4, 4, 4],
    "stage1_cabs": 1,
    "stage2_cabs": 1,
    "rsp_channels": 4,
    "rsp_groups": 1,
    "rsp_cabs": 1,
    "reduction": 2,
    "structure_hidden": 2,
}


def make_fundus(height: int = 300, width: int = 360, radius: float | None = None, seed: int = 0,
                dtype: type = np.uint8) -> np.ndarray:
    """An orange disc with darker branching 'vessels' and a bright 'optic disc' on black."""
    rng = np.random.default_rng(seed)
    radius = radius or 0.45 * min(height, width)
    cy, cx = height / 2, width / 2
    img = np.zeros((height, width, 3), np.float32)
    yy, xx = np.mgrid[0:height, 0:width]
    r = np.hypot(yy - cy, xx - cx)
    disc = r <= radius
    shade = 1.0 - 0.35 * (r / radius) ** 2
    img[..., 0] = 0.75 * shade
    img[..., 1] = 0.38 * shade
    img[..., 2] = 0.18 * shade
    canvas = np.zeros((height, width), np.float32)
    for _ in range(10):
        angle = rng.uniform(0, 2 * np.pi)
        x0, y0 = cx + 0.1 * radius * np.cos(angle), cy + 0.1 * radius * np.sin(angle)
        x1, y1 = cx + 0.95 * radius * np.cos(angle + 0.3), cy + 0.95 * radius * np.sin(angle + 0.3)
        cv2.line(canvas, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, int(rng.integers(1, 4)), cv2.LINE_AA)
    img *= (1.0 - 0.45 * canvas)[..., None]
    od = np.hypot(yy - cy, xx - (cx + 0.4 * radius)) < 0.12 * radius
    img[od] = np.clip(img[od] + 0.3, 0, 1)
    img += rng.normal(0, 0.01, img.shape).astype(np.float32)
    img = np.clip(img, 0, 1) * disc[..., None]
    maxv = np.iinfo(dtype).max
    return np.rint(img * maxv).astype(dtype)


class GainModel(torch.nn.Module):
    """A pointwise colour correction: what it does at any resolution is known exactly."""

    def __init__(self, gain: float = 0.6, offset: float = 0.15) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(gain))
        self.offset = offset

    def forward(self, x: torch.Tensor, fov: torch.Tensor | None = None) -> torch.Tensor:
        y = (x * self.gain + self.offset).clamp(0, 1)
        return y * fov if fov is not None else y


def guided_case(shape: tuple[int, int], dtype: type, grid: int, seed: int):
    """A photo, its FOV and square frame, and smooth random guided-step coefficients (a, b) on a
    grid x grid working-size map: the input of core.imaging.guided_upsample.apply_to_photo.

    Returns (photo, fov, frame, square_mask, a, b, max_value).
    """
    from core.imaging.fov import SquareFrame, detect_fov  # noqa: PLC0415

    photo = make_fundus(*shape, dtype=dtype)
    fov = detect_fov(photo)
    frame = SquareFrame.from_fov(fov, photo.shape)
    rng = np.random.default_rng(seed)
    a = cv2.GaussianBlur(rng.uniform(0.7, 1.4, (grid, grid, 3)).astype(np.float32), (0, 0), 3)
    b = cv2.GaussianBlur(rng.uniform(-0.1, 0.1, (grid, grid, 3)).astype(np.float32), (0, 0), 3)
    return photo, fov, frame, frame.to_square(fov.mask), a, b, int(np.iinfo(dtype).max)

TINY_MAGENET_HEAD = {**TINY_MAGENET, "global_channels": 4, "global_size": 16}
"""TINY_MAGENET with the whole-image colour head (core.models.global_colour)."""


def tiny_magenet_with_live_head(seed: int = 0):
    """A tiny MAGE-Net whose colour head actually changes the image (a fresh head is the identity)."""
    import torch  # noqa: PLC0415

    from core.models.magenet import MageNet, MageNetConfig  # noqa: PLC0415

    torch.manual_seed(seed)
    net = MageNet(MageNetConfig.from_dict(TINY_MAGENET_HEAD)).eval()
    with torch.no_grad():
        net.global_head.to_field.weight.normal_(0.0, 0.05)
        net.global_head.to_field.bias.copy_(torch.tensor([0.2, -0.1, 0.1, 0.02, 0.0, -0.02]))
    return net
