"""Typed errors whose message a clinician can read.

Every error the engine raises on bad input derives from FundusError, so a caller
(CLI, batch runner, GUI) can fail one item with its message and carry on.
"""

from __future__ import annotations


class FundusError(Exception):
    """Base class: `str(err)` is a plain-language message fit for a clinician."""


class ImageReadError(FundusError):
    """The file could not be read as an image (missing, empty, truncated, not an image)."""


class UnsupportedImageError(FundusError):
    """The file is an image, but not one we can enhance (size, channels, format)."""


class FieldOfViewError(FundusError):
    """No usable circular field of view was found in the photo."""


class ModelError(FundusError):
    """A model is missing, damaged, or does not match its model card."""


class OutputError(FundusError):
    """An output could not be written (permission, disk full, would overwrite the input)."""


class Cancelled(FundusError):
    """The user cancelled long-running work."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)
