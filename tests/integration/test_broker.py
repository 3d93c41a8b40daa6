from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from pipeline.broker import BrokerError, EmbeddedBroker
from pipeline.config import Profile, Settings


def test_broker_round_trip_with_keys_and_headers(broker: EmbeddedBroker, unique: str) -> None:
    s = Settings(bootstrap_servers=broker.bootstrap_servers, profile=Profile.DEV)
    topic = f"t-{unique}"
    admin = AdminClient(s.admin_conf())
    for fut in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        fut.result(10)
    producer = Producer(s.producer_conf())
    for i in range(5):
        producer.produce(topic, key=f"call-{i}", value=f"v{i}".encode(), headers={"h": b"x"})
    assert producer.flush(10) == 0
    consumer = Consumer(s.consumer_conf(f"g-{unique}"))
    consumer.subscribe([topic])
    seen: dict[str, bytes] = {}
    deadline = time.monotonic() + 30
    while len(seen) < 5 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        assert dict(msg.headers() or [])["h"] == b"x"
        seen[msg.key().decode()] = msg.value()
    consumer.close()
    assert seen == {f"call-{i}": f"v{i}".encode() for i in range(5)}


def test_port_in_use_is_refused_with_clear_error(broker: EmbeddedBroker) -> None:
    other = EmbeddedBroker(port=broker.port)
    with pytest.raises(BrokerError, match="already in use"):
        other.start()
    assert not other.running


def test_stop_really_stops(tmp_path) -> None:  # type: ignore[no-untyped-def]
    b = EmbeddedBroker(port=None, log_path=tmp_path / "b.log")
    b.start()
    assert b.running
    b.stop()
    assert not b.running
    assert (tmp_path / "b.log").exists()
