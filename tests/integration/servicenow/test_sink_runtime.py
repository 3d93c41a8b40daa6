"""`voicebus sink servicenow` end to end: run_sink finds the connector by name, reads its
settings from the environment and delivers Avro records of sync.servicenow (real broker and
registry) to the sandbox; redelivering the topic creates nothing new."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.base.sandbox import SandboxServer
from connectors.servicenow.sandbox import instance_of
from pipeline.config import Settings
from tests.helpers.sink_runtime import produce_sync, run_sink_until
from tests.integration.servicenow.conftest import PASSWORD, USER, enriched_event


async def test_sink_delivers_sync_servicenow_records(
    fresh_settings: Settings, sn_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "INSTANCE_URL": sn_sandbox.url,
        "USERNAME": USER,
        "PASSWORD": PASSWORD,
        "RESILIENCE__RATE_PER_S": "0",
    }.items():
        monkeypatch.setenv(f"VOICEBUS_SERVICENOW_{name}", value)
    admin = AdminClient(fresh_settings.admin_conf())
    for future in admin.create_topics([NewTopic("sync.servicenow", 2, 1)]).values():
        future.result(10)
    records = []
    for n in range(5):
        call_id = f"call-sink-{n}"
        records.append((enriched_event(call_id), "open_incident", {"category": "network"}))
        records.append(
            (
                enriched_event(call_id, "recording_available"),
                "update_incident",
                {"state": "in_progress"},
            )
        )
    produce_sync(fresh_settings, "servicenow", records)
    store = instance_of(sn_sandbox.app).store

    def all_in_progress() -> bool:
        incidents = store.find("incident", correlation_display="voicebus")
        return len(incidents) == 5 and all(i["state"] == "2" for i in incidents)

    await run_sink_until("servicenow", fresh_settings, all_in_progress)
    incidents = store.find("incident", correlation_display="voicebus")
    assert sorted(i["correlation_id"] for i in incidents) == [f"call-sink-{n}" for n in range(5)]
    assert all(len(store.notes(i["sys_id"])) == 1 for i in incidents)
    assert {i["category"] for i in incidents} == {"network"}
