"""Vessel overlay colours (RGB), one spelling for the engine's exported overlays and the screen.

Colour-blind safe and distinct from blood and lesions. No heavy imports, so the GUI can
draw its legend before torch loads; core.vessels re-exports them.
"""

from __future__ import annotations

COLOUR_BOTH = (255, 250, 200)  # light yellow: found before and after enhancement
COLOUR_ONLY_AFTER = (0, 220, 255)  # cyan: only after enhancement
COLOUR_ONLY_BEFORE = (255, 0, 220)  # magenta: lost by enhancement
COLOUR_HALLUCINATION = (255, 176, 0)  # amber outline: possible hallucination
