"""The one in-memory form of a fundus photo that every part of the engine passes around."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class FundusImage:
    """A colour fundus photograph as read from disk.

    pixels: H x W x 3 RGB, uint8 (bit_depth 8) or uint16 (bit_depth 16), orientation applied.
    metadata: what the reader learned (format, original mode, EXIF orientation, DICOM tags...).
    source_sha256: hash of the file bytes, recorded in every output's provenance.
    """

    pixels: np.ndarray
    bit_depth: int
    source_sha256: str
    source_path: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def max_value(self) -> int:
        return (1 << self.bit_depth) - 1

    def as_float(self) -> np.ndarray:
        """RGB float32 in [0, 1]."""
        return self.pixels.astype(np.float32) / float(self.max_value)

    @property
    def name(self) -> str:
        return self.source_path.name if self.source_path else "image"
