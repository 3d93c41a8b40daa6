"""`voicebus dlq ls` and `voicebus dlq show` on the real broker."""

from __future__ import annotations

import json

from tests.integration.dlq.conftest import Dead, create_topics, json_out, produce_dead


def test_ls_counts_records_by_reading_not_by_end_offsets(cli, sre_settings, unique):
    target = f"t{unique}"
    create_topics(sre_settings, f"sync.{target}", f"sync.{target}.dlq")
    dead = [
        Dead("call-1", b"v1", "permanent", minutes=0),
        Dead("call-2", b"v2", "data", minutes=5),
        Dead("call-1", b"v3", "permanent", minutes=10),
        Dead("call-3", b"v4", "decode", minutes=20),
        Dead("call-2", b"v5", "permanent", minutes=30),
    ]
    # several records per producer batch: ListOffsets on the embedded broker answers low
    produce_dead(sre_settings, target, dead, batched=True)

    rows = [r for r in json_out(cli("dlq", "ls", "--json")) if r["target"] == target]

    assert rows == [
        {
            "target": target,
            "topic": f"sync.{target}.dlq",
            "count": 5,
            "oldest": "2026-11-01T12:00:00.000Z",
            "newest": "2026-11-01T12:30:00.000Z",
            "by_error_class": {"data": 1, "decode": 1, "permanent": 3},
        }
    ]
    table = cli("dlq", "ls").stdout
    assert target in table and "permanent=3" in table


def test_show_filters_and_describes_undecodable_values(cli, sre_settings, unique):
    target = f"t{unique}"
    create_topics(sre_settings, f"sync.{target}", f"sync.{target}.dlq")
    produce_dead(
        sre_settings,
        target,
        [
            Dead(
                "call-1",
                b"\x01garbage",
                "permanent",
                "404 no such lead",
                attempts=3,
                minutes=0,
                source_offset=11,
            ),
            Dead("call-2", b"not avro", "data", "missing [/b]call_id", minutes=5, source_offset=12),
            Dead("call-1", b"x", "permanent", "409", minutes=10, source_offset=13),
            # a well-formed wire header: decoding needs the (unreachable) registry
            Dead(
                "call-4",
                b"\x00\x00\x00\x00\x07body",
                "conflict",
                "412",
                minutes=20,
                source_offset=14,
            ),
        ],
    )

    def show(*args: str) -> list[dict]:
        out = cli("dlq", "show", target, "--json", *args).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    everything = show()
    assert [r["offset"] for r in everything] == [0, 1, 2, 3]
    first = everything[0]
    assert first["key"] == "call-1"
    assert first["error_class"] == "permanent"
    assert first["error_message"] == "404 no such lead"
    assert first["attempts"] == 3
    assert first["last_failure_at"] == "2026-11-01T12:00:00.000Z"
    assert first["first_failure_at"] == "2026-11-01T11:59:30.000Z"
    assert first["source"] == f"sync.{target}[0]@11"
    # no registry reachable: the value is described (size + reason), never a crash
    assert first["value"]["decoded"] is False
    assert first["value"]["bytes"] == 8
    assert "magic byte" in first["value"]["reason"]
    assert everything[1]["value"]["bytes"] == len(b"not avro")
    assert everything[3]["value"]["decoded"] is False
    assert "unreachable" in everything[3]["value"]["reason"]

    assert [r["offset"] for r in show("--error-class", "permanent")] == [0, 2]
    assert [r["offset"] for r in show("--key", "call-1")] == [0, 2]
    assert [r["offset"] for r in show("--since", "2026-11-01T12:05:00Z", "--limit", "2")] == [1, 2]
    assert show("--key", "nobody") == []

    table = cli("dlq", "show", target, "--key", "call-2").stdout
    assert "missing [/b]call_id" in table and "undecodable (8 bytes)" in table


def test_show_unknown_target_is_one_clear_line(cli, unique):
    result = cli("dlq", "show", f"missing{unique}", ok=False)
    assert result.exit_code == 1
    assert f"sync.missing{unique}.dlq" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output


def test_bad_time_is_rejected_with_the_accepted_forms(cli, unique):
    result = cli("dlq", "show", f"t{unique}", "--since", "yesterday-ish", ok=False)
    assert result.exit_code == 2
    assert "ISO 8601" in result.output


def test_show_decodes_avro_values_with_the_registry(settings, unique):
    from datetime import UTC, datetime

    from pipeline.schema_catalog import CALL_EVENT_SCHEMA, load_schema, subject_for
    from pipeline.serde import AvroCodec
    from tests.integration.dlq.conftest import make_cli

    event = {
        "event_id": "3f1e9c3e-0000-4000-8000-00000000000a",
        "event_type": "call_started",
        "occurred_at": datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        "tenant_id": "acme",
        "call_id": f"call-{unique}",
        "source": "twilio",
        "schema_version": 1,
        "payload": {
            "direction": "INBOUND",
            "from_number": "+15550001111",
            "to_number": "+15550002222",
            "agent": None,
            "queue": None,
            "language": "en-US",
        },
    }
    value = AvroCodec(settings).encode(
        event, subject=subject_for(CALL_EVENT_SCHEMA), schema=load_schema(CALL_EVENT_SCHEMA)
    )
    target = f"t{unique}"
    create_topics(settings, f"sync.{target}", f"sync.{target}.dlq")
    produce_dead(settings, target, [Dead(f"call-{unique}", value, "data", "no contact")])

    out = make_cli(settings)("dlq", "show", target, "--json").stdout
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["value"] == {
        "decoded": True,
        "event_type": "call_started",
        "event_id": "3f1e9c3e-0000-4000-8000-00000000000a",
        "call_id": f"call-{unique}",
        "tenant_id": "acme",
        "occurred_at": "2026-11-01T12:00:00.000Z",
    }
    assert "+1555" not in out  # payload fields (PII) are never shown


def test_unreachable_broker_is_one_clear_line_for_every_tool():
    from typer.testing import CliRunner

    from pipeline.broker import free_port
    from pipeline.cli import app

    env = {
        "VOICEBUS_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "VOICEBUS_REQUEST_TIMEOUT_S": "1",
        "VOICEBUS_PROFILE": "dev",
    }
    for args in (["dlq", "ls"], ["lag"], ["conflicts", "ls"], ["dlq", "replay", "--status"]):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 1, (args, result.output)
        assert "is the broker up" in result.output, (args, result.output)
        assert "Traceback" not in result.output
