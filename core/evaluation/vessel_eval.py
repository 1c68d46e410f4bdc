"""Vessel segmentation accuracy on the held-out evaluation images.

DRIVE test 01-20 (1st_manual, inside the FOV, native resolution) and HRF 09-10 of
each class (manual1, inside the FOV, native 3504x2336). AUC, accuracy, IoU, Dice,
sensitivity and specificity are pooled over all FOV pixels of the set (the
customary way DRIVE numbers are reported), with per-image AUC kept too.
`transform` lets the degrade/enhance recovery table feed degraded or enhanced
photos to the same segmenter while the labels stay the clean manual ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

import core.paths
from core.data.validation import VAL_DRIVE, VAL_HRF, VAL_LES_AV
from core.data.vessel_samples import DRIVE_TEST_IDS, HRF_TEST_IDS, load_sample
from core.errors import FundusError
from core.progress import ProgressCallback, StopCallback, check_stop, report

Transform = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (rgb float [0,1], fov) -> rgb float


AUC_LEVELS = 1 << 20
"""Vessel probabilities are in [0, 1]: scored on 2^20 levels, so the AUC is a counting pass instead of
a sort of millions of pixels (an 8 MP HRF photo: 1.5 s -> 0.1 s; evaluate scores ~100 such maps).
Probabilities closer than 1e-6 count as tied; the AUC moves by less than 1e-5 (tested against the
exact mid-rank AUC)."""


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of probabilities in [0, 1] (Mann-Whitney U on AUC_LEVELS levels, ties count one half);
    NaN when a class is absent."""
    y = np.asarray(labels, dtype=bool).ravel()
    q = np.clip(np.asarray(scores, np.float32).ravel(), 0.0, 1.0)
    q = (q * np.float32(AUC_LEVELS - 1) + np.float32(0.5)).astype(np.int64)
    pos = np.bincount(q[y], minlength=AUC_LEVELS).astype(np.float64)
    neg = np.bincount(q[~y], minlength=AUC_LEVELS).astype(np.float64)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    below = np.cumsum(neg) - neg  # background pixels strictly below each level
    return float((pos * (below + 0.5 * neg)).sum() / (n_pos * n_neg))


def binary_scores(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, IoU, Dice, sensitivity, specificity of a binary prediction."""
    p = np.asarray(pred, dtype=bool).ravel()
    y = np.asarray(labels, dtype=bool).ravel()
    tp = float(np.sum(p & y))
    fp = float(np.sum(p & ~y))
    fn = float(np.sum(~p & y))
    tn = float(p.size - tp - fp - fn)
    return {
        "accuracy": (tp + tn) / max(p.size, 1),
        "iou": tp / max(tp + fp + fn, 1.0),
        "dice": 2 * tp / max(2 * tp + fp + fn, 1.0),
        "sensitivity": tp / max(tp + fn, 1.0),
        "specificity": tn / max(tn + fp, 1.0),
    }


def dice_by_threshold(probs: list[np.ndarray], labels: list[np.ndarray], bins: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Pooled Dice for thresholds on a grid (via histograms, cheap for many pixels)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    pos = np.zeros(bins)
    neg = np.zeros(bins)
    for p, y in zip(probs, labels):
        pos += np.histogram(p[y], bins=edges)[0]
        neg += np.histogram(p[~y], bins=edges)[0]
    tp = np.cumsum(pos[::-1])[::-1]  # predicted positive at threshold edges[k]
    fp = np.cumsum(neg[::-1])[::-1]
    fn = pos.sum() - tp
    dice = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return edges[:-1], dice


VALIDATION_SETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "drive_val": ("drive_train", VAL_DRIVE), "hrf_val": ("hrf", VAL_HRF), "les_av_val": ("les_av", VAL_LES_AV),
}
"""The labelled validation photos (core.data.validation) as vessel sets: checkpoint choice, never test."""


def dataset_ids(dataset: str) -> tuple[str, list[str]]:
    """(core.data.vessel_samples dataset, ids) of an evaluation set: the two test sets or a validation set."""
    if dataset == "drive_test":
        return "drive_test", DRIVE_TEST_IDS
    if dataset == "hrf_test":
        return "hrf", HRF_TEST_IDS
    if dataset in VALIDATION_SETS:
        kind, ids = VALIDATION_SETS[dataset]
        return kind, list(ids)
    raise FundusError(f"Unknown vessel evaluation set {dataset!r} (use 'drive_test', 'hrf_test' or "
                      f"{', '.join(repr(k) for k in VALIDATION_SETS)}).")


def evaluate_vessels(
    segmenter: Any,
    dataset: str = "drive_test",
    transform: Optional[Transform] = None,
    *,
    data_root: Optional[Path] = None,
    threshold: Optional[float] = None,
    ids: Optional[list[str]] = None,
    progress: Optional[ProgressCallback] = None,
    should_stop: Optional[StopCallback] = None,
    samples: Optional[dict] = None,
) -> dict[str, Any]:
    """AUC / accuracy / IoU / Dice (pooled inside the FOV) of `segmenter` on an evaluation set.

    samples: a dict the caller keeps across calls, so each photo and label is read once for all
    the methods of a table (an HRF photo takes ~1 s to decode).

    segmenter: a core.vessels.VesselSegmenter (needs `.probability(rgb, fov)` and `.threshold`).
    transform: applied to each clean photo (float RGB [0,1], fov) before segmentation.
    ids: a subset of the set's images (quick checks); default all of them.
    """

    root = Path(data_root) if data_root else core.paths.shared_data_dir()
    if root is None:
        raise FundusError("The research data folder (../shared/data/fundus) was not found.")
    kind, all_ids = dataset_ids(dataset)
    if ids is None:
        ids = all_ids
    elif not set(ids) <= set(all_ids):
        raise FundusError(f"Images {sorted(set(ids) - set(all_ids))} are not part of {dataset}.")
    thr = float(segmenter.threshold if threshold is None else threshold)
    probs, labels, per_image = [], [], []
    for k, sid in enumerate(ids):
        check_stop(should_stop)
        report(progress, k, len(ids), f"{dataset} {sid}")
        key = (str(root), kind, sid)
        s = samples.get(key) if samples is not None else None
        if s is None:
            s = load_sample(root, kind, sid)
            if samples is not None:
                for a in (s.rgb, s.fov, s.label):
                    a.flags.writeable = False  # shared by every method: none may change it
                samples[key] = s
        rgb = s.rgb if transform is None else np.clip(np.asarray(transform(s.rgb, s.fov), np.float32), 0, 1)
        prob = segmenter.probability(rgb, s.fov)
        p, y = prob[s.fov], s.label[s.fov]
        probs.append(p.astype(np.float32))
        labels.append(y)
        per_image.append({"id": sid, "auc": roc_auc(p, y), **binary_scores(p >= thr, y)})
    report(progress, len(ids), len(ids), f"{dataset} done")
    allp = np.concatenate(probs)
    ally = np.concatenate(labels)
    out: dict[str, Any] = {"dataset": dataset, "images": len(ids), "threshold": thr, "auc": roc_auc(allp, ally)}
    out.update(binary_scores(allp >= thr, ally))
    out["mean_image_auc"] = float(np.mean([r["auc"] for r in per_image]))
    out["per_image"] = per_image
    return out
