"""Batch decoding ahead of delivery: successes are used, failures left to the processor."""

from __future__ import annotations

import json
from typing import Any

from pipeline.serde import DecodeError
from pipeline.sinks.predecode import NOT_DECODED, decode_all, start_batch_decode


class CountingDecoder:
    def __init__(self, unavailable: bytes | None = None) -> None:
        self.calls: list[bytes | None] = []
        self.unavailable = unavailable

    def __call__(self, value: bytes | None) -> Any:
        self.calls.append(value)
        if value == self.unavailable:
            raise DecodeError("registry-unavailable", "registry down")
        if value == b"bad":
            raise DecodeError("malformed", "not JSON")
        if value == b"bug":
            raise KeyError("decoder bug")
        return json.loads(value or b"")


def test_failures_are_left_undecoded_and_the_batch_goes_on() -> None:
    decode = CountingDecoder()
    out = decode_all(decode, [b'{"n": 1}', b"bad", b"bug", b'{"n": 2}'])
    assert out == [{"n": 1}, NOT_DECODED, NOT_DECODED, {"n": 2}]


def test_an_unavailable_registry_stops_the_batch() -> None:
    decode = CountingDecoder(unavailable=b"x")
    out = decode_all(decode, [b'{"n": 1}', b"x", b'{"n": 2}', b'{"n": 3}'])
    assert out == [{"n": 1}, NOT_DECODED, NOT_DECODED, NOT_DECODED]
    assert decode.calls == [b'{"n": 1}', b"x"]  # not once per remaining record


async def test_one_worker_call_serves_every_record_of_the_batch() -> None:
    decode = CountingDecoder()
    handles = start_batch_decode(decode, [b'{"n": 1}', b"bad", b'{"n": 3}'])
    assert [await h.value() for h in handles] == [{"n": 1}, NOT_DECODED, {"n": 3}]
    assert len(decode.calls) == 3
