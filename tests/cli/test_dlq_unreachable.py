"""`streamgraph dlq replay` with no broker there: one error line, in bounded time, no leftovers.

(No broker needed; the replays that reach one are in tests/kafka/test_dlq_replay.py.)
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
import warnings
from typing import Any

import pytest

from streamgraph.broker.probe import HOST, free_ports
from streamgraph.engines.kafka.dlq import DeadLetterReplay, replay_dead_letters
from streamgraph.errors import BrokerUnreachableError
from streamgraph.settings import Settings


def test_a_closed_port_is_a_broker_unreachable_error_naming_it() -> None:
    address = f"{HOST}:{free_ports(1)[0]}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(BrokerUnreachableError, match=f"no Kafka broker answers at {address}"):
            asyncio.run(replay_dead_letters("fn", Settings(brokers=address)))
        gc.collect()  # an unclosed client says so when it is collected
    assert not [w for w in caught if "Unclosed" in str(w.message)]


async def test_a_broker_that_never_answers_is_given_up_on_in_time() -> None:
    held: list[Any] = []  # connections accepted and left unanswered
    server = await asyncio.start_server(lambda r, w: held.append(w), HOST, 0)
    address = f"{HOST}:{server.sockets[0].getsockname()[1]}"
    started = time.monotonic()
    try:
        replay = DeadLetterReplay("fn", Settings(brokers=address), connect_timeout=1.0)
        with pytest.raises(BrokerUnreachableError, match="no answer within 1 s"):
            await replay.run()
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert time.monotonic() - started < 10


def test_the_command_says_it_in_one_line() -> None:
    address = f"{HOST}:{free_ports(1)[0]}"
    done = subprocess.run(
        # -X dev: ResourceWarnings (unclosed clients) are printed
        [sys.executable, "-X", "dev", "-m", "streamgraph.cli", "dlq", "replay", "fn",
         "--brokers", address],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"Error: no Kafka broker answers at {address} (from --brokers): "), line
    assert "Connect call failed" in line
