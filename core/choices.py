"""The words the engine, the command line and the GUI share for user choices.

Plain tuples with no heavy imports, so the window can build its menus before torch
loads; core.device and core.enhance check against the same tuples.
"""

from __future__ import annotations

DEVICE_PREFERENCES = ("auto", "cpu", "cuda", "mps")
DEVICE_TITLES = {
    "auto": "Automatic (best available)",
    "cpu": "CPU",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (MPS)",
}
"""Menu text of each preference."""

MODES = ("fast", "tiled")
MODE_TITLES = {"fast": "Fast", "tiled": "High quality (tiled)"}
"""Enhancement modes: fast = network at the working size + guided upsampling; tiled = higher resolution in tiles."""
