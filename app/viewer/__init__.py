"""The image viewer: one shared view state, canvases that follow it, compare modes, overlays."""
