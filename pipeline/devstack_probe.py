"""Exec probe for worker pods (deploy/k8s: startup, readiness and liveness probes).

voicebus workers are Kafka consumers without an HTTP server, so "healthy" means what matters
for a consumer: *this pod is a member of its consumer group*.  A worker that hangs stops
heartbeating, the group coordinator evicts it after ``session.timeout.ms`` /
``max.poll.interval.ms``, and this probe then fails, so Kubernetes restarts the pod.  A worker
that cannot reach the broker at all is not ready either.

Run as ``python -m pipeline.devstack_probe`` with ``VOICEBUS_PROBE_GROUP`` (the group id) and
``POD_IP`` (downward API; members are matched by their client host) in the environment, plus
the usual ``VOICEBUS_*`` connection settings.  Exit 0 = healthy, 1 = not, with one line on
stderr saying why.  Used locally by ``voicebus dev up`` readiness as well (same question).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from pipeline.config import Settings


@dataclass(frozen=True)
class GroupView:
    state: str  # STABLE, EMPTY, PREPARING_REBALANCE, ...
    hosts: tuple[str, ...]  # client hosts of the members ("/10.1.2.3" -> "10.1.2.3")


def describe_group(
    settings: Settings, group: str, timeout_s: float, admin: AdminClient | None = None
) -> GroupView:
    if admin is None:  # not `admin or ...`: a client with nothing queued has len() 0
        admin = AdminClient(settings.admin_conf())
    described = admin.describe_consumer_groups([group], request_timeout=timeout_s)[group].result(
        timeout=timeout_s
    )
    return GroupView(
        state=str(described.state.name),
        hosts=tuple(str(m.host).lstrip("/") for m in described.members),
    )


def judge(view: GroupView, group: str, pod_ip: str | None) -> str | None:
    """None when healthy, else the reason.  Apache Kafka lists the members, so the pod must be
    one of them.  A broker that reports a STABLE group without its member list (the embedded
    Tansu broker does) is trusted on the group state alone."""
    if view.hosts:
        if pod_ip and pod_ip not in view.hosts:
            return f"this pod ({pod_ip}) is not a member of group {group!r}"
        return None
    if view.state == "STABLE":
        return None
    return f"group {group!r} has no members (state {view.state}): the worker is not consuming"


def check(
    settings: Settings,
    group: str,
    pod_ip: str | None,
    timeout_s: float,
    admin: AdminClient | None = None,
) -> str | None:
    """None when healthy, else the reason (including "cannot reach the broker")."""
    try:
        view = describe_group(settings, group, timeout_s, admin)
    except Exception as exc:
        return f"cannot describe group {group!r}: {type(exc).__name__}: {exc}"
    return judge(view, group, pod_ip)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--group", default=os.environ.get("VOICEBUS_PROBE_GROUP"))
    parser.add_argument("--pod-ip", default=os.environ.get("POD_IP"))
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    if not args.group:
        print("probe: set VOICEBUS_PROBE_GROUP or pass --group", file=sys.stderr)
        return 2
    reason = check(Settings(), args.group, args.pod_ip, args.timeout)
    if reason:
        print(f"probe: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
