"""Training configuration: one JSON file says everything a run depends on.

Configs are committed (configs/*.json) so anyone can reproduce a shipped model.
Unknown keys are errors, so a typo cannot silently fall back to a default.
Paths in a config file (output_dir, init_from, data.root, data.cache_dir) are absolute or
relative to the repository root (core.paths.repo_root), never to the current directory,
so the same file gives the same run from any folder of a fresh clone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from core.degrade import ranges_with
from core.paths import repo_root

MODES = ("supervised", "teacher_student")


def _only_known(cls, data: Mapping[str, Any], where: str) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown key(s) in the training config {where}: {', '.join(unknown)}")
    return dict(data)


@dataclass
class DataConfig:
    root: str | None = None
    """Research data folder; None = core.paths.shared_data_dir()."""
    cache_dir: str | None = None
    """Prepared-image cache; None = <user cache dir>/training."""
    patch: int = 160
    batch: int = 3
    real_batch: int = 2
    """Real low-quality patches per step (teacher-student only)."""
    pool_size: int = 24
    pool_refresh: int = 1
    p_clean: float = 0.0
    """Share of synthetic pairs left undegraded (teaches the network to leave good photos alone)."""
    p_photometric: float = 0.0
    defocus_sigma: tuple[float, float] | None = None
    """Defocus sigma range (px at a 512 px FOV, log-uniform) of the synthetic blur; None = core.degrade's."""
    degrade_ranges: dict[str, Any] = field(default_factory=dict)
    """Training-only overrides of core.degrade.DegradeRanges (core.degrade.ranges_with), e.g. a greener
    cataract veil than the synthetic test samples; checked when the config is read."""
    clean_extra: bool = False
    """Also train on clean_extra/ (IDRiD, HEI-MED, LES-AV: other cameras and darker fundi), minus every
    test split (core.data.splits) and minus the lowest-quality fifth by core.evaluation.noref's score."""
    """Share of pairs that are clean photos under a global photometric shift only (target: the clean
    photo): a darker or differently pigmented fundus is not a degradation (MAGE-NET.md section 6)."""
    hold_out_validation: bool = False
    """Leave out core.data.validation's photos (clean and real), so that checkpoints can be chosen on
    them (`fundus-studio select`). False in configs before issue 17, which reproduce as they were."""
    scale_main: tuple[int, int] = (440, 600)
    scale_wide: tuple[int, int] = (600, 1000)
    p_wide: float = 0.25
    max_side: int = 1024


@dataclass
class OptimConfig:
    lr: float = 1e-3
    min_lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0
    lr_scale: dict[str, float] = field(default_factory=dict)
    """Learning-rate multipliers by parameter-name prefix, e.g. {"stage3.detail": 10}: a fresh head
    that starts at the identity (its last layer at zero) learns at the pace of its own gradient,
    which is small beside the warm-started stages'; this lets it move without shaking them. The
    longest matching prefix wins; every other parameter keeps the schedule's lr."""


@dataclass
class TeacherStudentConfig:
    ema_max_decay: float = 0.999
    ramp_fraction: float = 0.25
    strong: dict[str, float] = field(
        default_factory=lambda: {"noise": 0.03, "brightness": 0.25, "contrast": 0.25, "gamma": 0.25,
                                 "blur": 1.2, "blur_probability": 0.5}
    )
    weak: dict[str, float] = field(
        default_factory=lambda: {"noise": 0.005, "brightness": 0.05, "contrast": 0.05, "gamma": 0.05}
    )


@dataclass
class TrainConfig:
    name: str = "mage-s"
    version: str = "1.0.0"
    mode: str = "supervised"
    preset: str = "mage-s"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    working_size: int = 512
    steps: int | None = 10000
    """Planned steps (length of the cosine schedule). None with `minutes`: estimated from the step time."""
    minutes: float | None = None
    """Time budget over all resumes; the run stops (and checkpoints) when it is spent."""
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    init_from: str | None = None
    """Checkpoint (.pt) or weights (.safetensors) to start from (fine-tuning)."""
    train_only: list[str] = field(default_factory=list)
    """Top-level parts of the network to train (e.g. ["global_head"]); the rest stays frozen. Empty: all.
    Parts named here may be missing from `init_from` (a new head on a trained network)."""
    init_new_parts: list[str] = field(default_factory=list)
    """Parts of the network (top-level or dotted, e.g. "field_head", "stage3.detail") that `init_from`
    may lack: they keep their fresh (identity) init, and everything is trained."""
    output_dir: str = "runs/mage"
    checkpoint_minutes: float = 5.0
    checkpoint_every_steps: int | None = None
    snapshot_minutes: float | None = None
    """Also keep the shipped network's weights every this many minutes (and at the end) in
    <output_dir>/snapshots/, for checkpoint choice on the validation split; None: no snapshots."""
    log_every: int = 10
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    losses: dict[str, Any] = field(default_factory=dict)
    """core.training.losses.LossWeights fields; missing ones take the defaults."""
    vessel_loss_net: str | None = None
    """Card (.json) of the frozen vessel network of the vessel-aware loss (losses.vessel > 0), e.g.
    resources/training/vesselnet-loss-1.0.0.json (core.training.vessel_loss)."""
    teacher_student: TeacherStudentConfig = field(default_factory=TeacherStudentConfig)
    notes: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"training mode must be one of {MODES}, got {self.mode!r}")
        if self.steps is None and self.minutes is None:
            raise ValueError("give the training config a step budget (steps) or a time budget (minutes)")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        d = _only_known(cls, data, "")
        if "data" in d:
            dd = _only_known(DataConfig, d["data"], "'data'")
            if dd.get("defocus_sigma") is not None:
                dd["defocus_sigma"] = tuple(float(v) for v in dd["defocus_sigma"])
            for k in ("scale_main", "scale_wide"):
                if k in dd:
                    dd[k] = tuple(int(v) for v in dd[k])
            if dd.get("degrade_ranges"):
                ranges_with(dd["degrade_ranges"])  # refuse a misspelt or malformed range now, not mid-run
            d["data"] = DataConfig(**dd)
        if "optim" in d:
            od = _only_known(OptimConfig, d["optim"], "'optim'")
            if "betas" in od:
                od["betas"] = tuple(float(v) for v in od["betas"])
            d["optim"] = OptimConfig(**od)
        if "teacher_student" in d:
            d["teacher_student"] = TeacherStudentConfig(**_only_known(TeacherStudentConfig, d["teacher_student"], "'teacher_student'"))
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a config file; its relative paths are taken from the repository root."""
        return cls.from_dict(resolve_paths(json.loads(Path(path).read_text())))

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


CONFIG_PATHS = ("output_dir", "init_from", "vessel_loss_net")
DATA_PATHS = ("root", "cache_dir")


def from_repo(value: str | None, root: Path | None = None) -> str | None:
    """An absolute path as it is; a relative one under the repository root (None stays None)."""
    if value is None or Path(value).is_absolute():
        return value
    return str((root or repo_root()) / value)


def resolve_paths(data: Mapping[str, Any], root: Path | None = None) -> dict[str, Any]:
    """The config's file paths made absolute against `root` (default: the repository root)."""
    out = dict(data)
    for key in CONFIG_PATHS:
        if key in out:
            out[key] = from_repo(out[key], root)
    if isinstance(out.get("data"), Mapping):
        out["data"] = {k: (from_repo(v, root) if k in DATA_PATHS else v) for k, v in out["data"].items()}
    return out
