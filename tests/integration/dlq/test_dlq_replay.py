"""`voicebus dlq replay` on the real broker: what is published, idempotency across tasks,
dry run, --to, cancel and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from pipeline import headers as h
from tests.integration.dlq.conftest import Dead, create_topics, json_out, produce_dead, read_all


def _setup(settings, target: str, n: int, **kw) -> list[Dead]:
    create_topics(settings, f"sync.{target}", f"sync.{target}.dlq")
    dead = [
        Dead(
            f"call-{i % 3}",
            f"value-{i}".encode(),
            "permanent" if i % 2 else "data",
            attempts=2,
            minutes=i,
            source_offset=100 + i,
            **kw,
        )
        for i in range(n)
    ]
    produce_dead(settings, target, dead)
    return dead


def test_replay_publishes_originals_in_order_and_never_twice(cli, sre_settings, unique):
    target = f"t{unique}"
    dead = _setup(sre_settings, target, 6)

    first = json_out(cli("dlq", "replay", target, "--json"))
    assert first["status"] == "done"
    assert first["counts"]["published"] == 6

    out = read_all(sre_settings, f"sync.{target}")
    assert [m.value() for m in out] == [d.value for d in dead]  # original order
    assert [m.key().decode() for m in out] == [d.key for d in dead]
    headers = dict(out[0].headers())
    assert headers["traceparent"] == b"00-abc-def-01"  # original headers kept
    assert headers["vb-operation"] == b"log_call"
    assert not set(headers) & set(h.ALL_VB_ERROR_HEADERS)  # error headers removed
    assert headers[h.REPLAY_ID] == first["id"].encode()
    assert headers[h.REPLAYED_AT].startswith(b"20")
    assert headers[h.PREVIOUS_ATTEMPTS] == b"2"
    assert headers[h.PREVIOUS_FIRST_FAILURE_AT] == b"2026-11-01T11:59:30.000Z"

    # the DLQ keeps its records (purge removes them, not replay)
    assert [r["count"] for r in json_out(cli("dlq", "ls", "--json")) if r["target"] == target] == [
        6
    ]

    second = json_out(cli("dlq", "replay", target, "--json"))
    assert second["counts"]["published"] == 0
    assert second["counts"]["skipped_already_replayed"] == 6
    assert len(read_all(sre_settings, f"sync.{target}")) == 6

    again = json_out(cli("dlq", "replay", target, "--again", "--json"))
    assert again["counts"]["published"] == 6
    assert len(read_all(sre_settings, f"sync.{target}")) == 12

    status = json_out(cli("dlq", "replay", "--status", "--json"))
    mine = {t["id"]: t for t in status if t["target"] == target}
    assert set(mine) == {first["id"], second["id"], again["id"]}
    assert all(t["status"] == "done" for t in mine.values())


def test_dry_run_publishes_nothing_and_filters_apply(cli, sre_settings, unique):
    target = f"t{unique}"
    _setup(sre_settings, target, 6)

    result = cli("dlq", "replay", target, "--dry-run", "--error-class", "data")
    assert "would publish 3 of 3" in result.stdout
    assert read_all(sre_settings, f"sync.{target}") == []
    tasks = json_out(cli("dlq", "replay", "--status", "--json"))
    assert [t for t in tasks if t["target"] == target] == []  # a dry run leaves no task

    # --since/--until and --key narrow what is replayed
    task = json_out(
        cli(
            "dlq",
            "replay",
            target,
            "--key",
            "call-1",
            "--since",
            "2026-11-01T12:01:00Z",
            "--until",
            "2026-11-01T12:05:00Z",
            "--json",
        )
    )
    assert task["counts"]["published"] == 2
    assert [m.value() for m in read_all(sre_settings, f"sync.{target}")] == [b"value-1", b"value-4"]


def test_replay_to_another_topic_is_independent_of_replays_to_the_target(cli, sre_settings, unique):
    target = f"t{unique}"
    _setup(sre_settings, target, 4)
    create_topics(sre_settings, f"staging.{unique}")

    task = json_out(cli("dlq", "replay", target, "--to", f"staging.{unique}", "--json"))
    assert task["destination"] == f"staging.{unique}"
    assert [m.value() for m in read_all(sre_settings, f"staging.{unique}")] == [
        b"value-0",
        b"value-1",
        b"value-2",
        b"value-3",
    ]
    assert read_all(sre_settings, f"sync.{target}") == []
    # a replay to staging does not count as "already replayed" for the real target
    task = json_out(cli("dlq", "replay", target, "--json"))
    assert task["counts"]["published"] == 4

    missing = cli("dlq", "replay", target, "--to", f"nowhere.{unique}", ok=False)
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_cancel_then_resume_continues_where_it_stopped(cli, sre_settings, unique):
    target = f"t{unique}"
    dead = _setup(sre_settings, target, 12)
    task_id = f"r-{unique}"
    env = {**os.environ, **cli.env}
    runner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pipeline.cli import main; main()",
            "dlq",
            "replay",
            target,
            "--rate",
            "2",
            "--id",
            task_id,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while len(read_all(sre_settings, f"sync.{target}")) < 2:
            assert runner.poll() is None, runner.stdout.read().decode()
            assert time.monotonic() < deadline, "replay published nothing"
            time.sleep(0.1)
        cancelled = cli("dlq", "replay", "--cancel", task_id)
        assert "cancel requested" in cancelled.stdout
        output = runner.communicate(timeout=60)[0].decode()
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 0, output
    assert f"replay {task_id} cancelled" in output

    [state] = json_out(cli("dlq", "replay", "--status", "--id", task_id, "--json"))
    assert state["status"] == "cancelled"
    published = state["counts"]["published"]
    assert 2 <= published < 12
    assert state["done_offsets"] == {"0": published}
    assert len(read_all(sre_settings, f"sync.{target}")) == published

    resumed = json_out(cli("dlq", "replay", "--resume", task_id, "--json"))
    assert resumed["status"] == "done"
    assert resumed["counts"]["published"] == 12
    values = [m.value() for m in read_all(sre_settings, f"sync.{target}")]
    assert values == [d.value for d in dead]  # each exactly once, in order

    done = cli("dlq", "replay", "--resume", task_id, ok=False)
    assert done.exit_code == 1 and "already done" in done.output


def test_a_replayed_record_that_fails_again_keeps_its_attempt_history(cli, sre_settings, unique):
    from confluent_kafka import Producer

    from tests.integration.dlq.conftest import BASE_TIME, iso

    target = f"t{unique}"
    _setup(sre_settings, target, 1)  # 2 attempts before the replay
    first = json_out(cli("dlq", "replay", target, "--json"))
    [replayed] = read_all(sre_settings, f"sync.{target}")

    # what the sink does when it fails again: same key/value/headers + new error headers
    producer = Producer(sre_settings.producer_conf())
    producer.produce(
        f"sync.{target}.dlq",
        key=replayed.key(),
        value=replayed.value(),
        headers=[
            *replayed.headers(),
            (h.ERROR_CLASS, b"permanent"),
            (h.ATTEMPTS, b"1"),
            (h.LAST_FAILURE_AT, iso(BASE_TIME).encode()),
        ],
    )
    assert producer.flush(10) == 0

    rows = [json.loads(line) for line in cli("dlq", "show", target, "--json").stdout.splitlines()]
    assert [(r["offset"], r["attempts"], r["previous_attempts"], r["replay_id"]) for r in rows] == [
        (0, 2, None, None),
        (1, 1, 2, first["id"]),
    ]
    second = json_out(cli("dlq", "replay", target, "--json"))
    assert second["counts"]["published"] == 1  # only the new dead letter
    latest = read_all(sre_settings, f"sync.{target}")[-1]
    assert dict(latest.headers())[h.PREVIOUS_ATTEMPTS] == b"3"
    assert [v for n, v in latest.headers() if n == h.REPLAY_ID] == [second["id"].encode()]
