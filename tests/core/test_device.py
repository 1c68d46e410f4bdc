"""Device choice: CUDA, then MPS, then CPU, with the reason stated."""

from __future__ import annotations

import pytest
import torch

from core.device import choose_device


def test_device_choice_falls_back_with_a_reason():
    assert choose_device("cpu").device == "cpu"
    if not torch.cuda.is_available():
        choice = choose_device("cuda")
        assert choice.device == "cpu" and "CUDA was requested" in choice.reason
    with pytest.raises(ValueError):
        choose_device("tpu")
