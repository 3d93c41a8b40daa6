"""State lives in the ``_schemas`` topic: a restarted registry, or a second one on the same
broker, answers with the same subjects, versions, ids, configs and soft deletes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from pipeline.broker import EmbeddedBroker
from pipeline.registry.process import RegistryProcess, RegistryStartError

pytestmark = pytest.mark.integration


def avro_record(name: str, *fields: str) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "fields": [{"name": f, "type": "int", "default": 0} for f in fields],
        }
    )


def snapshot(url: str) -> dict[str, object]:
    """Everything a client can observe about subjects a, b and c."""
    with httpx.Client(base_url=url) as http:

        def get(path: str) -> tuple[int, object]:
            response = http.get(path)
            return response.status_code, response.json()

        return {
            path: get(path)
            for path in [
                "/subjects", "/subjects?deleted=true", "/config", "/config/a",
                "/subjects/a/versions", "/subjects/a/versions?deleted=true",
                "/subjects/a/versions/latest", "/subjects/a/versions/1",
                "/subjects/a/versions/1?deleted=true", "/subjects/b/versions",
                "/subjects/b/versions?deleted=true", "/subjects/c/versions?deleted=true",
                "/schemas/ids/1", "/schemas/ids/2", "/schemas/ids/3", "/schemas/ids/4",
            ]
        }  # fmt: skip


def test_restart_on_same_broker_restores_everything(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    first = RegistryProcess(fresh_broker.bootstrap_servers, port=None, log_path=tmp_path / "r1.log")
    first.start()
    try:
        with httpx.Client(base_url=first.url) as http:

            def register(subject: str, schema: str) -> object:
                return http.post(f"/subjects/{subject}/versions", json={"schema": schema}).json()

            assert register("a", avro_record("A", "x")) == {"id": 1}
            assert register("a", avro_record("A", "x", "y")) == {"id": 2}
            assert register("a", avro_record("A", "x", "y", "z")) == {"id": 3}
            assert register("b", avro_record("A", "x")) == {"id": 1}
            assert register("c", avro_record("C", "x")) == {"id": 4}
            assert http.put("/config", json={"compatibility": "FULL"}).status_code == 200
            assert http.put("/config/a", json={"compatibility": "NONE"}).status_code == 200
            assert http.delete("/subjects/a/versions/1").json() == 1
            assert http.delete("/subjects/b").json() == [1]
            assert http.delete("/subjects/c").json() == [1]
            assert http.delete("/subjects/c?permanent=true").json() == [1]
        before = snapshot(first.url)
    finally:
        first.stop()
    assert before["/subjects"] == (200, ["a"])
    assert before["/subjects/a/versions/1"][0] == 404  # soft-deleted
    assert before["/schemas/ids/4"][0] == 404  # permanently deleted

    second = RegistryProcess(
        fresh_broker.bootstrap_servers, port=None, log_path=tmp_path / "r2.log"
    )
    second.start()
    try:
        assert snapshot(second.url) == before
        with httpx.Client(base_url=second.url) as http:
            # ids continue after the highest ever used, even the permanently deleted one
            new = http.post("/subjects/d/versions", json={"schema": avro_record("D", "x")})
            assert new.json() == {"id": 5}
            again = http.post("/subjects/b/versions", json={"schema": avro_record("A", "x")})
            assert again.json() == {"id": 1}
            assert http.get("/subjects/b/versions?deleted=true").json() == [1, 2]
    finally:
        second.stop()

    admin = AdminClient({"bootstrap.servers": fresh_broker.bootstrap_servers})
    topic = admin.list_topics(timeout=10).topics["_schemas"]
    assert len(topic.partitions) == 1
    configs = admin.describe_configs([ConfigResource("topic", "_schemas")])
    (future,) = configs.values()
    assert future.result(10)["cleanup.policy"].value == "compact"


def test_two_instances_on_one_broker_agree(fresh_broker: EmbeddedBroker, tmp_path: Path) -> None:
    one = RegistryProcess(fresh_broker.bootstrap_servers, port=None, log_path=tmp_path / "a.log")
    two = RegistryProcess(fresh_broker.bootstrap_servers, port=None, log_path=tmp_path / "b.log")
    with one, two, httpx.Client(base_url=one.url) as a, httpx.Client(base_url=two.url) as b:
        assert a.post("/subjects/s/versions", json={"schema": avro_record("S", "x")}).json() == {
            "id": 1
        }
        assert a.put("/config/s", json={"compatibility": "FORWARD"}).status_code == 200
        deadline = time.monotonic() + 15  # bounded wait for the other reader to catch up
        while time.monotonic() < deadline and b.get("/config/s").status_code != 200:
            time.sleep(0.05)
        assert b.get("/config/s").json() == {"compatibilityLevel": "FORWARD"}
        assert b.get("/subjects/s/versions/latest").json()["id"] == 1
        # the second instance writes on top of what the first wrote
        assert b.post(
            "/subjects/s/versions", json={"schema": avro_record("S", "x", "y")}
        ).json() == {"id": 2}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and a.get("/subjects/s/versions").json() != [1, 2]:
            time.sleep(0.05)
        assert a.get("/subjects/s/versions").json() == [1, 2]


def test_process_options_busy_port_and_clean_stop(
    fresh_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with RegistryProcess(
        fresh_broker.bootstrap_servers,
        port=None,
        log_path=tmp_path / "1.log",
        default_compatibility="FULL",
    ) as running:
        assert running.running
        assert httpx.get(f"{running.url}/config").json() == {"compatibilityLevel": "FULL"}
        assert httpx.get(f"{running.url}/").json() == {}
        clash = RegistryProcess(
            fresh_broker.bootstrap_servers, port=running.port, log_path=tmp_path / "2.log"
        )
        with pytest.raises(RegistryStartError, match="already in use"):
            clash.start()
        assert not clash.running
    assert not running.running
    assert running.returncode == 0  # SIGTERM -> clean shutdown, not killed
    assert "stopping schema registry" in (tmp_path / "1.log").read_text()


def test_process_reports_an_unreachable_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.broker import free_port

    monkeypatch.setenv("VOICEBUS_REQUEST_TIMEOUT_S", "2")  # the subprocess reads VOICEBUS_*
    dead = f"127.0.0.1:{free_port()}"
    process = RegistryProcess(dead, port=None, log_path=tmp_path / "r.log", start_timeout_s=60)
    with pytest.raises(RegistryStartError, match="exited with code 1"):
        process.start()
    log = (tmp_path / "r.log").read_text()
    assert "cannot start: cannot create topic '_schemas'" in log, log
