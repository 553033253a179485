"""The boundary head: targets, training, checkpoints, and the crf / head / auto readings."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core.config import Config, DetectorSettings
from engine.datasets.modbus_balanced import modbus_balanced
from engine.detection.default_model import load_default_detector
from engine.detection.field_detector import FieldDetector
from engine.detection.model import BiLSTMCRF
from engine.detection.reading import choose_cuts, row_confidence
from engine.detection.scoring import score_spans
from engine.detection.tags import TagSet
from engine.errors import CheckpointError

HEAD = DetectorSettings(
    embedding_dim=16, hidden_size=32, num_layers=1, device="cpu", boundary_head=True
)


@pytest.fixture(scope="module")
def headed(tmp_path_factory: pytest.TempPathFactory) -> tuple[FieldDetector, dict, Path]:
    """A small detector with a head, trained briefly on balanced Modbus frames, and its file."""
    torch.set_num_threads(1)
    frames = modbus_balanced(456, seed=3)
    detector = FieldDetector(Config(detector=HEAD.model_copy(update={"boundary_reading": "crf"})))
    detector.train(frames[:400], frames[400:], num_epochs=6, learning_rate=1e-2, batch_size=16)
    scores = detector.evaluate(frames[400:])
    path = asyncio.run(detector.save_model(tmp_path_factory.mktemp("head") / "head.pt"))
    return detector, scores, path


def test_cut_targets_are_the_gold_field_starts() -> None:
    spans = ((0, 2, "id"), (2, 3, "length"), (3, 7, "value"), (7, 8, "unknown"))
    tagset = TagSet.from_spans([spans])
    path = np.asarray([tagset.encode(8, spans)])
    assert np.flatnonzero(tagset.cut_mask(path)[0]).tolist() == [0, 2, 3, 7]


def test_the_head_learns_cuts_and_survives_a_checkpoint(
    headed: tuple[FieldDetector, dict, Path],
) -> None:
    _, scores, path = headed
    val = modbus_balanced(456, seed=3)[400:]
    every_byte = [[(i, i + 1, "x") for i in range(len(f.message))] for f in val]
    chance = score_spans(every_byte, [list(f.spans) for f in val])["boundary_f1"]  # ~0.67
    assert scores["head_boundary_f1"] > chance + 0.1, scores
    loaded = FieldDetector(Config(detector=DetectorSettings(device="cpu", boundary_reading="head")))
    asyncio.run(loaded.load_checkpoint(path))
    assert loaded.model is not None and loaded.model.has_boundary_head
    assert loaded.evaluate(val)["head_boundary_f1"] == pytest.approx(scores["head_boundary_f1"])


def test_readings_differ_only_in_their_cuts(headed: tuple[FieldDetector, dict, Path]) -> None:
    _, _, path = headed
    messages = [f.message for f in modbus_balanced(114, seed=11)]
    out = {}
    for reading in ("crf", "head", "auto"):
        d = FieldDetector(Config(detector=DetectorSettings(device="cpu", boundary_reading=reading)))
        asyncio.run(d.load_checkpoint(path))
        out[reading] = d.detect_boundaries_batch(messages)
    for fields_list in out.values():
        for m, fields in zip(messages, fields_list, strict=True):
            assert fields[0].start_pos == 0 and fields[-1].end_pos == len(m)
            assert all(a.end_pos == b.start_pos for a, b in itertools.pairwise(fields))
    assert out["crf"] != out["head"]


def test_auto_falls_back_to_the_head_below_the_threshold() -> None:
    crf = np.array([[True, False, False, True], [True, True, False, False]])
    logits = np.array([[9.0, 2.0, -1.0, -3.0], [9.0, -2.0, 1.0, 5.0]])
    conf = row_confidence(np.array([[0.9, 0.9, 0.9, 0.9], [0.5, 0.5, 0.0, 0.0]]), np.array([4, 2]))
    assert conf.tolist() == pytest.approx([0.9, 0.5])
    assert choose_cuts(crf, logits, conf, "crf", 0.7) is None
    assert choose_cuts(crf, None, conf, "head", 0.7) is None  # no head: the CRF's cuts
    assert choose_cuts(crf, logits, conf, "auto", 0.4) is None  # nobody below 0.4
    auto = choose_cuts(crf, logits, conf, "auto", 0.7)
    assert auto is not None
    assert auto.tolist() == [[True, False, False, True], [True, False, True, True]]
    head = choose_cuts(crf, logits, conf, "head", 0.0)
    assert head is not None
    assert head.tolist() == [[True, True, False, False], [True, False, True, True]]


def test_a_model_with_a_head_cannot_train_without_targets() -> None:
    model = BiLSTMCRF(num_tags=5, embedding_dim=4, hidden_size=4, num_layers=1, boundary_head=1)
    ids = torch.zeros((1, 3), dtype=torch.long)
    tags = torch.zeros((1, 3), dtype=torch.long)
    mask = torch.ones((1, 3), dtype=torch.bool)
    with pytest.raises(ValueError, match="cut_targets"):
        model.loss(ids, torch.tensor([3]), tags, mask)
    loss = model.loss(ids, torch.tensor([3]), tags, mask, torch.zeros((1, 3)))
    assert torch.isfinite(loss)


def test_a_checkpoint_claiming_a_head_it_lacks_is_refused(
    headed: tuple[FieldDetector, dict, Path], tmp_path: Path
) -> None:
    detector, _, _ = headed
    assert detector.model is not None
    state = {k: v for k, v in detector.model.state_dict().items() if not k.startswith("boundary")}
    bare = FieldDetector(Config(detector=HEAD.model_copy(update={"boundary_head": False})))
    bare.tagset = detector.tagset
    bare.model = BiLSTMCRF(**{**detector.model.config, "boundary_head": 0})
    bare.model.load_state_dict(state)
    bare.model.config["boundary_head"] = 1  # the config says head, the weights have none
    path = asyncio.run(bare.save_model(tmp_path / "liar.pt"))
    with pytest.raises(CheckpointError, match="boundary"):
        asyncio.run(FieldDetector(Config(detector=HEAD)).load_checkpoint(path))


def test_a_model_without_a_head_reads_crf_whatever_the_setting(
    trained: tuple[FieldDetector, dict, Path], tmp_path: Path
) -> None:
    detector, _, _ = trained
    assert detector.model is not None and not detector.model.has_boundary_head
    path = asyncio.run(detector.save_model(tmp_path / "no_head.pt"))
    messages = [f.message for f in modbus_balanced(20, seed=5)]
    out = []
    for reading in ("crf", "head"):
        d = FieldDetector(Config(detector=DetectorSettings(device="cpu", boundary_reading=reading)))
        asyncio.run(d.load_checkpoint(path))
        out.append(d.detect_boundaries_batch(messages))
    assert out[0] == out[1]


def test_the_shipped_model_has_a_head_and_reads_auto() -> None:
    detector = asyncio.run(load_default_detector())
    assert detector.model is not None and detector.model.has_boundary_head
    assert detector.settings.boundary_reading == "auto"
    assert detector.settings.boundary_fallback_below == 0.9
