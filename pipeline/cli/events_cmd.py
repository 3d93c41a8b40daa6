"""``voicebus simulate`` (publish realistic calls) and ``voicebus tail`` (decode and print a
topic as JSON lines).  Settings come from the environment (``VOICEBUS_*``); the options
override the broker and registry addresses."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import date, datetime
from typing import Any

import typer
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.config import Settings, load_settings
from pipeline.producer import PublishError
from pipeline.serde import AvroCodec, DecodeError
from pipeline.simulate import build_scenario, publish_scenario

BootstrapOption = typer.Option(None, "--bootstrap-servers", help="Kafka bootstrap servers.")
RegistryOption = typer.Option(None, "--registry-url", help="Schema registry URL.")


def _settings(bootstrap_servers: str | None, registry_url: str | None) -> Settings:
    overrides: dict[str, Any] = {}
    if bootstrap_servers:
        overrides["bootstrap_servers"] = bootstrap_servers
    if registry_url:
        overrides["schema_registry_url"] = registry_url
    return load_settings(**overrides)


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def simulate(
    calls: int = typer.Option(10, "--calls", min=0, help="Number of calls to simulate."),
    tenant: str = typer.Option("acme", "--tenant", help="tenant_id of every event."),
    seed: int | None = typer.Option(None, "--seed", help="Same seed, same events (ids too)."),
    rate: float | None = typer.Option(
        None, "--rate", min=0.1, help="At most this many events per second (default: no limit)."
    ),
    contacts: bool = typer.Option(
        False, "--contacts", help="Also publish the matching CRM directory to crm.contacts."
    ),
    bootstrap_servers: str | None = BootstrapOption,
    registry_url: str | None = RegistryOption,
) -> None:
    """Publish simulated calls to voice.call-events; print the counts per event type.

    Each call: started, 5-40 transcript segments, ended, summary, recording."""
    settings = _settings(bootstrap_servers, registry_url)
    scenario = build_scenario(calls, tenant_id=tenant, seed=seed)
    total = sum(len(c) for c in scenario.calls) + (len(scenario.contacts) if contacts else 0)
    progress = Progress(
        TextColumn("[bold]simulating[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task("events", total=total)
            counts = publish_scenario(
                settings,
                scenario,
                rate=rate,
                contacts=contacts,
                on_published=lambda _kind: progress.advance(task),
            )
    except PublishError as exc:
        raise _fail(f"simulation stopped: {exc}") from None
    except Exception as exc:  # registry down, topic refused ...: one clear line
        raise _fail(f"simulation stopped: {type(exc).__name__}: {exc}") from None
    table = Table(title=f"published (tenant {tenant}, seed {scenario.seed})")
    table.add_column("event type")
    table.add_column("count", justify="right")
    for kind, count in counts.items():
        table.add_row(kind, str(count))
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values())}[/bold]")
    Console(width=120).print(table)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _text(raw: bytes | None) -> str | None:
    return raw.decode("utf-8", "replace") if raw is not None else None


def tail(
    topic: str = typer.Argument(..., help="Topic to read, e.g. voice.call-events."),
    from_beginning: bool = typer.Option(
        False, "--from-beginning", help="Start at the oldest record instead of the end."
    ),
    max_records: int | None = typer.Option(
        None, "--max", min=1, help="Stop after printing this many records."
    ),
    key: str | None = typer.Option(None, "--key", help="Only records with this key."),
    idle_timeout: float | None = typer.Option(
        None, "--idle-timeout", min=0.1, help="Stop after this many seconds without records."
    ),
    bootstrap_servers: str | None = BootstrapOption,
    registry_url: str | None = RegistryOption,
) -> None:
    """Print a topic's records as JSON lines, Avro values decoded via the registry.

    A record that cannot be decoded is printed as a line with "error", partition and offset;
    tail keeps going.  Reads without a consumer group (nothing is committed)."""
    settings = _settings(bootstrap_servers, registry_url)
    codec = AvroCodec(settings)
    conf = settings.consumer_conf(f"voicebus-tail-{uuid.uuid4().hex[:8]}")
    conf.update({"enable.partition.eof": False, "isolation.level": "read_uncommitted"})
    consumer = Consumer(conf)
    try:
        metadata = consumer.list_topics(topic, timeout=settings.request_timeout_s)
    except KafkaException as exc:
        consumer.close()
        raise _fail(f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}") from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        consumer.close()
        raise _fail(f"topic {topic!r} does not exist on {settings.bootstrap_servers}")
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in sorted(found.partitions)])
    printed = 0
    last_record = time.monotonic()
    try:
        while max_records is None or printed < max_records:
            if idle_timeout is not None and time.monotonic() - last_record > idle_timeout:
                break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            kafka_error = msg.error()
            if kafka_error is not None:
                line = {"topic": topic, "error": "kafka", "message": kafka_error.str()}
                typer.echo(json.dumps(line))
                continue
            last_record = time.monotonic()
            record_key = _text(msg.key())
            if key is not None and record_key != key:
                continue
            typer.echo(json.dumps(_line(codec, msg, record_key), default=_json_default))
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _line(codec: AvroCodec, msg: Any, record_key: str | None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "key": record_key,
        "timestamp": msg.timestamp()[1],
        "headers": {k: _text(v) for k, v in (msg.headers() or [])},
    }
    value = msg.value()
    if value is None:
        line["value"] = None  # tombstone
        return line
    try:
        line["value"] = codec.decode(value)
    except DecodeError as exc:
        line["error"] = exc.reason
        line["message"] = (
            f"cannot decode record at partition {msg.partition()} offset {msg.offset()}: {exc}"
        )
    return line


def register(app: typer.Typer) -> None:
    """Add ``voicebus simulate`` and ``voicebus tail`` to the root app."""
    app.command("simulate")(simulate)
    app.command("tail")(tail)
