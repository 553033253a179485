"""Rules files: versioning, listing order, sha256 sidecar, strict schema, active rules kept."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.artifacts import sidecar_path
from engine.llm.translation_studio import ProtocolTranslationStudio
from engine.translation import store
from engine.translation.errors import RulesFileError, RulesIntegrityError, RulesVersionError
from engine.translation.rules import TemplateRule

from .conftest import hand_rules

FRAME = bytes.fromhex("00010000000707030400010002")


async def _saved(tmp_path: Path) -> tuple[ProtocolTranslationStudio, str, str]:
    studio = ProtocolTranslationStudio()
    first = await studio.save_translation_rules(hand_rules(), tmp_path, "1.0.0")
    changed = hand_rules().model_copy(
        update={
            "rules": [
                TemplateRule(target="topic", template="v2/{unit_id}"),
                *hand_rules().rules[1:],
            ]
        }
    )
    second = await studio.save_translation_rules(changed, tmp_path, "1.1.0")
    return studio, first, second


async def test_list_newest_first_and_load_activates(tmp_path: Path) -> None:
    studio, first, second = await _saved(tmp_path)
    listing = studio.list_saved_rules(tmp_path, "modbus", "mqtt")
    assert [e["version"] for e in listing] == ["1.1.0", "1.0.0"]
    assert listing[0]["path"] == second and listing[1]["filename"] == Path(first).name
    assert studio.list_saved_rules(tmp_path, "modbus", "dnp3") == []
    await studio.load_translation_rules(second)
    assert (await studio.translate_protocol("modbus", "mqtt", FRAME)).startswith(b"\x30")
    assert b"v2/7" in await studio.translate_protocol("modbus", "mqtt", FRAME)
    loaded = await studio.load_translation_rules(first)
    assert loaded.version == "1.0.0"
    assert b"plant/7/ir" in await studio.translate_protocol("modbus", "mqtt", FRAME)


def _tamper(path: str, edit: object, fix_sidecar: bool) -> None:
    doc = orjson.loads(Path(path).read_bytes())
    edit(doc)  # type: ignore[operator]
    data = orjson.dumps(doc)
    Path(path).write_bytes(data)
    if fix_sidecar:
        import hashlib

        sidecar_path(Path(path)).write_text(hashlib.sha256(data).hexdigest() + "  x\n")


@pytest.mark.parametrize(
    ("edit", "fix_sidecar", "error", "match"),
    [
        (lambda d: d["rules"].update(accuracy=0.5), False, RulesIntegrityError, "sha256"),
        (lambda d: d["rules"].update(accuracy="high"), True, RulesFileError, "accuracy"),
        (lambda d: d["rules"].update(extra=1), True, RulesFileError, "extra"),
        (lambda d: d.update(schema_version=2), True, RulesFileError, "schema_version"),
        (lambda d: d["rules"]["rules"][0].update(kind="exec"), True, RulesFileError, "rules"),
    ],
)
async def test_refused_files_keep_active_rules(
    tmp_path: Path, edit: object, fix_sidecar: bool, error: type, match: str
) -> None:
    studio, first, second = await _saved(tmp_path)
    await studio.load_translation_rules(first)
    before = await studio.translate_protocol("modbus", "mqtt", FRAME)
    _tamper(second, edit, fix_sidecar)
    with pytest.raises(error, match=match):
        await studio.load_translation_rules(second)
    assert await studio.translate_protocol("modbus", "mqtt", FRAME) == before
    assert studio.active_rules("modbus", "mqtt").version == "1.0.0"  # type: ignore[union-attr]


async def test_corrupt_and_missing_sidecar(tmp_path: Path) -> None:
    studio, first, _ = await _saved(tmp_path)
    Path(first).write_bytes(b"{not json")
    with pytest.raises(RulesIntegrityError):
        await studio.load_translation_rules(first)
    sidecar_path(Path(first)).unlink()
    with pytest.raises(RulesFileError, match="sidecar"):
        await studio.load_translation_rules(first)


@pytest.mark.parametrize("version", ["../x", "1.0", "1.0.0/../../etc", "v1.0.0", ""])
async def test_bad_versions_are_refused(tmp_path: Path, version: str) -> None:
    with pytest.raises(RulesVersionError):
        await ProtocolTranslationStudio().save_translation_rules(hand_rules(), tmp_path, version)
    assert list(tmp_path.iterdir()) == []


async def test_default_rules_dir_from_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = await ProtocolTranslationStudio().save_translation_rules(hand_rules(), version="2.0.0")
    assert Path(path).parent == Path("checkpoints/translation_rules")
    assert sidecar_path(Path(path)).read_text().split()[0]


def test_failed_save_leaves_no_temp_file_and_keeps_saved_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.save(hand_rules(), tmp_path, "1.0.0")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def refuse(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("engine.artifacts.os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        store.save(hand_rules(), tmp_path, "1.1.0")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert store.load(first).version == "1.0.0"
