"""What the wizard's pages share, as plain data without Qt: the starting model, the scan, the run,
the evaluation and the saved model; and the unfinished runs the first page offers to continue."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any


class WizardState:
    """What the pages share: the starting model, the scan, the run, the evaluation, the saved model."""

    def __init__(self, registry: Any = None, runs_dir: str | Path | None = None, segmenter: Any = "default",
                 overrides: dict[str, Any] | None = None) -> None:
        from core.device import choose_device  # noqa: PLC0415
        from core.models.registry import ModelRegistry  # noqa: PLC0415
        from core.training.site_adapt import default_runs_dir  # noqa: PLC0415

        self.registry = registry or ModelRegistry()
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.start_model = self.registry.active("enhancer")
        self.device_choice = choose_device("auto")
        self.segmenter = segmenter
        self.overrides = dict(overrides or {})
        self.unfinished = self._unfinished()
        self.scan = None
        self.adaptation = None
        self.evaluation = None
        self.model_name = ""
        self.installed = None
        self.activated = False
        self.resumed = False

    def _unfinished(self) -> list:
        from core.errors import FundusError  # noqa: PLC0415
        from core.training.site_adapt import SiteAdaptation, unfinished_runs  # noqa: PLC0415

        out = []
        for d in unfinished_runs(self.runs_dir):
            try:
                run = SiteAdaptation.open(d, self.registry)
                run.start_model  # noqa: B018 - the starting model must still be installed
            except FundusError:
                continue
            out.append(run)
        return out

    def new_run_dir(self) -> Path:
        from core.training.site_adapt import safe_run_name  # noqa: PLC0415

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name = safe_run_name(Path(self.scan.folder).name) if self.scan else "site"
        d = self.runs_dir / f"{stamp}-{name}"
        k = 1
        while d.exists():
            k += 1
            d = self.runs_dir / f"{stamp}-{name}-{k}"
        return d
