"""The do-no-harm guard on every enhancement (core.guard): score, flag, threshold from the card,
and the score carried into the sidecar, the PNG text, the CLI line and the batch report."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from core.enhance import EnhanceSettings, Enhancer
from core.guard import DEFAULT_GUARD_THRESHOLD, GUARD_MESSAGE, card_guard, guard_threshold, set_card_guard
from core.imaging import write
from core.imaging.types import FundusImage
from core.imaging.writer import read_png_text
from core.models.registry import ModelCard
from tests.synthetic import GainModel, make_fundus


def image_of(pixels: np.ndarray, path=None) -> FundusImage:
    return FundusImage(pixels=pixels, bit_depth=8, source_sha256="0" * 64, source_path=path)


class Blotch(torch.nn.Module):
    """Paints a bright patch with a visible edge over a large part of the FOV, filling in what was under
    it (vessels, disc): what mage-s 1.1.0 does to a darker photo."""

    def __init__(self, amount: float = 0.45) -> None:
        super().__init__()
        self.amount = torch.nn.Parameter(torch.tensor(amount))

    def forward(self, x: torch.Tensor, fov: torch.Tensor | None = None) -> torch.Tensor:
        s = x.shape[-1]
        yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
        d = torch.hypot(yy - 0.4 * s, xx - 0.4 * s) / s
        patch = torch.sigmoid((0.25 - d) * 60.0)  # a visible edge, not a smooth gain
        y = (x * (1 - patch) + (0.4 + self.amount) * patch).clamp(0, 1)
        return y * fov if fov is not None else y


def card(name: str = "test", guard: dict | None = None) -> ModelCard:
    c = ModelCard(name=name, version="1", architecture="magenet")
    if guard is not None:
        set_card_guard(c, guard)
    return c


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return make_fundus(300, 340, seed=3)


def test_a_global_colour_change_passes_and_a_painted_blotch_is_flagged(photo):
    settings = EnhanceSettings(working_size=128)
    ok = Enhancer.from_module(GainModel(0.8, 0.1), settings=settings).enhance(image_of(photo))
    assert ok.guard_score is not None and ok.guard_score > 0.95
    assert not ok.guard_flagged and ok.guard_message is None
    assert ok.guard_threshold == DEFAULT_GUARD_THRESHOLD and ok.guard_threshold_source == "default"

    bad = Enhancer.from_module(Blotch(), settings=settings).enhance(image_of(photo))
    assert bad.guard_score < DEFAULT_GUARD_THRESHOLD < ok.guard_score
    assert bad.guard_flagged and bad.guard_message == GUARD_MESSAGE
    assert bad.pixels.shape == photo.shape and bad.pixels.any()  # flagged, never blocked
    assert "guard" in bad.timings and bad.timings["guard"] < 0.5


def test_the_threshold_comes_from_the_model_card(photo):
    settings = EnhanceSettings(working_size=128)
    lenient = Enhancer.from_module(Blotch(), card=card(guard={"threshold": -1.0, "catch_rate": 0.0}),
                                   settings=settings).enhance(image_of(photo))
    assert not lenient.guard_flagged and lenient.guard_threshold == -1.0
    assert lenient.guard_threshold_source == "model card"
    strict = Enhancer.from_module(GainModel(0.8, 0.1), card=card(guard={"threshold": 1.5}),
                                  settings=settings).enhance(image_of(photo))
    assert strict.guard_flagged and strict.guard_threshold == 1.5


def test_card_guard_round_trips_through_json_and_old_cards_use_the_default():
    c = card(guard={"threshold": 0.62, "catch_rate": 0.9, "n": 40})
    again = ModelCard.from_json(c.to_json())
    assert json.loads(c.to_json())["guard"]["threshold"] == 0.62
    assert card_guard(again)["catch_rate"] == 0.9 and guard_threshold(again) == (0.62, "model card")
    assert guard_threshold(card()) == (DEFAULT_GUARD_THRESHOLD, "default")
    assert guard_threshold({"guard": {"threshold": None}}) == (DEFAULT_GUARD_THRESHOLD, "default")


def test_sidecar_and_png_text_carry_the_score(photo, tmp_path):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), photo[..., ::-1])
    image = image_of(photo, src)
    result = Enhancer.from_module(Blotch(), settings=EnhanceSettings(working_size=128)).enhance(image)
    written = write(tmp_path / "out.png", result.pixels, provenance=result.provenance(image), input_path=src)
    side = json.loads(written.sidecar_path.read_text())
    g = side["extra"]["guard"]
    assert g["flagged"] is True and g["message"] == GUARD_MESSAGE
    assert g["score"] == pytest.approx(result.guard_score, abs=1e-4) and g["threshold"] == DEFAULT_GUARD_THRESHOLD
    text = read_png_text(written.path)
    assert float(text["Fundus-Studio-Guard-Score"]) == pytest.approx(result.guard_score, abs=1e-4)
    assert text["Fundus-Studio-Guard-Flagged"] == "yes" and text["Fundus-Studio-Guard-Warning"] == GUARD_MESSAGE
    assert "Not for diagnostic use" in text["Disclaimer"]
    from PIL import Image  # an ordinary PNG reader sees the same chunks and the same pixels

    with Image.open(written.path) as im:
        assert im.text["Fundus-Studio-Guard-Flagged"] == "yes"
        assert np.array_equal(np.asarray(im.convert("RGB")), result.pixels)
    assert side["output"]["sha256"] == written.sha256

    ok = Enhancer.from_module(GainModel(), settings=EnhanceSettings(working_size=128)).enhance(image)
    w2 = write(tmp_path / "ok.png", ok.pixels, provenance=ok.provenance(image), input_path=src)
    t2 = read_png_text(w2.path)
    assert t2["Fundus-Studio-Guard-Flagged"] == "no" and "Fundus-Studio-Guard-Warning" not in t2


def test_enhance_command_prints_the_warning_and_still_writes(photo, tmp_path, capsys):
    from core.cli import main
    from core.models.registry import ModelRegistry, register_architecture

    register_architecture("test-blotch", lambda cfg: Blotch(**cfg))
    reg = ModelRegistry(shipped_dir=tmp_path / "none")
    c = ModelCard(name="blotch", version="1", architecture="test-blotch", config={"inference": {"working_size": 128}})
    reg.install(Blotch(), c)
    reg.set_active("enhancer", "blotch", "1")
    src = tmp_path / "photo.png"
    cv2.imwrite(str(src), photo[..., ::-1])
    rc = main(["enhance", str(src), "-o", str(tmp_path / "out"), "--device", "cpu"])
    captured = capsys.readouterr()
    assert rc == 0
    text = captured.out + captured.err
    assert f"WARNING {src}: {GUARD_MESSAGE}" in text and "1 output(s) flagged" in text
    assert (tmp_path / "out" / "photo_enhanced.png").exists()
