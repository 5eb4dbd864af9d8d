"""All settings in one place, read from `STREAMGRAPH_*` environment variables (and nowhere else).

Each field says its default and what it costs. `Settings()` reads the environment once; pass a
`Settings` object around rather than reading variables in other modules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """streamgraph's settings; `STREAMGRAPH_BROKERS=host:port,...` and so on."""

    model_config = SettingsConfigDict(env_prefix="STREAMGRAPH_", frozen=True, extra="ignore")

    brokers: str = Field(
        "127.0.0.1:9092",
        description="Kafka bootstrap servers, comma-separated.",
    )
    topic_prefix: str = Field(
        "sg",
        description="First segment of every topic name: <prefix>.<function>.<step>.",
    )
    partitions: int = Field(
        4,
        ge=1,
        description="Partitions per topic created by streamgraph. More partitions let more "
        "workers share a function, but each costs broker memory and file handles.",
    )
    replication: int = Field(
        1,
        ge=1,
        description="Replication factor of created topics. 3 survives a broker loss; it "
        "triples the broker's disk and network use.",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="at_least_once commits an offset only after the outputs it caused were "
        "acknowledged (after a crash an event may be processed twice). exactly_once is refused: "
        "faust-streaming 0.15 writes the output, reply and dead-letter topics outside its "
        "transactions, so a crash still duplicates results (tests/kafka/test_exactly_once.py).",
    )
    producer_linger_ms: int = Field(
        0,
        ge=0,
        description="Producer linger. 0 gives the lowest request latency; raising it batches "
        "more records per request for throughput graphs.",
    )
    merge_ttl_seconds: float = Field(
        300.0,
        gt=0,
        description="How long Merge and Collector keep an incomplete entry: reads ignore it "
        "after this, and a timer deletes it (with a changelog tombstone) within a quarter of it "
        "(0.5 s to 60 s) more. Shorter frees memory sooner but drops slower branches.",
    )
    dedicated_model_workers: bool = Field(
        True,
        description="On Kafka workers, shared models with execution_mechanism="
        "'dedicated_process' run in their own model worker processes (`streamgraph worker "
        "MODULE --model NAME`), reached through the topic <prefix>.<function>.model.<name>.req: "
        "loaded once for all step workers, at the cost of a Kafka round trip per call (each "
        "call waits up to request_timeout_seconds). false: each step worker loads the model in "
        "a local process of its own.",
    )
    request_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a synchronous caller waits for a reply before a 504.",
    )
    stop_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="How long a `streamgraph worker` may take to stop (Ctrl-C, SIGTERM) before "
        "it exits anyway; inputs it had not committed are redelivered. A healthy worker stops "
        "in 2-3 s; with the broker gone Faust alone takes about a minute.",
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024,
        gt=0,
        description="Largest request body accepted by the gateway (413 above it).",
    )
    gateway_kafka_client: Literal["aiokafka", "confluent"] = Field(
        "aiokafka",
        description="Kafka client of the gateway's requests and replies (workers stay on "
        "Faust's aiokafka). aiokafka uses the least CPU per request in all and takes the gateway "
        "furthest under load; confluent (librdkafka, C threads) takes ~0.3-1 ms off a lone "
        "request and ~10% off the loop's own CPU, for more CPU in all (bench/gateway.py).",
    )
    gateway_processes: int = Field(
        1,
        ge=1,
        description="Processes of `streamgraph gateway` (and of the gateway `streamgraph run` "
        "starts), sharing one port with SO_REUSEPORT, each with its own Kafka clients and reply "
        "topic. One process is one core; each more costs ~60 MB and a reply topic.",
    )
    llm_base_url: str = Field(
        "https://api.openai.com/v1",
        description="OpenAI-compatible chat-completions server for LLModel's `openai://` models.",
    )
    llm_api_key: str | None = Field(
        None,
        description="Bearer key for llm_base_url (never logged).",
    )
    llm_model: str = Field(
        "gpt-4o-mini",
        description="Model the examples ask llm_base_url for when an LLM is configured.",
    )
    gateway_tokens: str = Field(
        "",
        description="Comma-separated bearer tokens the gateway accepts; empty: no auth. The "
        "health endpoints stay open.",
    )
    worker_web_port: int = Field(
        0,
        ge=0,
        description="Faust worker web port (0 picks a free one).",
    )

    def topic(self, function: str, name: str) -> str:
        """`<prefix>.<function>.<name>`: a step's topic, or `in`, `out`, `dlq`."""
        return f"{self.topic_prefix}.{function}.{name}"


__all__ = ["Settings"]
