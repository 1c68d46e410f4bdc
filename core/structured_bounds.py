"""Bounds of MAGE-Net's structured output form (core.models.structured), without torch.

Kept apart so the GUI can draw the "What changed" legends (core.what_changed) without
loading torch at start-up.
"""

MIN_GAIN = 0.5
MAX_GAIN = 3.0
MAX_VEIL_FRACTION = 0.9
"""V <= 0.9 x the local minimum of x: the darkest structure keeps at least a tenth of its level."""
MAX_DETAIL_GAIN = 2.5
MAX_DEBLUR = 0.04
"""Largest deblurring residual (before high-pass), in image units."""
