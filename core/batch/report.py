"""Batch reports: a CSV for spreadsheets and one self-contained HTML file for people.

The HTML embeds its thumbnails (base64 JPEG) and its style, so it can be e-mailed or
archived alone. Failures come first, each with its reason, so nothing is silently lost.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from core import DISCLAIMER, __version__
from core.batch.queue import BatchQueue, Job
from core.guard import GUARD_MESSAGE
from core.provenance import atomic_write_bytes

REPORT_CSV = "batch_report.csv"
REPORT_HTML = "batch_report.html"

BASE_COLUMNS = [
    "job_id", "input", "output", "status", "error", "note", "width", "height", "bit_depth",
    "read_s", "enhance_s", "write_s", "total_s", "model", "model_version", "input_sha256", "output_sha256",
]
MEASURE_ORDER = [
    "guard_score", "guard_threshold", "guard_flagged", "guard_warning",
    "illumination_uniformity_before", "illumination_uniformity_after",
    "vessel_cnr_before", "vessel_cnr_after", "sharpness_before", "sharpness_after", "colour_shift",
    "vessel_dice", "vessel_density_before", "vessel_density_after", "hallucination_warnings", "vessel_note",
]
MEASURE_LABELS = {
    "illumination_uniformity": "Illumination uniformity",
    "vessel_cnr": "Vessel CNR",
    "guard_score": "Structure kept (guard)",
    "vessel_dice": "Vessel Dice (before vs after)",
    "hallucination_warnings": "Hallucination warnings",
}


def measure_columns(jobs: list[Job]) -> list[str]:
    keys: set[str] = set()
    for j in jobs:
        keys.update(j.measures)
    # A fixed set of columns (empty where not measured, e.g. vessels without a vessel model),
    # so spreadsheets built on one report read the next.
    return MEASURE_ORDER + sorted(keys - set(MEASURE_ORDER))


def _row(job: Job, measures: list[str]) -> dict[str, Any]:
    m = job.measures
    row = {
        "job_id": job.id, "input": job.input_path, "output": job.output_path if job.status in ("done", "skipped")
        else "", "status": job.status, "error": job.error or "", "note": job.note or "",
        "width": job.width, "height": job.height, "bit_depth": job.bit_depth,
        "read_s": _r(job.read_s), "enhance_s": _r(job.enhance_s), "write_s": _r(job.write_s),
        "total_s": _r(job.total_s), "model": job.model_name or "", "model_version": job.model_version or "",
        "input_sha256": job.input_sha256 or "", "output_sha256": job.output_sha256 or "",
    }
    for k in measures:
        row[k] = m.get(k, "")
    return {k: ("" if v is None else v) for k, v in row.items()}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def report_paths(outdir: str | os.PathLike[str]) -> tuple[Path, Path]:
    out = Path(outdir)
    return out / REPORT_CSV, out / REPORT_HTML


def write_csv(queue: BatchQueue, batch_id: int, path: str | os.PathLike[str]) -> Path:
    jobs = queue.jobs(batch_id)
    measures = measure_columns(jobs)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=BASE_COLUMNS + measures, lineterminator="\n")
    w.writeheader()
    for j in jobs:
        w.writerow(_row(j, measures))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue().encode("utf-8"))
    return out


def write_reports(queue: BatchQueue, batch_id: int, outdir: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """Write (or refresh) the CSV and HTML reports of a batch; returns their paths."""
    batch = queue.batch(batch_id)
    if batch is None:
        raise ValueError(f"no batch {batch_id}")
    csv_path, html_path = report_paths(outdir or batch.output_dir)
    write_csv(queue, batch_id, csv_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(html_path, render_html(queue, batch_id).encode("utf-8"))
    return csv_path, html_path


# ---------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1f;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.sub{color:#555;margin-bottom:14px} .disclaimer{color:#b35c00;font-weight:600}
.cards{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:90px}
.card b{display:block;font-size:20px} .card span{color:#666;font-size:12px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e3e3e3;padding:6px 8px;text-align:left;vertical-align:middle}
th{background:#f0f0f0;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img.t{width:140px;height:auto;border-radius:3px;background:#262626;display:block}
.st{font-weight:600;border-radius:10px;padding:1px 8px;font-size:12px;white-space:nowrap}
.done{background:#dff3e4;color:#1b6b32}.failed{background:#fbe0e0;color:#a11d1d}
.skipped{background:#e6eef8;color:#24507f}.cancelled,.pending,.running{background:#eee;color:#555}
.warn{color:#a15c00;font-weight:600} .err{color:#a11d1d}
.kv td{border:none;padding:2px 12px 2px 0} .path{font-family:monospace;font-size:12px;color:#444;word-break:break-all}
"""


def _img(data: bytes | None) -> str:
    if not data:
        return '<span class="sub">no preview</span>'
    return f'<img class="t" alt="" src="data:image/jpeg;base64,{base64.b64encode(data).decode("ascii")}">'


def _fmt(v: Any) -> str:
    if v is None or v == "":
        return "&ndash;"
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def _pair(m: dict[str, Any], key: str) -> str:
    b, a = m.get(f"{key}_before"), m.get(f"{key}_after")
    if b is None and a is None:
        return "&ndash;"
    return f"{_fmt(b)} &rarr; {_fmt(a)}"


def _guard_cell(m: dict[str, Any]) -> str:
    """The guard score, in the warning colour (with its threshold) when the output was flagged."""
    score = m.get("guard_score")
    if score in (None, ""):
        return "&ndash;"
    if m.get("guard_flagged"):
        return f"<span class='warn'>{_fmt(score)} &lt; {_fmt(m.get('guard_threshold'))}</span>"
    return _fmt(score)


def render_html(queue: BatchQueue, batch_id: int) -> str:
    batch = queue.batch(batch_id)
    assert batch is not None
    jobs = queue.jobs(batch_id)
    counts = queue.counts(batch_id)
    settings = batch.settings
    models = sorted({f"{j.model_name} {j.model_version}" for j in jobs if j.model_name})
    timed = [j for j in jobs if j.status == "done" and j.total_s]
    span = [j for j in jobs if j.status == "done" and j.started_at and j.finished_at]
    rate = ""
    if len(span) >= 2:
        wall = max(j.finished_at for j in span) - min(j.started_at for j in span)
        if wall > 0:
            rate = f"{60.0 * len(span) / wall:.1f}"
    vessel_notes = {j.measures.get("vessel_note") for j in jobs if j.measures.get("vessel_note")}
    e = html.escape
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Fundus Studio batch report {batch_id}</title><style>{_CSS}</style></head><body>",
        f"<h1>Batch report</h1><div class='sub'>Fundus Studio {e(__version__)} &middot; generated "
        f"{e(time.strftime('%Y-%m-%d %H:%M', time.localtime()))} &middot; "
        f"<span class='disclaimer'>{e(DISCLAIMER)}</span></div>",
        "<table class='kv'>",
        f"<tr><td>Output folder</td><td class='path'>{e(batch.output_dir)}</td></tr>",
        f"<tr><td>Model</td><td>{e(', '.join(models) or 'not yet run')}</td></tr>",
        f"<tr><td>Mode</td><td>{e(str(settings.get('enhance', {}).get('mode', '')))}; output format "
        f"{e(str(settings.get('format', '')))}</td></tr>",
        f"<tr><td>Batch started</td><td>{e(time.strftime('%Y-%m-%d %H:%M', time.localtime(batch.created_at)))}</td></tr>",
        "</table><div class='cards'>",
    ]
    for label, n in (("photos", len(jobs)), ("enhanced", counts["done"]), ("skipped", counts["skipped"]),
                     ("failed", counts["failed"]), ("cancelled", counts["cancelled"]),
                     ("not yet done", counts["pending"] + counts["running"])):
        out.append(f"<div class='card'><b>{n}</b><span>{label}</span></div>")
    if timed:
        mean = sum(j.total_s for j in timed) / len(timed)
        out.append(f"<div class='card'><b>{mean:.1f} s</b><span>per photo</span></div>")
    if rate:
        out.append(f"<div class='card'><b>{rate}</b><span>photos / min</span></div>")
    out.append("</div>")
    for note in sorted(vessel_notes):
        if note.startswith(("No vessel model", "Vessel comparison was not")):
            out.append(f"<p class='sub'>{e(note)}</p>")

    failed = [j for j in jobs if j.status == "failed"]
    if failed:
        out.append(f"<h2>Failures ({len(failed)})</h2><table><tr><th>Photo</th><th>Reason</th></tr>")
        for j in failed:
            out.append(f"<tr><td class='path'>{e(j.input_path)}</td><td class='err'>{e(j.error or '')}</td></tr>")
        out.append("</table>")

    out.append("<h2>Photos</h2><table><tr><th>#</th><th>Before</th><th>After</th><th>Photo</th><th>Status</th>"
               "<th>Time</th><th>Structure kept (guard)</th><th>Illumination uniformity</th><th>Vessel CNR</th>"
               "<th>Vessel Dice</th><th>Warnings</th></tr>")
    for i, j in enumerate(jobs, 1):
        before, after = queue.thumbs(j.id)
        m = j.measures
        warn = m.get("hallucination_warnings")
        warn_html = "&ndash;" if warn in (None, "") else (
            f"<span class='warn'>{int(warn)} region(s)</span>" if warn else "none")
        if m.get("guard_flagged"):
            warn_html = f"<div class='warn'>{e(str(m.get('guard_warning') or GUARD_MESSAGE))}</div>" + warn_html
        detail = e(j.error or j.note or "")
        size = f"{j.width}&times;{j.height}" if j.width else ""
        out.append(
            f"<tr><td class='num'>{i}</td><td>{_img(before)}</td><td>{_img(after)}</td>"
            f"<td><b>{e(j.name)}</b><div class='path'>{e(j.input_path)}</div>"
            + (f"<div class='path'>&rarr; {e(j.output_path)}</div>" if j.status in ("done", "skipped") else "")
            + f"<div class='sub'>{size}</div>"
            + (f"<div class='{'err' if j.error else 'sub'}'>{detail}</div>" if detail else "")
            + f"</td><td><span class='st {e(j.status)}'>{e(j.status)}</span></td>"
            f"<td class='num'>{_fmt(_r(j.total_s))}{' s' if j.total_s else ''}</td>"
            f"<td class='num'>{_guard_cell(m)}</td>"
            f"<td class='num'>{_pair(m, 'illumination_uniformity')}</td>"
            f"<td class='num'>{_pair(m, 'vessel_cnr')}</td>"
            f"<td class='num'>{_fmt(m.get('vessel_dice'))}</td><td>{warn_html}</td></tr>"
        )
    out.append("</table>")
    out.append(f"<h2>Settings</h2><pre class='path'>{e(json.dumps(settings, indent=2, sort_keys=True))}</pre>")
    out.append("</body></html>")
    return "\n".join(out)
