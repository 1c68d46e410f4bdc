"""The evaluation protocol of MAGE-NET.md section 5: the numbers we publish.

Tables (each row: degraded input, clean-free classical baselines, our models):

* synthetic @512: DRIVE test 01-20 and HRF 09-10 of each class, squared to the FOV
  and resized so the FOV is 512 px wide (the network's working scale), degraded with
  core.degrade into all 7 combinations with fixed seeds; FOV-masked PSNR / SSIM of
  the network output (and of each baseline) against the clean image.
* synthetic native (HRF): the HRF test photos degraded at their full 3504x2336
  resolution, enhanced through the Enhancer's fast mode (what a user gets), scored
  at full resolution. By default one fixed combination per photo (cycling through
  the 7), `native="all"` does all 7 (slow: several seconds per SSIM at 8 MP).
* clean-input fidelity: PSNR of the model output against its own undegraded input
  (no hallucinated structure: target >= 30 dB).
* real low quality (no reference): core.evaluation.noref measures of the input and
  of each model's output on every photo in real_lowquality/, through the Enhancer.
* vessel recovery: a fixed vessel segmenter (core.vessels, the shipped vessel model)
  on clean, degraded, baseline-enhanced and model-enhanced photos of DRIVE test and
  HRF 09-10 (native resolution); AUC / accuracy / IoU / Dice and the recovery ratio
  (enhanced - degraded) / (clean - degraded) of AUC.
* do no harm (core.evaluation.do_no_harm, issue 15): photometric shifts of clean photos
  (structure PSNR), real-photo structure fidelity (band-pass correlation, vessel contrast
  ratio), lesion-like blob counts, and each model's guard calibration; on the fixed splits of
  core.data.splits. The synthetic table's structure PSNR (after the best per-channel affine
  fit) is its colour-invariant headline column.

Seeds depend only on (image id, combination, PROTOCOL_SEED), so every run and
every machine scores the same degraded images.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import cv2
import numpy as np
import torch

import core.paths
from core.data.sources import at_scale, clean_spec, load_source, read_gray, read_rgb, real_specs, test_clean_specs
from core.data.splits import TEST_DRIVE_IDS, photometric_test, real_subset
from core.degrade import COMBINATIONS, degrade
from core.enhance import Enhancer
from core.errors import FundusError, ModelError
from core.evaluation.baselines import BASELINES
from core.evaluation.contact_sheet import make_contact_sheet, save_png
from core.evaluation.do_no_harm import contact_sheets as dnh_sheets
from core.evaluation.do_no_harm import load_split, run_do_no_harm, strip
from core.evaluation.do_no_harm import markdown as dnh_markdown
from core.evaluation.metrics import low_frequencies_replaced, psnr, ssim
from core.evaluation.noref import measure_all
from core.evaluation.vessel_eval import evaluate_vessels
from core.imaging.fov import detect_fov
from core.imaging.measures import structure_psnr
from core.imaging.types import FundusImage
from core.models.registry import InstalledModel, ModelCard, ModelRegistry
from core.progress import ProgressCallback, StopCallback, check_stop, report
from core.vessels import VesselSegmenter

PROTOCOL_SEED = 2026
PROTOCOL_VERSION = 2
"""2: the do-no-harm tables, structure PSNR in the synthetic table, the structured baseline."""
WORKING_SIZE = 512
ORACLE_LOWFREQ_SIGMA = 24.0
"""px at 512: the error-budget oracle replaces shading broader than this (illumination, haze, colour)."""

EnhanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(rgb float32 HxWx3 in [0,1], fov bool HxW) -> enhanced rgb float32 (same size)."""


@dataclass
class TestImage:
    """One clean test image as the network sees it: the FOV square at the working size."""

    id: str
    clean: np.ndarray  # float32 S x S x 3, zero outside the FOV
    fov: np.ndarray  # bool S x S
    native: Any = None  # SourceSpec for the native-resolution table (HRF), or None


@dataclass
class RealImage:
    """One real low-quality photo at its own resolution (the Enhancer squares it itself)."""

    id: str
    pixels: np.ndarray  # uint8 H x W x 3
    fov: np.ndarray | None = None  # bool H x W (None: detected)


def case_seed(image_id: str, combination: str) -> int:
    """The fixed degradation seed of one (image, combination) case."""
    return (zlib.crc32(f"{image_id}|{combination}".encode()) + PROTOCOL_SEED) % (2**31 - 1)


def _u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _quantise(img: np.ndarray) -> np.ndarray:
    """Round through 8 bits, as a degraded photo on disk would be."""
    return _u8(img).astype(np.float32) * np.float32(1 / 255)


# ----------------------------------------------------------------------------- methods


def network_fn(module: torch.nn.Module, device: str = "cpu") -> EnhanceFn:
    """The network alone on an image already at working scale (what the Enhancer feeds it)."""
    module = module.to(device).eval()

    @torch.inference_mode()
    def run(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(device)
        m = torch.from_numpy(fov.astype(np.float32))[None, None].to(device)
        out = module(x, m)
        y = out if isinstance(out, torch.Tensor) else out.image
        return y[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float32)

    return run


def enhancer_fn(module: torch.nn.Module, device: str = "cpu") -> EnhanceFn:
    """The full Enhancer (fast mode): FOV detection, squaring, working size, guided upsampling."""

    enh = Enhancer.from_module(module, device=device)

    def run(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
        img = FundusImage(pixels=_u8(rgb), bit_depth=8, source_sha256="0" * 64)
        return enh.enhance(img, mode="fast").pixels.astype(np.float32) * np.float32(1 / 255)

    return run


def baseline_fns() -> dict[str, EnhanceFn]:
    return dict(BASELINES)


def identity(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
    return rgb


# ----------------------------------------------------------------------------- data


def load_test_images(
    data_root: Path,
    ids: Sequence[str] | None = None,
    size: int = WORKING_SIZE,
    cache_dir: Path | None = None,
) -> list[TestImage]:
    """The synthetic test set (DRIVE test 01-20, HRF 09-10 of each class) at the working size."""

    specs = test_clean_specs(data_root) if ids is None else [clean_spec(data_root, i) for i in ids]
    out = []
    for spec in specs:
        src = load_source(spec, cache_dir)
        clean, fov, _ = at_scale(src, size)
        out.append(TestImage(spec.id, clean, fov, spec if spec.id.startswith("hrf/") else None))
    return out


def load_real_images(data_root: Path, limit: int | None = None) -> list[RealImage]:
    """Every photo in real_lowquality/ at its own resolution, with its FOV mask where one exists."""

    out = []
    for spec in real_specs(data_root, include_test=True)[: limit or None]:
        px = read_rgb(spec.image)
        fov = None
        if spec.mask is not None:
            m = read_gray(spec.mask)
            fov = cv2.resize(m, (px.shape[1], px.shape[0]), interpolation=cv2.INTER_NEAREST) > 127
        out.append(RealImage(spec.id, px, fov))
    return out


# ----------------------------------------------------------------------------- tables


def _summary(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray([v for v in values if np.isfinite(v)], np.float64)
    if a.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(a.mean()), "std": float(a.std()), "n": int(a.size)}


def synthetic_table(
    images: Sequence[TestImage],
    methods: Mapping[str, EnhanceFn],
    combinations: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    keep: Callable[[str, str], bool] | None = None,
) -> dict[str, Any]:
    """FOV PSNR / SSIM of every method on every (image, combination) at working scale.

    Returns {"rows": {method: {"psnr": summary, "ssim": summary, "by_combination": ...}},
    "cases": n, "examples": {(id, combination): {method: image}} for cases `keep` selects}.
    """

    combos = tuple(combinations or COMBINATIONS)
    kinds = ("psnr", "ssim", "psnr_colour_oracle", "psnr_lowfreq_oracle", "structure_psnr")
    scores: dict[str, dict[str, dict[str, list[float]]]] = {
        m: {k: {c: [] for c in combos} for k in kinds} for m in methods
    }
    seconds = {m: 0.0 for m in methods}
    examples: dict[str, dict[str, np.ndarray]] = {}
    total = len(images) * len(combos)
    k = 0
    for img in images:
        for c in combos:
            check_stop(should_stop)
            report(progress, k, total, f"synthetic {img.id} {c}")
            deg, _ = degrade(img.clean, img.fov, c, seed=case_seed(img.id, c))
            deg = _quantise(deg)
            kept = keep is not None and keep(img.id, c)
            if kept:
                examples[f"{img.id} {c}"] = {"clean": img.clean}
            for name, fn in methods.items():
                t0 = time.perf_counter()
                out = np.clip(fn(deg, img.fov), 0, 1) * img.fov[..., None]
                seconds[name] += time.perf_counter() - t0
                scores[name]["psnr"][c].append(psnr(out, img.clean, img.fov))
                scores[name]["ssim"][c].append(ssim(out, img.clean, img.fov))
                # colour-invariant headline (structure PSNR: after the best per-channel gain and offset) and
                # error budget (the same fit is the "oracle colour"; the shading oracle replaces broad shading)
                sp = structure_psnr(out, img.clean, img.fov)
                scores[name]["structure_psnr"][c].append(sp)
                scores[name]["psnr_colour_oracle"][c].append(sp)
                sigma = ORACLE_LOWFREQ_SIGMA * img.clean.shape[0] / WORKING_SIZE
                scores[name]["psnr_lowfreq_oracle"][c].append(
                    psnr(low_frequencies_replaced(out, img.clean, img.fov, sigma), img.clean, img.fov))
                if kept:
                    examples[f"{img.id} {c}"][name] = out
            k += 1
    report(progress, total, total, "synthetic done")
    rows = {}
    for name in methods:
        allp = [v for c in combos for v in scores[name]["psnr"][c]]
        alls = [v for c in combos for v in scores[name]["ssim"][c]]
        rows[name] = {
            "psnr": _summary(allp),
            "ssim": _summary(alls),
            **{k: _summary([v for c in combos for v in scores[name][k][c]]) for k in kinds[2:]},
            "by_combination": {c: {k: _summary(scores[name][k][c])["mean"] for k in kinds} for c in combos},
            "seconds_per_image": seconds[name] / max(1, total),
        }
    return {"rows": rows, "cases": total, "images": [i.id for i in images], "combinations": list(combos),
            "examples": examples}


def native_table(
    images: Sequence[TestImage],
    methods: Mapping[str, EnhanceFn],
    combinations: Sequence[str] | None = None,
    all_combinations: bool = False,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
) -> dict[str, Any]:
    """FOV PSNR / SSIM at native resolution (HRF), one fixed combination per photo unless `all_combinations`."""

    combos = tuple(combinations or COMBINATIONS)
    natives = [i for i in images if i.native is not None]
    cases = [(img, c) for n, img in enumerate(natives) for c in (combos if all_combinations else (combos[n % len(combos)],))]
    psnrs: dict[str, list[float]] = {m: [] for m in methods}
    ssims: dict[str, list[float]] = {m: [] for m in methods}
    done_cases = []
    for k, (img, c) in enumerate(cases):
        check_stop(should_stop)
        report(progress, k, len(cases), f"native {img.id} {c}")
        spec = img.native
        clean = read_rgb(spec.image).astype(np.float32) * np.float32(1 / 255)
        fov = read_gray(spec.mask) > 127
        clean *= fov[..., None]
        deg, _ = degrade(clean, fov, c, seed=case_seed(img.id, c))
        deg = _quantise(deg)
        for name, fn in methods.items():
            out = np.clip(fn(deg, fov), 0, 1) * fov[..., None]
            psnrs[name].append(psnr(out, clean, fov))
            ssims[name].append(ssim(out, clean, fov))
        done_cases.append(f"{img.id} {c}")
    report(progress, len(cases), len(cases), "native done")
    return {
        "rows": {m: {"psnr": _summary(psnrs[m]), "ssim": _summary(ssims[m])} for m in methods},
        "cases": done_cases,
    }


def clean_fidelity(
    images: Sequence[TestImage], models: Mapping[str, EnhanceFn], should_stop: StopCallback | None = None
) -> dict[str, Any]:
    """PSNR of each model's output against its undegraded input (changes little = high)."""

    out: dict[str, Any] = {}
    for name, fn in models.items():
        vals = []
        for img in images:
            check_stop(should_stop)
            y = np.clip(fn(img.clean, img.fov), 0, 1) * img.fov[..., None]
            vals.append(psnr(y, img.clean, img.fov))
        s = _summary(vals)
        s["min"] = float(np.min(vals)) if vals else float("nan")
        out[name] = s
    return out


def noref_table(
    images: Sequence[RealImage],
    methods: Mapping[str, EnhanceFn],
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    keep: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """No-reference measures of the input ("input") and of each method's output on real photos."""

    per: dict[str, dict[str, list[float]]] = {"input": {}}
    per.update({m: {} for m in methods})
    examples: dict[str, dict[str, np.ndarray]] = {}
    used = []
    for k, im in enumerate(images):
        check_stop(should_stop)
        report(progress, k, len(images), f"real {im.id}")
        rgb = im.pixels.astype(np.float32) * np.float32(1 / 255)
        try:
            fov = im.fov if im.fov is not None else detect_fov(im.pixels).mask
            if fov.mean() < 0.05:
                continue
            rows = {"input": measure_all(rgb, fov)}
            outs = {}
            for name, fn in methods.items():
                outs[name] = np.clip(fn(rgb, fov), 0, 1)
                rows[name] = measure_all(outs[name], fov, reference=rgb)
        except (FundusError, ValueError):
            continue  # a photo with no usable FOV (the nearly black EyePACS frame) is left out
        used.append(im.id)
        for name, vals in rows.items():
            for key, v in vals.items():
                per[name].setdefault(key, []).append(float(v))
        if keep is not None and keep(im.id):
            examples[im.id] = {"input": rgb, **outs}
    report(progress, len(images), len(images), "real done")
    table = {name: {key: _summary(v) for key, v in vals.items()} for name, vals in per.items()}
    return {"rows": table, "images": used, "examples": examples}


def _degrader(tag: str, combos: Sequence[str], cache: dict[int, np.ndarray],
              then: EnhanceFn | None = None) -> EnhanceFn:
    """Transform for one pass over a vessel set: photo k (in the order the set is read) is degraded
    with combination k mod len(combos) and a fixed seed, cached 8-bit, then given to `then`."""

    counter = {"k": 0}

    def transform(rgb: np.ndarray, fov: np.ndarray) -> np.ndarray:
        k = counter["k"]
        counter["k"] += 1
        if k not in cache:
            c = combos[k % len(combos)]
            d, _ = degrade(rgb * fov[..., None], fov, c, seed=case_seed(f"vessel/{tag}/{k:02d}", c))
            cache[k] = _u8(d)
        low = cache[k].astype(np.float32) * np.float32(1 / 255)
        return low if then is None else then(low, fov)

    return transform


def _auc_by_combination(per_image: Sequence[Mapping[str, Any]], combos: Sequence[str]) -> dict[str, float]:
    """Mean per-image AUC of the photos degraded with each combination (photo k got combination
    k mod len(combos)): shows which degradations a method recovers from and which it makes worse."""
    groups: dict[str, list[float]] = {}
    for k, rec in enumerate(per_image):
        groups.setdefault(combos[k % len(combos)], []).append(float(rec["auc"]))
    return {c: float(np.mean(v)) for c, v in groups.items()}


CLEAN_SEGMENTER_DIR = "evaluation"
"""resources/<this>: the evaluation-only vessel model trained on clean photos (never bundled, never active)."""


def clean_trained_segmenter(device: str = "cpu") -> Any:
    """The vessel model trained on clean photos only (configs/vessels-clean.json), or None when absent.

    The paper measures vessel recovery with a segmenter that was not made robust to poor photos;
    ours (the active vessel model) was, so it reads degraded photos almost as well as clean ones
    and leaves enhancement little to recover. Both are reported.
    """

    cards = sorted((core.paths.resources_dir() / CLEAN_SEGMENTER_DIR).glob("vesselnet-clean-*.json"))
    if not cards:
        return None
    card = ModelCard.load(cards[-1])
    installed = InstalledModel(card, cards[-1].parent / card.weights_file, cards[-1], "shipped")
    module = ModelRegistry().load(installed, device)
    return VesselSegmenter(model=module, card=card.to_dict(), device=device)


VESSEL_SETS = ("drive_test", "hrf_test")
"""DRIVE test 01-20 (565x584) and HRF 09-10 of each class at native 3504x2336."""


def vessel_recovery(
    segmenter: Any,
    methods: Mapping[str, EnhanceFn],
    data_root: Path | None = None,
    combinations: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    datasets: Sequence[str] = VESSEL_SETS,
    ids: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Vessel AUC/acc/IoU/Dice per set: clean, degraded (image k gets combination k mod 7), each method
    applied to the degraded photo (classical baselines and models alike), and each method's recovery ratio
    (AUC - degraded AUC) / (clean AUC - degraded AUC): 1 = everything the degradation cost is recovered,
    0 = no better than the degraded photo, negative = worse.

    The degraded photos are made once per set and shared by every method (8-bit, as on disk).
    ids: optional subset of each set's images (quick checks).
    """

    combos = tuple(combinations or COMBINATIONS)
    keys = ("auc", "accuracy", "iou", "dice")
    out: dict[str, Any] = {"segmenter": getattr(segmenter, "name", "?"), "combinations": list(combos), "sets": {}}
    runs_per_set = 2 + len(methods)
    total = runs_per_set * len(datasets)
    for d_index, dataset in enumerate(datasets):
        tag = {"drive_test": "drive", "hrf_test": "hrf"}.get(dataset, dataset)  # the test sets keep their seeds
        cache: dict[int, np.ndarray] = {}  # photo k of the set, degraded once, shared by every method
        samples: dict = {}  # the photos and labels as read, shared by every method
        rows: dict[str, Any] = {}
        runs: list[tuple[str, Any]] = [("clean", None), ("degraded input", _degrader(tag, combos, cache))]
        runs += [(name, _degrader(tag, combos, cache, then=fn)) for name, fn in methods.items()]
        for i, (name, transform) in enumerate(runs):
            check_stop(should_stop)
            report(progress, d_index * runs_per_set + i, total, f"vessels {dataset}: {name}")
            r = evaluate_vessels(segmenter, dataset, transform, data_root=data_root, should_stop=should_stop,
                                 ids=list(ids[dataset]) if ids and dataset in ids else None, samples=samples)
            rows[name] = {k: float(r[k]) for k in keys if k in r}
            if name != "clean":
                rows[name]["auc_by_combination"] = _auc_by_combination(r["per_image"], combos)
        clean, low = rows["clean"]["auc"], rows["degraded input"]["auc"]
        for name in methods:
            if clean != low:
                rows[name]["auc_recovery"] = (rows[name]["auc"] - low) / (clean - low)
        out["sets"][dataset] = {"rows": rows, "images": len(cache)}
    report(progress, total, total, "vessels done")
    return out


# ----------------------------------------------------------------------------- the whole protocol


@dataclass
class ProtocolOptions:
    quick: bool = False
    native: str = "subset"  # "subset" | "all" | "none"
    vessels: bool = True
    real_limit: int | None = None
    device: str = "cpu"
    do_no_harm: bool = True


def run_protocol(
    models: Mapping[str, torch.nn.Module],
    data_root: Path,
    options: ProtocolOptions = ProtocolOptions(),  # noqa: B008 - only read here, never changed
    test_images: Sequence[TestImage] | None = None,
    real_images: Sequence[RealImage] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCallback | None = None,
    photometric_photos: Sequence[Any] | None = None,
    real_subset_photos: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Every table of the protocol for `models` ({label: network}); returns a JSON-able report
    (plus "examples" with images for the contact sheets, which callers drop before saving).

    photometric_photos / real_subset_photos: do_no_harm.EvalPhoto lists for the do-no-harm tables
    (tests); by default the fixed splits of core.data.splits, read from data_root."""

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if test_images is None:
        ids = None
        if options.quick:
            ids = [*TEST_DRIVE_IDS[:4], "hrf/09_h", "hrf/09_g", "hrf/09_dr"]
        test_images = load_test_images(data_root, ids)
    if real_images is None:
        real_images = load_real_images(data_root, limit=options.real_limit or (8 if options.quick else None))
    timings["load"] = time.perf_counter() - t0

    nets = {name: network_fn(m, options.device) for name, m in models.items()}
    methods: dict[str, EnhanceFn] = {"degraded input": identity, **baseline_fns(), **nets}
    sheet_ids = {test_images[0].id, test_images[-1].id} if test_images else set()

    t = time.perf_counter()
    syn = synthetic_table(test_images, methods, COMBINATIONS, progress, should_stop,
                          keep=lambda i, c: i in sheet_ids and c in ("isb", "ib"))
    timings["synthetic_512"] = time.perf_counter() - t

    report_: dict[str, Any] = {
        "protocol_version": PROTOCOL_VERSION,
        "seed": PROTOCOL_SEED,
        "working_size": WORKING_SIZE,
        "models": list(models),
        "synthetic_512": syn,
    }
    if options.native != "none" and not options.quick:
        t = time.perf_counter()
        nat_methods: dict[str, EnhanceFn] = {"degraded input": identity, **baseline_fns()}
        nat_methods.update({name: enhancer_fn(m, options.device) for name, m in models.items()})
        report_["synthetic_native"] = native_table(test_images, nat_methods, COMBINATIONS,
                                                   options.native == "all", progress, should_stop)
        timings["synthetic_native"] = time.perf_counter() - t

    t = time.perf_counter()
    report_["clean_fidelity"] = clean_fidelity(test_images, nets, should_stop)
    timings["clean_fidelity"] = time.perf_counter() - t

    t = time.perf_counter()
    real_methods = {name: enhancer_fn(m, options.device) for name, m in models.items()}
    real_ids = [r.id for r in real_images]
    sheet_real = set(real_ids[:: max(1, len(real_ids) // 8)][:8])
    report_["real_noref"] = noref_table(real_images, real_methods, progress, should_stop, keep=lambda i: i in sheet_real)
    timings["real_noref"] = time.perf_counter() - t

    report_["do_no_harm"] = None
    if options.do_no_harm:
        t = time.perf_counter()
        report_["do_no_harm"] = _do_no_harm(nets, data_root, options, photometric_photos, real_subset_photos,
                                            progress, should_stop)
        timings["do_no_harm"] = time.perf_counter() - t

    report_["vessel_recovery"] = None
    if options.vessels and not options.quick:
        t = time.perf_counter()
        try:
            seg = VesselSegmenter(device=options.device)
            vessel_methods = {**baseline_fns(), **real_methods}
            report_["vessel_recovery"] = vessel_recovery(seg, vessel_methods, data_root, COMBINATIONS, progress,
                                                         should_stop)
        except (ModelError, ImportError) as exc:
            report_["vessel_recovery"] = {"skipped": f"no vessel model available ({exc})"}
        timings["vessel_recovery"] = time.perf_counter() - t
        t = time.perf_counter()
        try:
            clean_seg = clean_trained_segmenter(options.device)
        except (ModelError, ImportError) as exc:
            clean_seg = None
            report_["vessel_recovery_clean_segmenter"] = {"skipped": f"it cannot be loaded ({exc})"}
        if clean_seg is not None:  # the paper's setting, on DRIVE (HRF at native size would double the time)
            report_["vessel_recovery_clean_segmenter"] = vessel_recovery(
                clean_seg, {**baseline_fns(), **real_methods}, data_root, COMBINATIONS, progress, should_stop,
                datasets=("drive_test",))
            timings["vessel_recovery_clean_segmenter"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    report_["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    report_["threads"] = torch.get_num_threads()
    return report_


def _do_no_harm(
    nets: Mapping[str, EnhanceFn],
    data_root: Path,
    options: ProtocolOptions,
    photometric_photos: Sequence[Any] | None,
    real_subset_photos: Sequence[Any] | None,
    progress: ProgressCallback | None,
    should_stop: StopCallback | None,
) -> dict[str, Any]:
    """The do-no-harm tables on the fixed splits (8 photos each in quick mode), rows: the input, every
    classical baseline and every model, all at the working FOV."""

    def pick(items: list) -> list:
        return items[:: max(1, len(items) // 8)][:8] if options.quick else items

    skipped: dict[str, list[str]] = {}
    if photometric_photos is None:
        photometric_photos, skipped["photometric"] = load_split(pick(photometric_test(data_root)), WORKING_SIZE)
    if real_subset_photos is None:
        real_subset_photos, skipped["real"] = load_split(pick(real_subset(data_root)), WORKING_SIZE)
    methods: dict[str, EnhanceFn] = {"degraded input": identity, **baseline_fns(), **nets}
    return run_do_no_harm(methods, list(nets), photometric_photos, real_subset_photos, skipped, progress,
                          should_stop)


# ----------------------------------------------------------------------------- targets and rendering


def check_targets(rep: dict[str, Any], supervised: str | None, teacher_student: str | None) -> dict[str, Any]:
    """The issue's targets, measured: gains over the input and the best baseline, SSIM, clean PSNR, TS vs supervised."""
    rows = rep["synthetic_512"]["rows"]
    base = [k for k in ("clahe_lab", "clahe_green", "dcp", "structured") if k in rows]
    best_base = max(base, key=lambda k: rows[k]["psnr"]["mean"]) if base else None
    out: dict[str, Any] = {"best_baseline": best_base}
    for label in [m for m in (supervised, teacher_student) if m and m in rows]:
        p = rows[label]["psnr"]["mean"]
        sp = rows[label].get("structure_psnr", {}).get("mean")
        sp_in = rows["degraded input"].get("structure_psnr", {}).get("mean")
        t = {
            "psnr_gain_over_input_db": p - rows["degraded input"]["psnr"]["mean"],
            "structure_psnr_gain_over_input_db": sp - sp_in if sp is not None and sp_in is not None else None,
            "psnr_gain_over_best_baseline_db": p - rows[best_base]["psnr"]["mean"] if best_base else None,
            "ssim": rows[label]["ssim"]["mean"],
            "clean_psnr_db": rep.get("clean_fidelity", {}).get(label, {}).get("mean"),
        }
        t["meets_input_gain_6db"] = t["psnr_gain_over_input_db"] >= 6.0
        t["meets_baseline_gain_3db"] = t["psnr_gain_over_best_baseline_db"] is not None and t["psnr_gain_over_best_baseline_db"] >= 3.0
        t["meets_ssim_0_90"] = t["ssim"] >= 0.90
        t["meets_clean_30db"] = t["clean_psnr_db"] is not None and t["clean_psnr_db"] >= 30.0
        for key, suffix in (("vessel_recovery", ""), ("vessel_recovery_clean_segmenter", "_clean_segmenter")):
            vsets = (rep.get(key) or {}).get("sets") or {}
            for dataset, block in vsets.items():
                rec = block["rows"].get(label, {}).get("auc_recovery")
                t[f"vessel_auc_recovery_{dataset}{suffix}"] = rec
                t[f"meets_vessel_recovery_0_80_{dataset}{suffix}"] = rec is not None and rec >= 0.80
        out[label] = t
    if supervised in rows and teacher_student in rows:
        out["ts_minus_supervised_psnr_db"] = rows[teacher_student]["psnr"]["mean"] - rows[supervised]["psnr"]["mean"]
        nr = rep.get("real_noref", {}).get("rows", {})
        if supervised in nr and teacher_student in nr:
            better = {"illumination_uniformity": 1, "vessel_cnr": 1, "sharpness": 1, "colour_shift": -1}
            cmp = {}
            for key, sign in better.items():
                if key in nr[supervised] and key in nr[teacher_student]:
                    d = nr[teacher_student][key]["mean"] - nr[supervised][key]["mean"]
                    cmp[key] = {"ts_minus_supervised": d, "ts_better": bool(d * sign > 0)}
            out["real_noref_ts_vs_supervised"] = cmp
    return out


def _f(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if not np.isfinite(v) else f"{v:.{nd}f}"
    return str(v)


def markdown(rep: dict[str, Any]) -> str:
    """Human-readable tables of a protocol report (also what the CLI prints)."""
    lines = [f"# Evaluation (protocol v{rep['protocol_version']}, seed {rep['seed']})", ""]
    syn = rep["synthetic_512"]
    lines += [f"## Synthetic test at {rep['working_size']} px ({syn['cases']} cases: "
              f"{len(syn['images'])} images x {len(syn['combinations'])} combinations)", "",
              "Structure PSNR: after the best per-channel gain and offset to the clean photo (colour-invariant: "
              "a gain in colour and a gain in structure are told apart).", "",
              "| method | PSNR (dB) | structure PSNR (dB) | SSIM | " + " | ".join(f"PSNR {c}" for c in syn["combinations"]) + " |",
              "|---|---|---|---|" + "---|" * len(syn["combinations"])]
    for name, r in syn["rows"].items():
        by = " | ".join(_f(r["by_combination"][c]["psnr"]) for c in syn["combinations"])
        sp = _f((r.get("structure_psnr") or {}).get("mean"))
        lines.append(f"| {name} | {_f(r['psnr']['mean'])} ± {_f(r['psnr']['std'])} | {sp} | {_f(r['ssim']['mean'], 4)} | {by} |")
    if all("structure_psnr" in r for r in syn["rows"].values()):
        lines += ["", "Structure PSNR by combination (dB):", "",
                  "| method | " + " | ".join(syn["combinations"]) + " |", "|---|" + "---|" * len(syn["combinations"])]
        for name, r in syn["rows"].items():
            lines.append(f"| {name} | " + " | ".join(_f(r["by_combination"][c].get("structure_psnr"))
                                                     for c in syn["combinations"]) + " |")
    if all("psnr_colour_oracle" in r for r in syn["rows"].values()):
        lines += ["", "Error budget (oracles that use the clean photo; no method can do this, they say what kind "
                  "of error is left): PSNR after the best per-channel gain and offset, and after replacing "
                  f"everything broader than {ORACLE_LOWFREQ_SIGMA:g} px (at {WORKING_SIZE} px) with the clean photo's:",
                  "", "| method | PSNR | + oracle colour | + oracle shading |", "|---|---|---|---|"]
        for name, r in syn["rows"].items():
            lines.append(f"| {name} | {_f(r['psnr']['mean'])} | {_f(r['psnr_colour_oracle']['mean'])} | "
                         f"{_f(r['psnr_lowfreq_oracle']['mean'])} |")
        lines += ["", "By combination (PSNR / + oracle colour / + oracle shading):", "",
                  "| method | " + " | ".join(syn["combinations"]) + " |", "|---|" + "---|" * len(syn["combinations"])]
        for name, r in syn["rows"].items():
            by = r["by_combination"]
            lines.append(f"| {name} | " + " | ".join(
                f"{_f(by[c]['psnr'], 1)} / {_f(by[c]['psnr_colour_oracle'], 1)} / {_f(by[c]['psnr_lowfreq_oracle'], 1)}"
                for c in syn["combinations"]) + " |")
    nat = rep.get("synthetic_native")
    if nat:
        lines += ["", f"## Synthetic test at native resolution (HRF, Enhancer fast mode; {len(nat['cases'])} cases: "
                  + ", ".join(nat["cases"]) + ")", "", "| method | PSNR (dB) | SSIM |", "|---|---|---|"]
        for name, r in nat["rows"].items():
            lines.append(f"| {name} | {_f(r['psnr']['mean'])} | {_f(r['ssim']['mean'], 4)} |")
    cf = rep.get("clean_fidelity") or {}
    if cf:
        lines += ["", "## Clean-input fidelity (PSNR of output vs undegraded input, target >= 30 dB)", "",
                  "| model | mean PSNR (dB) | min |", "|---|---|---|"]
        for name, r in cf.items():
            lines.append(f"| {name} | {_f(r['mean'])} | {_f(r['min'])} |")
    nr = rep.get("real_noref")
    if nr:
        keys = ["illumination_uniformity", "vessel_cnr", "sharpness", "colour_shift"]
        lines += ["", f"## Real low-quality photos, no-reference measures ({len(nr['images'])} photos; "
                  "higher is better except colour shift)", "",
                  "| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for name, r in nr["rows"].items():
            lines.append(f"| {name} | " + " | ".join(_f(r[k]["mean"], 3) if k in r else "-" for k in keys) + " |")
    vr = rep.get("vessel_recovery")
    if not vr or "skipped" in vr:
        lines += ["", "## Vessel recovery (fixed vessel segmenter)", ""]
        lines.append(f"Skipped: {vr['skipped']}." if vr else "Not run (quick mode or switched off).")
    else:
        lines += _vessel_tables(vr, "fixed vessel segmenter")
    vc = rep.get("vessel_recovery_clean_segmenter")
    if vc and "skipped" in vc:
        lines += ["", f"Vessel recovery with the clean-trained segmenter skipped: {vc['skipped']}."]
    elif vc:
        lines += _vessel_tables(vc, "the paper's setting: a segmenter trained on clean photos only")
    dnh = rep.get("do_no_harm")
    if dnh:
        lines += dnh_markdown(dnh)
    tg = rep.get("targets")
    if tg:
        lines += ["", "## Targets", "", "```", *[f"{k}: {v}" for k, v in tg.items()], "```"]
    lines += ["", f"Timings (s): {rep.get('timings_s')}; torch threads: {rep.get('threads')}", ""]
    return "\n".join(lines)


def _vessel_tables(vr: Mapping[str, Any], what: str) -> list[str]:
    lines: list[str] = []
    for dataset, block in vr["sets"].items():
        title = "DRIVE test 01-20" if dataset == "drive_test" else "HRF 09-10, native resolution"
        lines += ["", f"## Vessel recovery ({title}; {what}, {vr.get('segmenter', '')})", "",
                  "| input | AUC | accuracy | IoU | Dice | AUC recovery |", "|---|---|---|---|---|---|"]
        for name, r in block["rows"].items():
            lines.append(f"| {name} | {_f(r.get('auc'), 4)} | {_f(r.get('accuracy'), 4)} | {_f(r.get('iou'), 4)} | "
                         f"{_f(r.get('dice'), 4)} | {_f(r.get('auc_recovery'), 3)} |")
        lines += _by_combination_table(block["rows"])
    return lines


def _by_combination_table(rows: Mapping[str, Any]) -> list[str]:
    """Mean per-image AUC by degradation combination, one column per combination."""
    combos: list[str] = []
    for r in rows.values():
        combos += [c for c in r.get("auc_by_combination", {}) if c not in combos]
    if not combos:
        return []
    out = ["", "Mean per-image AUC by degradation (each photo gets one combination):", "",
           "| input | " + " | ".join(combos) + " |", "|---|" + "---|" * len(combos)]
    for name, r in rows.items():
        by = r.get("auc_by_combination")
        if by:
            out.append(f"| {name} | " + " | ".join(_f(by.get(c), 4) for c in combos) + " |")
    return out


def contact_sheets(rep: dict[str, Any], out_dir: Path) -> list[Path]:
    """Before/after sheets of the kept examples (synthetic and real) as PNGs in out_dir."""

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    ex = rep["synthetic_512"].get("examples") or {}
    if ex:
        cols = list(next(iter(ex.values())).keys())
        rows = [[e.get(c) for c in cols] for e in ex.values()]
        sheet = make_contact_sheet(rows, list(ex.keys()), cols, cell=256, title="Synthetic test (512 px)")
        p = out_dir / "contact_synthetic.png"
        save_png(p, sheet)
        written.append(p)
    rex = (rep.get("real_noref") or {}).get("examples") or {}
    if rex:
        cols = list(next(iter(rex.values())).keys())
        rows = [[e.get(c) for c in cols] for e in rex.values()]
        sheet = make_contact_sheet(rows, list(rex.keys()), cols, cell=320, title="Real low-quality photos")
        p = out_dir / "contact_real.png"
        save_png(p, sheet)
        written.append(p)
    if rep.get("do_no_harm"):
        written += dnh_sheets(rep["do_no_harm"], list(rep.get("models") or []), out_dir)
    return written


def strip_examples(rep: dict[str, Any]) -> dict[str, Any]:
    """The report without its example images (for JSON)."""
    out = dict(rep)
    out["synthetic_512"] = {k: v for k, v in rep["synthetic_512"].items() if k != "examples"}
    if rep.get("real_noref"):
        out["real_noref"] = {k: v for k, v in rep["real_noref"].items() if k != "examples"}
    if rep.get("do_no_harm"):
        out["do_no_harm"] = strip(rep["do_no_harm"])
    return out
