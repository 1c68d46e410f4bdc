"""The do-no-harm guard on every enhancement: did the output keep the photo's large structures?

The score is core.imaging.measures.guard_score: the band-pass correlation (1.5-6 % of the
FOV diameter) of the output against its own input at a 256 px FOV, a few ms per photo.
Below the model's threshold the output is *flagged*, never blocked: the clinician sees
GUARD_MESSAGE in the viewer, the CLI, the batch report and exported comparisons, and the
score travels in the provenance sidecar and the PNG's text metadata.

The threshold belongs to the model and sits in its card as ``"guard": {"threshold": ...,
"catch_rate": ...}`` (core.imaging.measures.calibrate_guard on evaluate's photometric table,
or on a site's held-out scans for an adapted model). A card without one (models shipped
before the guard existed) uses DEFAULT_GUARD_THRESHOLD, and the result says so.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from core.imaging.measures import guard_score

log = logging.getLogger(__name__)

GUARD_MESSAGE = (
    "the enhancement changed large structures (illumination patches, macula, disc): compare with the original"
)
DEFAULT_GUARD_THRESHOLD = 0.8
"""For cards without a guard calibration. Between CLAHE-L*'s band-pass correlation on real
low-quality photos (0.91 mean, 0.74 worst; issue 15) and well above what mage-s 1.1.0 scores
on a clean sample darkened to x0.6 (0.46), while the same photo undarkened scores 0.93."""
CARD_KEY = "guard"
"""Top-level model-card key of the calibration (kept by ModelCard.extra, so older readers keep it)."""


@dataclass(frozen=True)
class GuardResult:
    """The guard's verdict on one output. score None = could not be measured (never flagged)."""

    score: float | None
    threshold: float
    flagged: bool
    threshold_source: str = "model card"
    """"model card" or "default" (the card has no calibration)."""

    @property
    def message(self) -> str | None:
        """GUARD_MESSAGE when flagged, else None."""
        return GUARD_MESSAGE if self.flagged else None

    def to_dict(self) -> dict[str, Any]:
        """For provenance sidecars and reports."""
        return {
            "score": None if self.score is None else round(self.score, 4),
            "threshold": round(self.threshold, 4),
            "threshold_source": self.threshold_source,
            "flagged": self.flagged,
            "message": self.message,
            "measure": "band-pass correlation, output vs input, 256 px FOV (core.imaging.measures.guard_score)",
        }


def card_guard(card: Any) -> dict[str, Any]:
    """The guard calibration stored in a model card (ModelCard or plain dict); {} when there is none."""
    if card is None:
        return {}
    if isinstance(card, Mapping):
        g = card.get(CARD_KEY)
    else:
        g = (getattr(card, "extra", None) or {}).get(CARD_KEY)
    return dict(g) if isinstance(g, Mapping) else {}


def set_card_guard(card: Any, calibration: Mapping[str, Any]) -> None:
    """Store a calibrate_guard result in a ModelCard (its `extra`, written as the top-level "guard" key)."""
    card.extra[CARD_KEY] = {k: v for k, v in dict(calibration).items() if not isinstance(v, np.ndarray)}


def guard_threshold(card: Any) -> tuple[float, str]:
    """(threshold, source) for a card: its calibrated threshold, else DEFAULT_GUARD_THRESHOLD."""
    t = card_guard(card).get("threshold")
    if isinstance(t, (int, float)) and math.isfinite(float(t)):
        return float(t), "model card"
    return DEFAULT_GUARD_THRESHOLD, "default"


def check_output(
    input_pixels: np.ndarray, output_pixels: np.ndarray, fov: np.ndarray,
    threshold: float = DEFAULT_GUARD_THRESHOLD, source: str = "default",
) -> GuardResult:
    """Score one output against its input; a failure of the measure is logged and never blocks the output."""

    try:
        score: float | None = float(guard_score(input_pixels, output_pixels, fov))
        if not math.isfinite(score):
            score = None
    except (ValueError, ArithmeticError) as exc:  # e.g. an empty FOV: nothing to judge
        log.warning("the do-no-harm guard could not score this output (%s)", exc)
        score = None
    flagged = score is not None and score < threshold
    return GuardResult(score, float(threshold), flagged, source)


def from_provenance(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The guard entry of a provenance record ({} when it has none)."""
    if not record:
        return {}
    g = (record.get("extra") or {}).get("guard")
    return dict(g) if isinstance(g, Mapping) else {}
