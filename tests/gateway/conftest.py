"""The gateway tests start real worker processes with the helpers in tests/kafka/workers.py."""

from __future__ import annotations

import sys
from pathlib import Path

KAFKA_TESTS = str(Path(__file__).parents[1] / "kafka")
if KAFKA_TESTS not in sys.path:
    sys.path.insert(0, KAFKA_TESTS)
