"""Tiny models and photo folders for the batch tests (fast on 2 CPU cores)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.enhance import EnhanceSettings, Enhancer
from tests.synthetic import GainModel as SyntheticGain
from tests.synthetic import make_fundus


class GainModel(SyntheticGain):
    """A pointwise colour correction: cheap, deterministic, resolution independent."""

    def __init__(self, gain: float = 0.8, offset: float = 0.1) -> None:
        super().__init__(gain, offset)


class Card:
    def __init__(self, name: str = "gain", version: str = "1.0", sha256: str = "ab" * 32) -> None:
        self.name, self.version, self.sha256, self.architecture = name, version, sha256, "test"


def tiny_enhancer(version: str = "1.0", working_size: int = 64) -> Enhancer:
    return Enhancer.from_module(GainModel(), card=Card(version=version),
                                settings=EnhanceSettings(working_size=working_size))


def write_photo(path: Path, seed: int = 0, size: tuple[int, int] = (120, 140)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = make_fundus(size[0], size[1], seed=seed)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def photo_tree(root: Path, n: int = 3) -> list[Path]:
    """root/a/p0.png, root/a/p1.png, root/b/c/p2.png ... (sub-folders to mirror)."""
    folders = [root / "a", root / "b" / "c"]
    return [write_photo(folders[i % 2] / f"p{i}.png", seed=i) for i in range(n)]


def random_noise_png(path: Path) -> Path:
    """A colour image with no retina in it (should fail alone: no field of view)."""
    rng = np.random.default_rng(1)
    cv2.imwrite(str(path), rng.integers(0, 255, (100, 120, 3), dtype=np.uint8))
    return path
