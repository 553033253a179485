"""Checkpoints that would exhaust memory are refused before anything big is allocated.

Every hostile file here has a correct sidecar, so a refusal is never the checksum's doing.
Memory is measured as the larger of tracemalloc's peak (Python objects) and the growth of the
process's resident high-water mark (torch allocates tensors outside Python's allocator, where
tracemalloc sees nothing); the second needs Linux's ``/proc/self/clear_refs``.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import pickle
import struct
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.artifacts import sha256_bytes, write_with_sidecar
from engine.datasets.synthetic import generate
from engine.detection import checkpoint as checkpoint_module
from engine.detection import checkpoint_limits as limits
from engine.detection.checkpoint import (
    build_payload,
    load_checkpoint_bytes,
    load_checkpoint_payload,
    restore_model,
    save_checkpoint,
)
from engine.detection.field_detector import FieldDetector
from engine.detection.model import BiLSTMCRF
from engine.detection.tags import TagSet
from engine.errors import (
    CheckpointError,
    ChecksumMismatchError,
    ConfigError,
    UnsafeCheckpointError,
)

from .conftest import small_config

MiB = 2**20
PEAK_LIMIT = 20 * MiB


# ------------------------------------------------------------------ helpers


def _hwm() -> int | None:
    """Resident high-water mark of this process in bytes (Linux), else None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> int | None:
    """Reset the high-water mark to the current resident size; returns it, or None."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return None
    return _hwm()


@contextmanager
def _peak_growth() -> Iterator[list[int]]:
    """Yields a list that receives the block's peak memory growth in bytes."""
    out: list[int] = []
    base = _reset_hwm()
    tracemalloc.start()
    try:
        yield out
    finally:
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        after = _hwm()
        rss = after - base if base is not None and after is not None else 0
        out.append(max(traced, rss))


def _forbid(monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    """Make ``torch.load`` or building a BiLSTMCRF in the loader fail the test."""

    def never(*_: object, **__: object) -> None:
        raise AssertionError(f"{what} ran for a checkpoint that should have been refused")

    if what == "torch.load":
        monkeypatch.setattr(torch, "load", never)
    else:
        monkeypatch.setattr(checkpoint_module, "BiLSTMCRF", never)


def _rezip(data: bytes, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The same archive entries, written again with ``compression``."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(buf, "w", compression, compresslevel=9) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return buf.getvalue()


def _claim_size(data: bytes, entry: str, size: int) -> bytes:
    """``data`` with the central directory claiming ``size`` bytes for ``entry``."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        name_len = struct.unpack_from("<H", out, at + 28)[0]
        if out[at + 46 : at + 46 + name_len] == entry.encode():
            struct.pack_into("<II", out, at + 20, size, size)  # compressed, uncompressed
            return bytes(out)
        at = out.find(b"PK\x01\x02", at + 46)
    raise AssertionError(f"no entry {entry}")


def _outputs(detector: FieldDetector) -> list:
    msgs = [f.message for f in generate("modbus", 5, seed=21)]
    return [
        [(b.start_pos, b.end_pos, b.field_type) for b in fields]
        for fields in detector.detect_boundaries_batch(msgs)
    ]


@pytest.fixture
def target(trained: tuple, tmp_path: Path) -> tuple[FieldDetector, list]:
    """A detector with the trained model loaded, and its outputs (which must not change)."""
    path = tmp_path / "good.pt"
    save_checkpoint(path, trained[0]._payload({"f1": 0.5}, None, None, None))
    detector = FieldDetector(small_config())
    asyncio.run(detector.load_checkpoint(path))
    return detector, _outputs(detector)


def _payload(trained: tuple, **config: Any) -> dict[str, Any]:
    payload = trained[0]._payload({"f1": 0.5}, None, None, None)
    payload["model_config"] = {**payload["model_config"], **config}
    return payload


def _torch_bytes(payload: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save({"format_version": 1, "kind": "field_detector", **payload}, buf)
    return buf.getvalue()


def _restore(data: bytes) -> None:
    """Load ``data`` and build its model, as ``FieldDetector`` does."""
    restore_model(load_checkpoint_bytes(data, name="x.pt"), "x.pt", torch.device("cpu"))


# ------------------------------------------------------------------ the archive


async def test_deflated_real_checkpoint_is_refused_before_torch_load(
    trained: tuple, target: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector, before = target
    path = tmp_path / "deflated.pt"
    write_with_sidecar(path, _rezip(_torch_bytes(_payload(trained))))
    _forbid(monkeypatch, "torch.load")
    with pytest.raises(UnsafeCheckpointError, match="compressed") as exc:
        await detector.load_checkpoint(path)
    assert exc.value.rule == "compressed_entry"
    assert _outputs(detector) == before


@pytest.fixture(scope="module")
def deflate_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~270 KiB checkpoint whose entries inflate to over 256 MiB (valid sidecar)."""
    tags = TagSet(["a"])
    model = BiLSTMCRF(len(tags), 8, 8, 1)
    payload = build_payload(
        model,
        tags,
        version="1.0.0",
        epoch=1,
        metrics={"f1": 0.5},
        optimizer_state=None,
        scheduler_state=None,
        training=None,
        lineage={},
    )
    payload["model_state"]["pad"] = torch.zeros(64 * MiB)  # 256 MiB of float32 zeros
    data = _rezip(_torch_bytes(payload))
    del payload
    path = tmp_path_factory.mktemp("bomb") / "bomb.pt"
    write_with_sidecar(path, data)
    assert path.stat().st_size < 512 * 1024
    return path


async def test_deflate_bomb_is_refused_within_20_mib(
    deflate_bomb: Path, target: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector, before = target
    _forbid(monkeypatch, "torch.load")
    with _peak_growth() as peak, pytest.raises(UnsafeCheckpointError, match="compressed"):
        await detector.load_checkpoint(deflate_bomb)
    assert peak[0] < PEAK_LIMIT, f"peak grew by {peak[0] / MiB:.1f} MiB"
    assert _outputs(detector) == before


def test_stored_entry_claiming_256_mib_is_refused(
    trained: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _rezip(_torch_bytes(_payload(trained)), zipfile.ZIP_STORED)
    lying = _claim_size(data, "archive/data/0", 256 * MiB)
    path = tmp_path / "lying.pt"
    write_with_sidecar(path, lying)
    _forbid(monkeypatch, "torch.load")
    with _peak_growth() as peak, pytest.raises(UnsafeCheckpointError) as exc:
        load_checkpoint_payload(path)
    assert exc.value.rule == "declared_size"
    assert peak[0] < PEAK_LIMIT


def test_too_many_entries_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(limits.MAX_ARCHIVE_ENTRIES + 1):
            zf.writestr(f"archive/x{i}", b"")
    path = tmp_path / "many.pt"
    write_with_sidecar(path, buf.getvalue())
    _forbid(monkeypatch, "torch.load")
    with pytest.raises(UnsafeCheckpointError, match="entries") as exc:
        load_checkpoint_payload(path)
    assert exc.value.rule == "too_many_entries"


def test_oversized_pickle_is_refused(trained: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = _payload(trained)
    payload["training"] = {"note": "x" * (limits.MAX_PICKLE_BYTES + 1)}
    data = _torch_bytes(payload)
    _forbid(monkeypatch, "torch.load")
    with pytest.raises(UnsafeCheckpointError) as exc:
        load_checkpoint_bytes(data)
    assert exc.value.rule == "pickle_size"


def test_plain_pickle_is_not_a_zip(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid(monkeypatch, "torch.load")
    with pytest.raises(UnsafeCheckpointError) as exc:
        load_checkpoint_bytes(pickle.dumps({"format_version": 1}))
    assert exc.value.rule == "not_zip"


def test_over_max_bytes_is_refused(trained: tuple, tmp_path: Path) -> None:
    path = tmp_path / "big.pt"
    save_checkpoint(path, _payload(trained))
    data = path.read_bytes()
    with pytest.raises(UnsafeCheckpointError, match="cap") as exc:
        load_checkpoint_payload(path, max_bytes=len(data) // 2)
    assert exc.value.rule == "too_large"
    with pytest.raises(UnsafeCheckpointError, match="cap") as exc:
        load_checkpoint_bytes(data, max_bytes=len(data) // 2)
    assert exc.value.rule == "too_large"
    assert load_checkpoint_payload(path, max_bytes=len(data))["version"] == "1.0.0"


# ------------------------------------------------------------------ the model config


@pytest.mark.parametrize(
    ("config", "rule", "match"),
    [
        ({"hidden_size": 10**6}, "model_config", r"'hidden_size'\] = 1000000 is outside 1\.\.4096"),
        ({"embedding_dim": 330_000}, "model_config", r"'embedding_dim'.*outside 1\.\.4096"),
        ({"hidden_size": 1024, "num_layers": 2}, "parameters", "parameters, over the cap"),
    ],
)
async def test_outsized_config_is_refused_before_the_model_is_built(
    trained: tuple,
    target: tuple,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, int],
    rule: str,
    match: str,
) -> None:
    detector, before = target
    payload = _payload(trained, **config)
    payload["model_state"] = {}
    path = tmp_path / "outsized.pt"
    save_checkpoint(path, payload)
    assert path.stat().st_size < 4096  # a few KiB ask for hundreds of MiB
    _forbid(monkeypatch, "BiLSTMCRF")
    with _peak_growth() as peak, pytest.raises(UnsafeCheckpointError, match=match) as exc:
        await detector.load_checkpoint(path)
    assert exc.value.rule == rule
    assert peak[0] < PEAK_LIMIT, f"peak grew by {peak[0] / MiB:.1f} MiB"
    assert _outputs(detector) == before


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"evil": 1}, "unknown model_config key.*'evil'"),
        ({"hidden_size": 32.0}, r"'hidden_size'\] is float, expected int"),
        ({"num_layers": True}, r"'num_layers'\] is bool"),
        ({"dropout": float("nan")}, r"'dropout'\] = nan is outside"),
        ({"num_layers": 0}, r"'num_layers'\] = 0 is outside 1\.\.8"),
        ({"num_tags": 10**30}, r"'num_tags'\] = an int of 100 bits"),
    ],
)
def test_malformed_config_is_refused(
    trained: tuple, monkeypatch: pytest.MonkeyPatch, change: dict[str, object], match: str
) -> None:
    _forbid(monkeypatch, "BiLSTMCRF")
    with pytest.raises(UnsafeCheckpointError, match=match) as exc:
        _restore(_torch_bytes(_payload(trained, **change)))
    assert exc.value.rule == "model_config"


def test_missing_config_key_is_refused(trained: tuple) -> None:
    payload = _payload(trained)
    del payload["model_config"]["dropout"]
    with pytest.raises(UnsafeCheckpointError, match="no 'dropout'"):
        _restore(_torch_bytes(payload))


def test_tag_list_must_match_num_tags(trained: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = _payload(trained)
    payload["tags"] = payload["tags"][:-4]
    _forbid(monkeypatch, "BiLSTMCRF")
    with pytest.raises(CheckpointError, match="tags, list has"):
        _restore(_torch_bytes(payload))


def test_weight_shapes_are_checked_before_the_model_is_built(
    trained: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    _forbid(monkeypatch, "BiLSTMCRF")
    with pytest.raises(CheckpointError, match=r"valid model.*has shape"):
        _restore(_torch_bytes(_payload(trained, hidden_size=7)))


@pytest.mark.parametrize(
    "config",
    [
        {"num_tags": 9, "embedding_dim": 16, "hidden_size": 32, "num_layers": 1, "dropout": 0.1},
        {"num_tags": 57, "embedding_dim": 32, "hidden_size": 48, "num_layers": 2, "dropout": 0.0},
        {"num_tags": 1, "embedding_dim": 3, "hidden_size": 5, "num_layers": 3, "dropout": 1.0},
        {
            "num_tags": 57,
            "embedding_dim": 32,
            "hidden_size": 48,
            "num_layers": 2,
            "dropout": 0.1,
            "boundary_head": 1,
        },
    ],
)
def test_computed_shapes_and_count_match_a_built_model(config: dict[str, Any]) -> None:
    model = BiLSTMCRF(**config)
    state = model.state_dict()
    assert limits.expected_state_shapes(config) == {k: tuple(v.shape) for k, v in state.items()}
    assert limits.parameter_count(config) == sum(p.numel() for p in model.parameters())
    assert limits.check_model_config(model.config, name="m") == config


def test_every_constructor_argument_is_bounded() -> None:
    params = inspect.signature(BiLSTMCRF.__init__).parameters
    assert set(limits.MODEL_CONFIG_BOUNDS) == set(params) - {"self"}


def test_loader_caps_fit_the_largest_accepted_model() -> None:
    """A model at the parameter cap, with its Adam moments, fits the byte cap."""
    assert 3 * 4 * limits.MAX_MODEL_PARAMETERS < limits.MAX_CHECKPOINT_BYTES


# ------------------------------------------------------------------ writing what loads


def test_training_refuses_a_shape_no_checkpoint_may_have() -> None:
    config = small_config(embedding_dim=512, hidden_size=1024, num_layers=4)
    frames = generate("modbus", 20, seed=3)
    with pytest.raises(ConfigError, match="parameters"):
        FieldDetector(config).train(frames[:15], frames[15:], num_epochs=1)


def test_build_payload_refuses_what_the_loader_would() -> None:
    tags = TagSet(["a"])
    model = BiLSTMCRF(len(tags), 4, 4, 1)
    model.config["num_layers"] = 9
    with pytest.raises(CheckpointError, match="no loader accepts"):
        build_payload(
            model,
            tags,
            version="1.0.0",
            epoch=1,
            metrics={},
            optimizer_state=None,
            scheduler_state=None,
            training=None,
            lineage={},
        )


# ------------------------------------------------------------------ the digest


async def test_bytes_load_checks_the_expected_digest(
    trained: tuple, target: tuple, tmp_path: Path
) -> None:
    detector, before = target
    path = tmp_path / "ok.pt"
    digest = save_checkpoint(path, _payload(trained))
    data = path.read_bytes()
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError, match="tampered"):
        load_checkpoint_bytes(data, expected_sha256=wrong)
    with pytest.raises(ChecksumMismatchError, match="tampered"):
        await detector.load_checkpoint_bytes(data, expected_sha256=wrong)
    with pytest.raises(ChecksumMismatchError, match="expected"):
        await detector.load_checkpoint(path, expected_sha256=wrong)
    assert _outputs(detector) == before
    assert load_checkpoint_bytes(data, expected_sha256=digest.upper())["version"] == "1.0.0"
    fresh = FieldDetector(small_config())
    meta = await fresh.load_checkpoint_bytes(data, expected_sha256=digest, path=path)
    assert meta["path"] == str(path) and fresh.checkpoint_path == path
    assert _outputs(fresh) == before
    meta = await FieldDetector(small_config()).load_checkpoint(path, expected_sha256=digest)
    assert meta["path"] == str(path)


def test_the_bytes_hashed_are_the_bytes_loaded(
    trained: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is read once: torch.load gets exactly the bytes whose digest was checked."""
    path = tmp_path / "once.pt"
    digest = save_checkpoint(path, _payload(trained))
    seen: list[str] = []
    real_load: Callable[..., Any] = torch.load

    def spy(f: io.BytesIO, **kwargs: Any) -> Any:
        seen.append(sha256_bytes(f.getvalue()))
        return real_load(f, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    opens: list[Path] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            opens.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    load_checkpoint_payload(path)
    assert seen == [digest] and len(opens) == 1
