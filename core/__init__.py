"""Fundus Studio engine: image I/O, MAGE-Net enhancement, vessels, training, batch.

Nothing in this package imports Qt; the GUI in `app` is a view on it.
"""

__version__ = "0.1.0"
DISCLAIMER = "Not for diagnostic use"
