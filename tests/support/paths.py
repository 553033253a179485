"""Where the repository and the committed test data are, wherever a test module lives."""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
TEST_DATA: Final = REPO_ROOT / "tests" / "data"
#: The small real Modbus/TCP capture the tests replay (its SOURCES.md beside it).
MODBUS_CAPTURE: Final = TEST_DATA / "captures" / "modbus" / "iti__modbus_test.pcap"
