"""The sender's own murmur2 chooses the partitions aiokafka's default partitioner would."""

from __future__ import annotations

import random

from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from streamgraph.engines.kafka.sender import murmur2


def test_murmur2_equals_aiokafka() -> None:
    rng = random.Random(23)
    keys = [rng.randbytes(n) for n in range(64) for _ in range(20)]
    keys += [b"", b"1", b"12345", b"8d1c2a9e3f10-1a2b", "é-ü".encode(), b"\xff" * 9]
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key), key
