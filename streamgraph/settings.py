"""All settings in one place, read from `STREAMGRAPH_*` environment variables (and nowhere else).

Each field says its default and what it costs. `Settings()` reads the environment once; pass a
`Settings` object around rather than reading variables in other modules. The system's own
`JAVA_HOME` and `XDG_CACHE_HOME` are fields too, under their own names; `secret(key)` reads the
variables a step asks its context for. tests/test_environment_reads.py keeps it that way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .connection.properties_file import bootstrap_servers_of


class Settings(BaseSettings):
    """streamgraph's settings; `STREAMGRAPH_BROKERS=host:port,...` and so on."""

    # populate_by_name: Settings(java_home=...) works as well as the JAVA_HOME variable
    model_config = SettingsConfigDict(
        env_prefix="STREAMGRAPH_", frozen=True, extra="ignore", populate_by_name=True
    )

    brokers: str = Field(
        "127.0.0.1:9092",
        description="Kafka bootstrap servers, comma-separated.",
    )
    # -- how every Kafka client connects (connection/kafka_security.py builds their arguments;
    # an unworkable combination is refused there, naming the setting, before any client starts)
    kafka_security_protocol: str = Field(
        "PLAINTEXT",
        description="How Kafka clients connect: PLAINTEXT (the default: no TLS, no login), SSL, "
        "SASL_PLAINTEXT or SASL_SSL. TLS costs a handshake per connection, not per event.",
    )
    kafka_sasl_mechanism: str | None = Field(
        None,
        description="SASL mechanism with a SASL_* protocol: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 "
        "or OAUTHBEARER. Default: unset (required with SASL_*).",
    )
    kafka_sasl_username: str | None = Field(
        None, description="SASL username (PLAIN, SCRAM). Default: unset."
    )
    kafka_sasl_password: SecretStr | None = Field(
        None,
        description="SASL password (PLAIN, SCRAM). Default: unset. A secret: never printed, "
        "logged or written; child processes get it through their environment only.",
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates. Default: "
        "unset (the system's CAs).",
    )
    kafka_ssl_certfile: Path | None = Field(
        None,
        description="PEM client certificate for mutual TLS (with kafka_ssl_keyfile). Default: "
        "unset.",
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="PEM private key of kafka_ssl_certfile. Default: unset."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        None,
        description="Password of an encrypted kafka_ssl_keyfile. Default: unset. A secret, as "
        "kafka_sasl_password.",
    )
    kafka_ssl_check_hostname: bool = Field(
        True,
        description="Whether a broker's certificate must name the host connected to. Default: "
        "true; false only for brokers reached by an address their certificate lacks.",
    )
    kafka_oauth_token_provider: str | None = Field(
        None,
        description="`module:callable` returning an OAuth token string (a coroutine function "
        "too), for OAUTHBEARER: how MSK IAM (aws-msk-iam-sasl-signer) and Confluent OAuth are "
        "reached. Called when a client (re)authenticates. Default: unset.",
    )
    kafka_config_file: Path | None = Field(
        None,
        description="A Kafka client properties file as Confluent Cloud and MSK hand out "
        "(bootstrap.servers, security.protocol, sasl.mechanism(s), sasl.username/password or "
        "sasl.jaas.config, ssl.*.location). STREAMGRAPH_KAFKA_* variables win over it, and its "
        "bootstrap.servers is used when STREAMGRAPH_BROKERS is not set. Default: unset.",
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
        "acknowledged (after a crash an event may be processed twice). exactly_once runs the "
        "records of each input partition in Kafka transactions of that partition's own "
        "producer (engines/kafka/transactions.py): every record they caused and their input "
        "offsets commit together, Merge and Collector state changes included "
        "(engines/kafka/state/state_table.py); readers of its topics must read read_committed. "
        "Refused for graphs with Batch steps, a Merge or Collector reading several topics, a "
        "topic read by several steps, and with lean_transport=false.",
    )
    commit_interval_seconds: float = Field(
        1.0,
        gt=0,
        description="at_least_once: how often a Kafka worker commits the offsets of inputs whose "
        "outputs were delivered. A crashed worker's successor redoes what came after the last "
        "commit, so this bounds a crash's duplicates to about this much work (killed 2.5 s after "
        "a commit, 3,000 looping events at 400/s: Faust's 2.8 s default doubled 826 events, "
        "5,678 duplicate answers; 1.0 s doubled 197, 1,265 answers; tests/kafka/"
        "test_crash_duplicates.py). A commit is one request per worker a second: within noise "
        "in bench/kafka_pipeline.py (122 against 119 CPU us/event).",
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
        description="How long a synchronous caller waits for a reply before a 504; also the "
        "request's deadline (workers drop an event past it without running its steps). A "
        "caller's X-Request-Timeout header can only lower it.",
    )
    otel_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP collector (http://host:4318, or the full .../v1/traces URL; "
        "`console` prints the spans to stderr) that gets this process's spans: one trace per "
        "request, a span for the gateway's request, each step run and each Kafka hop's queue "
        "wait. Unset: no spans are made, at no cost (a caller's traceparent still travels). "
        "Set: each span costs ~30 us of CPU in the OpenTelemetry SDK; export is batched, off "
        "the event's path.",
    )
    otel_service_name: str | None = Field(
        None,
        description="service.name of the spans this process exports (with otel_endpoint). "
        "Unset: each process names itself, the gateway `streamgraph-gateway` and a worker "
        "its function's name.",
    )
    stop_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="How long a `streamgraph worker` may take to stop (Ctrl-C, SIGTERM) before "
        "it exits anyway; inputs it had not committed are redelivered. A healthy worker stops "
        "in 2-3 s; with the broker gone Faust alone takes about a minute.",
    )
    fuse_steps: bool = Field(
        False,
        description="Kafka workers run each linear run of plain steps (no branch, cycle, Merge, "
        "Collector, Batch, queue or streaming step inside) in one agent, one hop instead of one "
        "per step, as Flink chains operators. Same answers, errors and dead letters; the fused "
        "steps scale together (`streamgraph describe` shows the runs).",
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
    llm_api_key: SecretStr | None = Field(
        None,
        description="Bearer key for llm_base_url (a secret: never logged or shown).",
    )
    llm_model: str = Field(
        "gpt-4o-mini",
        description="Model the examples ask llm_base_url for when an LLM is configured.",
    )
    gateway_tokens: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated bearer tokens the gateway accepts; empty: no auth. The "
        "health endpoints stay open. Secrets: never logged or shown.",
    )
    lean_transport: bool = Field(
        True,
        description="Kafka workers run Faust with streamgraph's lean transport (transport.py, "
        "batches.py): records handed to the agents without a task per record, agents that take "
        "every queued record at once, no per-record monitor statistics; several times the "
        "throughput. It overrides internals of faust-streaming (listed in "
        "engines/kafka/upstream.py). false runs Faust's stock App, Stream, consumer, producer "
        "and Monitor with per-event agents: slower, but nothing depends on Faust's internals. "
        "The overrides are an optimisation, never a requirement.",
    )
    keda_lag_threshold: int = Field(
        10,
        ge=1,
        description="`streamgraph manifests`: the lagThreshold of each worker's KEDA Kafka "
        "trigger, the consumer lag (records not yet committed, per replica) KEDA scales on. "
        "KEDA's own default is 10. Lower adds workers sooner (lower latency under bursts, more "
        "pods and rebalances); higher keeps fewer pods busier. Replicas never exceed the "
        "partitions, whatever the lag.",
    )
    worker_web_port: int = Field(
        0,
        ge=0,
        description="Faust worker web port (0 picks a free one).",
    )
    uvloop: bool = Field(
        True,
        description="`streamgraph worker` (also with --model) and `streamgraph gateway` run on "
        "uvloop when it is installed: cheaper loop turns (a plain aiohttp server gains ~30% "
        "requests/s; the worker's gain is within noise). false keeps asyncio's loop.",
    )
    gc_gen0_threshold: int = Field(
        100_000,
        ge=0,
        description="Workers, model workers and gateways freeze what start-up built and run "
        "Python's cyclic garbage collector every this many allocations (Python's default: "
        "700): a worker's CPU per event falls by about a fifth, RSS is unchanged "
        "(bench/kafka_pipeline.py). 0 keeps Python's defaults.",
    )
    kafka_home: Path | None = Field(
        None,
        description="Folder holding one <version>/libs of jars per Kafka release, for the local "
        "broker (`streamgraph kafka`, the test fixture). Unset: $XDG_CACHE_HOME/streamgraph/kafka.",
    )
    test_brokers: str = Field(
        "",
        description="Tests only: a running broker (host:port,...) the `kafka_broker` fixture and "
        "`testing.serve(engine='kafka')` use as it is, instead of starting one.",
    )
    test_kafka: Literal["jar", "docker"] = Field(
        "jar",
        description="Tests only: how the `kafka_broker` fixture starts its broker: `jar` (the "
        "Kafka jars on a local JVM) or `docker` (the apache/kafka image via testcontainers).",
    )
    state_dir: Path | None = Field(
        None,
        description="Where streamgraph keeps what outlives one command: the local brokers "
        "`streamgraph kafka start` and `streamgraph run` started (so every command finds them), "
        "their data, and the workers' local state. Unset: $XDG_STATE_HOME/streamgraph "
        "(~/.local/state/streamgraph): per user, never the current folder.",
    )
    deployed_process: bool = Field(
        False,
        description="Set by `deploy()` in every process it starts: a module such a process "
        "imports must not deploy again (not for users to set).",
    )
    # variables of the system, not streamgraph's: read here too, under their own names
    java_home: Path | None = Field(
        None,
        validation_alias="JAVA_HOME",
        description="The JDK the local Kafka broker runs on ($JAVA_HOME/bin/java); unset: the "
        "`java` on PATH.",
    )
    xdg_cache_home: Path | None = Field(
        None,
        validation_alias="XDG_CACHE_HOME",
        description="The user's cache folder (XDG base directories); unset: ~/.cache.",
    )
    xdg_state_home: Path | None = Field(
        None,
        validation_alias="XDG_STATE_HOME",
        description="The user's state folder (XDG base directories); unset: ~/.local/state.",
    )

    @field_validator(
        "kafka_home",
        "java_home",
        "xdg_cache_home",
        "xdg_state_home",
        "state_dir",
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "kafka_ssl_key_password",
        "kafka_oauth_token_provider",
        "kafka_config_file",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # an exported but empty variable means "unset" (as shells and the XDG spec treat it)
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="before")
    @classmethod
    def _brokers_from_config_file(cls, data: Any) -> Any:
        # the file's bootstrap.servers stands in for unset brokers, and counts as given (the
        # commands then use it rather than a local broker). Never raises: a file that cannot
        # be read is refused by name when the clients' security is built
        if not isinstance(data, dict) or data.get("brokers"):
            return data
        path = data.get("kafka_config_file")
        servers = bootstrap_servers_of(Path(path)) if isinstance(path, str | Path) else None
        return {**data, "brokers": servers} if servers else data

    @field_validator("test_kafka", mode="before")
    @classmethod
    def _test_kafka_mode(cls, value: Any) -> Any:
        return (value.strip().lower() or "jar") if isinstance(value, str) else value

    @property
    def brokers_given(self) -> bool:
        """Whether the brokers were set (STREAMGRAPH_BROKERS or an argument), not defaulted."""
        return "brokers" in self.model_fields_set

    @property
    def brokers_origin(self) -> str:
        """Where given brokers came from, for messages."""
        if self.kafka_config_file is not None:
            return "from STREAMGRAPH_BROKERS or STREAMGRAPH_KAFKA_CONFIG_FILE"
        return "from STREAMGRAPH_BROKERS"

    def state_folder(self) -> Path:
        """The per-user folder of streamgraph's lasting state (see `state_dir`)."""
        if self.state_dir is not None:
            return self.state_dir
        return (self.xdg_state_home or Path.home() / ".local" / "state") / "streamgraph"

    def topic(self, function: str, name: str) -> str:
        """`<prefix>.<function>.<name>`: a step's topic, or `in`, `out`, `dlq`."""
        return f"{self.topic_prefix}.{function}.{name}"


# the settings that hold secrets: `settings_without_secrets` never reads them
SECRET_FIELDS = frozenset(
    {"kafka_sasl_password", "kafka_ssl_key_password", "llm_api_key", "gateway_tokens"}
)


class _EnvWithoutSecrets(EnvSettingsSource):
    """The environment source, blind to the secret fields: their variables' values are never
    fetched from the environment (only the other variables' are), nor looked up as fields."""

    def _load_env_vars(self) -> dict[str, str | None]:
        secrets = {f"STREAMGRAPH_{name.upper()}" for name in SECRET_FIELDS}
        return {
            name.lower(): os.environ[name] for name in os.environ if name.upper() not in secrets
        }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name in SECRET_FIELDS:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class _SettingsWithoutSecrets(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _EnvWithoutSecrets(settings_cls)


def settings_without_secrets(**values: Any) -> Settings:
    """The environment's settings (`values` over them) with every secret field unset and its
    variable never read: for what writes settings out (`streamgraph manifests`)."""
    values = {k: v for k, v in values.items() if k not in SECRET_FIELDS}
    return _SettingsWithoutSecrets(**values)


def secret(key: str) -> str | None:
    """The environment variable `key`: what a step's `context.get_secret(key)` answers.

    MLRun's serving context gives steps their secrets from the environment; any name may be
    asked for, so this is a lookup rather than a field.
    """
    return os.environ.get(key)


__all__ = ["SECRET_FIELDS", "Settings", "secret", "settings_without_secrets"]
