"""Which compute device to use, and a sentence that says why (shown in the status bar)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.choices import DEVICE_PREFERENCES

__all__ = ["DEVICE_PREFERENCES", "DeviceChoice", "choose_device"]


@dataclass(frozen=True)
class DeviceChoice:
    device: str  # "cpu", "cuda" or "mps"
    reason: str

    @property
    def label(self) -> str:
        """Short status-bar text, e.g. 'CPU (no CUDA or Apple GPU found)'."""
        names = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "Apple GPU (MPS)"}
        return f"{names.get(self.device, self.device)} ({self.reason})"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(preference: str = "auto") -> DeviceChoice:
    """CUDA, then Apple MPS, then CPU; or the user's choice when that device exists.

    A requested GPU that is missing falls back to the CPU with the reason stated,
    rather than failing the work.
    """
    preference = (preference or "auto").lower()
    if preference not in DEVICE_PREFERENCES:
        raise ValueError(f"Unknown device {preference!r}; choose one of {', '.join(DEVICE_PREFERENCES)}.")
    has_cuda = torch.cuda.is_available()
    has_mps = _mps_available()
    if preference == "cpu":
        return DeviceChoice("cpu", "chosen in settings")
    if preference == "cuda":
        if has_cuda:
            return DeviceChoice("cuda", f"chosen in settings: {torch.cuda.get_device_name(0)}")
        return DeviceChoice("cpu", "CUDA was requested but no CUDA GPU is available")
    if preference == "mps":
        if has_mps:
            return DeviceChoice("mps", "chosen in settings")
        return DeviceChoice("cpu", "Apple GPU was requested but MPS is not available")
    if has_cuda:
        return DeviceChoice("cuda", f"automatic: {torch.cuda.get_device_name(0)}")
    if has_mps:
        return DeviceChoice("mps", "automatic: Apple GPU")
    return DeviceChoice("cpu", "no CUDA or Apple GPU found")
