"""Calibrate, evaluate and ship a trained VesselNet as a registry model (safetensors + model card).

    .venv/bin/python -m core.training.vessel_ship --run /work/runs/vessels --version 1.0.0

1. working scale: the FOV diameter (from the config's candidates) with the best AUC
   at native resolution on the held-out *training* images (validation split);
2. threshold: maximises Dice pooled over all training images (DRIVE 21-40, HRF 01-08),
   averaged over the two datasets so the many HRF pixels do not outvote DRIVE;
3. evaluation on DRIVE test 01-20 and HRF 09-10 (never used before this step);
4. weights + card into resources/models (or --dest), sha256 in the card.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from safetensors.torch import save_file

from core.data.vessel_samples import load_sample
from core.evaluation.vessel_eval import binary_scores, dice_by_threshold, evaluate_vessels, roc_auc
from core.models.registry import ModelCard
from core.models.vesselnet import VesselNet, VesselNetConfig, count_parameters
from core.paths import repo_root, resources_dir, shared_data_dir
from core.provenance import sha256_file
from core.training.vessel_train import split_ids
from core.vessels import VesselSegmenter


def load_trained(final_pt: Path) -> tuple[VesselNet, dict[str, Any]]:
    ck = torch.load(final_pt, weights_only=False, map_location="cpu")
    net = VesselNet(VesselNetConfig.from_dict(ck["model_config"]))
    net.load_state_dict(ck["ema"])
    return net.eval(), ck


def _segmenter(net: VesselNet, diameter: float, threshold: float, tile: int, overlap: int) -> VesselSegmenter:
    card = {"name": "vesselnet", "version": "candidate",
            "config": {"inference": {"working_fov_diameter": diameter, "threshold": threshold,
                                     "tile": tile, "overlap": overlap}}}
    return VesselSegmenter(model=net, card=card)


def choose_diameter(net, samples, candidates, tile, overlap, log=print) -> tuple[float, dict[str, Any]]:
    """Best mean (over datasets) pooled AUC at native resolution on the validation images."""
    table = {}
    for d in candidates:
        seg = _segmenter(net, d, 0.5, tile, overlap)
        per: dict[str, list] = {}
        for s in samples:
            p = seg.probability(s.rgb, s.fov)
            per.setdefault(s.name.split("_")[0], [[], []])
            per[s.name.split("_")[0]][0].append(p[s.fov])
            per[s.name.split("_")[0]][1].append(s.label[s.fov])
        aucs = {k: roc_auc(np.concatenate(v[0]), np.concatenate(v[1])) for k, v in per.items()}
        table[str(d)] = {**aucs, "mean": float(np.mean(list(aucs.values())))}
        log(f"diameter {d}: {table[str(d)]}")
    best = max(candidates, key=lambda d: table[str(d)]["mean"])
    return float(best), table


def choose_threshold(seg: VesselSegmenter, root: Path, ids, log=print) -> tuple[float, dict[str, Any]]:
    """Dice-maximising threshold on training images (mean of per-dataset pooled Dice curves)."""
    per: dict[str, tuple[list, list]] = {}
    for k, sid in ids:
        s = load_sample(root, k, sid)
        p = seg.probability(s.rgb, s.fov)
        key = s.name.split("_")[0]
        per.setdefault(key, ([], []))
        per[key][0].append(p[s.fov].astype(np.float32))
        per[key][1].append(s.label[s.fov])
    curves = {}
    for key, (ps, ys) in per.items():
        edges, dice = dice_by_threshold(ps, ys)
        curves[key] = dice
    mean_dice = np.mean(list(curves.values()), axis=0)
    i = int(np.argmax(mean_dice))
    thr = float(edges[i])
    info: dict[str, Any] = {"rule": "max mean (DRIVE, HRF) pooled Dice on training images", "threshold": thr}
    for key, (ps, ys) in per.items():
        allp, ally = np.concatenate(ps), np.concatenate(ys)
        info[key] = {"dice": float(curves[key][i]), **{m: v for m, v in binary_scores(allp >= thr, ally).items()
                                                      if m in ("accuracy", "sensitivity", "specificity")},
                     "vessel_density_label": float(ally.mean()), "vessel_density_pred": float((allp >= thr).mean())}
    log(f"threshold {thr:.3f}: {info}")
    return thr, info


def _compact(res: dict[str, Any]) -> dict[str, Any]:
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items() if k != "per_image"}
    out["per_image_auc"] = {r["id"]: round(r["auc"], 4) for r in res["per_image"]}
    return out


def ship(run_dir: Path, dest: Path, version: str, *, data_root: Optional[Path] = None, log=print,
         name: str = "vesselnet", notes: Optional[str] = None) -> dict[str, Any]:
    t0 = time.time()
    root = Path(data_root) if data_root else shared_data_dir()
    net, ck = load_trained(run_dir / "vesselnet_final.pt")
    cfg = ck["train_config"]
    inf = cfg.get("inference", {})
    tile, overlap = int(inf.get("tile", 384)), int(inf.get("overlap", 64))
    train_ids, val_ids = split_ids(cfg)
    val_samples = [load_sample(root, k, i) for k, i in val_ids]
    diameter, diam_table = choose_diameter(net, val_samples, inf.get("candidate_diameters", [640]), tile, overlap, log)
    del val_samples
    seg = _segmenter(net, diameter, 0.5, tile, overlap)
    thr, thr_info = choose_threshold(seg, root, train_ids + val_ids, log)
    seg = _segmenter(net, diameter, thr, tile, overlap)
    drive = evaluate_vessels(seg, "drive_test", data_root=root)
    log(f"DRIVE test: {_compact(drive)}")
    hrf = evaluate_vessels(seg, "hrf_test", data_root=root)
    log(f"HRF 09-10: {_compact(hrf)}")

    dest.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{version}"
    weights = dest / f"{stem}.safetensors"
    tensors = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    save_file(tensors, str(weights), metadata={"name": name, "version": version, "kind": "vessel",
                                               "architecture": "vesselnet"})
    history = [h for h in ck.get("history", []) if not h.get("final")]
    card = ModelCard(
        name=name, version=version, kind="vessel", architecture="vesselnet",
        config={**net.cfg.to_dict(), "inference": {
            "working_fov_diameter": diameter, "threshold": round(thr, 4), "tile": tile, "overlap": overlap,
            "input": "RGB resized so the FOV diameter equals working_fov_diameter, per-channel zero mean / "
                     "unit variance inside the FOV, zeros outside"}},
        weights_file=weights.name, sha256=sha256_file(weights),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        training={
            "data": "DRIVE training 21-40 (1st_manual, mask) + HRF 01-08 of each class h/g/dr (manual1, mask)"
                    + (f" + LES-AV {len(cfg['data']['les_av_ids'])} photos (vessels, mask)" if cfg["data"].get("les_av_ids") else "")
                    + "; "
                    f"validation split (for scale choice and monitoring only): {[f'{k}:{i}' for k, i in val_ids]}",
            "never_used": "DRIVE test 01-20, HRF 09-10 (evaluation only)",
            "scale_convention": "images resized so the FOV diameter (horizontal extent of the FOV mask) is one "
                                f"of {cfg['data']['diameters']} px during training; {diameter:.0f} px at inference",
            "patches": f"{cfg['train']['patch']} px, batch {cfg['train']['batch']}, flips/rot90, colour jitter, "
                       f"{cfg['train']['degrade_fraction']:.0%} from synthetic degradations ({ck.get('degrader')})",
            "loss": f"BCE + {cfg['train']['dice_weight']} x soft Dice inside the FOV; AdamW, cosine LR; EMA weights",
            "steps": int(ck["steps"]), "wall_time_min": round(ck["elapsed_s"] / 60, 1),
            "hardware": f"2-core CPU, 1 torch thread (shared machine), {platform.processor() or platform.machine()}",
            "seed": cfg["seed"], "parameters": count_parameters(net),
            "validation_history": history,
            "scale_selection_auc": diam_table, "threshold_selection": thr_info,
        },
        metrics={"drive_test": _compact(drive), "hrf_test_native": _compact(hrf)},
        notes=notes or ("Vessel probability for the overlay, MAGE-Net's structure targets and the vessel recovery "
                        "table. Not a diagnostic device."),
        license="Weights trained on DRIVE and HRF, which are licensed for research use; check before any "
                "commercial distribution.",
        data_sources=["DRIVE (Staal et al., IEEE TMI 2004)", "HRF (Budai et al., 2013)"]
        + (["LES-AV (Orlando et al., MICCAI 2018)"] if cfg["data"].get("les_av_ids") else []),
    )
    card.validate()
    card.save(dest / f"{stem}.json")
    log(f"shipped {weights} ({weights.stat().st_size / 1e6:.2f} MB), card {dest / f'{stem}.json'}, "
        f"{(time.time() - t0) / 60:.1f} min")
    return card.to_dict()


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Calibrate, evaluate and ship a trained VesselNet.")
    ap.add_argument("--run", default=str(repo_root() / "runs" / "vessels"), help="the vessel_train run folder")
    ap.add_argument("--dest", default=str(resources_dir() / "models"))
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--name", default="vesselnet", help="model name (vesselnet-clean: the evaluation-only model)")
    ap.add_argument("--notes", help="the card's notes (default: what the shipped vessel model is for)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    card = ship(Path(args.run), Path(args.dest), args.version, name=args.name, notes=args.notes,
                log=lambda s: print(time.strftime("%H:%M:%S"), s, flush=True))
    print(json.dumps(card["metrics"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
