"""``python -m pipeline.registry``: run the schema registry in the foreground.

Stops cleanly on SIGTERM/SIGINT (HTTP listener closed, Kafka clients flushed and closed).
Settings not given on the command line come from ``VOICEBUS_*`` environment variables.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import web

from pipeline.config import Profile, Settings, load_settings
from pipeline.registry.compat import CompatibilityLevel
from pipeline.registry.errors import RegistryError
from pipeline.registry.server import create_app
from pipeline.registry.service import DEFAULT_LEVEL, RegistryService
from pipeline.registry.store import DEFAULT_TOPIC, KafkaLog, StoreStartError

log = logging.getLogger("pipeline.registry")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.registry",
        description="Confluent-compatible Avro schema registry storing its state in Kafka.",
    )
    parser.add_argument("--bootstrap-servers", help="Kafka brokers (default: VOICEBUS_*)")
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    parser.add_argument("--port", type=int, default=8081, help="listen port")
    parser.add_argument(
        "--default-compatibility",
        default=DEFAULT_LEVEL.value,
        help="level used when neither a global nor a subject config is set "
        f"(default {DEFAULT_LEVEL.value}; Confluent's own default is BACKWARD)",
    )
    parser.add_argument("--topic", default=DEFAULT_TOPIC, help="compacted state topic")
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=-1,
        help="replication of the state topic when created (-1: broker default)",
    )
    parser.add_argument(
        "--profile",
        choices=[p.value for p in Profile],
        help="client tuning profile (dev for the embedded broker)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


async def serve(
    settings: Settings,
    host: str,
    port: int,
    default_level: CompatibilityLevel,
    topic: str = DEFAULT_TOPIC,
    replication_factor: int = -1,
) -> None:
    """Replay the state topic, serve HTTP until SIGTERM/SIGINT, then shut down cleanly."""
    kafka_log = KafkaLog(settings, topic=topic, replication_factor=replication_factor)
    await asyncio.to_thread(kafka_log.start)
    runner = web.AppRunner(create_app(RegistryService(kafka_log, default_level)))
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("schema registry on http://%s:%d (state topic %s)", host, port, topic)
        await stop.wait()
        log.info("stopping schema registry")
    finally:
        await runner.cleanup()
        kafka_log.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    overrides: dict[str, object] = {}
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    if args.profile:
        overrides["profile"] = args.profile
    settings = load_settings(**overrides)
    try:
        level = CompatibilityLevel.parse(args.default_compatibility)
    except RegistryError as exc:
        print(f"--default-compatibility: {exc.message}", file=sys.stderr)
        return 2
    try:
        asyncio.run(
            serve(settings, args.host, args.port, level, args.topic, args.replication_factor)
        )
    except StoreStartError as exc:
        log.error("cannot start: %s", exc)
        return 1
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
