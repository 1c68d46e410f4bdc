"""Bounds of MAGE-Net's structured output form (core.models.structured), without torch.

Kept apart so the GUI can draw the "What changed" legends (core.what_changed) without
loading torch at start-up.
"""

MIN_GAIN = 0.5
MAX_GAIN = 3.0
MAX_VEIL_FRACTION = 0.9
"""V <= 0.9 x the local minimum of x: the darkest structure keeps at least a tenth of its level."""
MIN_VEIL_FRACTION = -0.1
"""A negative veil lifts the darkest regions, by at most a tenth of their local minimum."""
MAX_DETAIL_GAIN = 2.5
MIN_DETAIL_GAIN = -0.3
"""Negative detail gains smooth (noise, JPEG blocks): at most 30 % of a band, so structure is never inverted.
Both lower bounds also put the identity inside the sigmoid's working range, where it can learn: at an
identity on the sigmoid's flat tail (gain 0 at sigmoid(-6)) a 70-minute run moved no detail gain at all."""
MAX_DEBLUR = 0.04
"""Largest deblurring residual (before high-pass), in image units."""
