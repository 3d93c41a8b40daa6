"""`voicebus dlq purge` on the real broker.  The embedded broker fails DeleteRecords, so the
default purge falls back to the committed floor, which ls/show/replay respect."""

from __future__ import annotations

import json

from tests.integration.dlq.conftest import (
    Dead,
    create_topics,
    json_out,
    make_cli,
    produce_dead,
    read_all,
)


def _setup(settings, target: str) -> None:
    create_topics(settings, f"sync.{target}", f"sync.{target}.dlq")
    produce_dead(
        settings,
        target,
        [Dead(f"call-{i}", f"v{i}".encode(), "permanent", minutes=10 * i) for i in range(5)],
    )


def test_purge_falls_back_to_a_floor_that_hides_records_everywhere(cli, sre_settings, unique):
    target = f"t{unique}"
    _setup(sre_settings, target)

    result = cli("dlq", "purge", target, "--before", "2026-11-01T12:25:00Z", "--yes")
    assert "purged 3 record(s)" in result.stdout
    assert "using floor" in result.stdout
    assert "DeleteRecords not available" in result.stdout

    [row] = [r for r in json_out(cli("dlq", "ls", "--json")) if r["target"] == target]
    assert row["count"] == 2
    assert row["oldest"] == "2026-11-01T12:30:00.000Z"
    shown = cli("dlq", "show", target, "--json").stdout.splitlines()
    assert [json.loads(line)["offset"] for line in shown] == [3, 4]
    task = json_out(cli("dlq", "replay", target, "--json"))
    assert task["counts"]["published"] == 2
    assert [m.value() for m in read_all(sre_settings, f"sync.{target}")] == [b"v3", b"v4"]

    # nothing older is left: a second purge with the same cut is a no-op
    again = cli("dlq", "purge", target, "--before", "2026-11-01T12:25:00Z", "--yes")
    assert "nothing to purge" in again.stdout


def test_purge_asks_for_confirmation(cli, sre_settings, unique):
    target = f"t{unique}"
    _setup(sre_settings, target)

    declined = cli(
        "dlq", "purge", target, "--before", "2026-11-01T12:15:00Z", input="n\n", ok=False
    )
    assert declined.exit_code == 1
    assert "purge 2 record(s)" in declined.output and "Aborted" in declined.output
    [row] = [r for r in json_out(cli("dlq", "ls", "--json")) if r["target"] == target]
    assert row["count"] == 5

    accepted = cli("dlq", "purge", target, "--before", "2026-11-01T12:15:00Z", input="y\n")
    assert "purged 2 record(s)" in accepted.output


def test_delete_records_refusal_is_a_clear_message(fresh_broker, unique):
    # own broker: the embedded broker fails the DeleteRecords request itself
    from pipeline.config import Profile, Settings

    settings = Settings(
        bootstrap_servers=fresh_broker.bootstrap_servers,
        profile=Profile.DEV,
        schema_registry_url="http://127.0.0.1:9",
    )
    cli = make_cli(settings)
    target = f"t{unique}"
    _setup(settings, target)

    result = cli(
        "dlq",
        "purge",
        target,
        "--before",
        "2026-11-01T12:25:00Z",
        "--yes",
        "--method",
        "delete-records",
        ok=False,
    )
    assert result.exit_code == 1
    assert "refused DeleteRecords" in result.output
    assert "Nothing was purged" in result.output and "--method floor" in result.output
    assert "Traceback" not in result.output
    [row] = [r for r in json_out(cli("dlq", "ls", "--json")) if r["target"] == target]
    assert row["count"] == 5
