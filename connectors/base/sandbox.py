"""The shared base of every vendor sandbox (``connectors/<target>/sandbox.py``).

A sandbox is a local aiohttp server that behaves like the vendor's API for the operations we
use.  This module gives every sandbox the same fault-injection knobs, so the connector
contract tests, the demo and SREs can make any target misbehave the same way:

- fail the next N requests with status S (optionally only on one path);
- throttle the next N requests (429 + Retry-After), or everything above R requests/s;
- add latency; count requests per path;
- named "mutations" a sandbox registers (e.g. change a CRM record behind our back).

The knobs are Python methods on ``SandboxControls`` (in-process tests) and an admin HTTP API
under ``/_sandbox/`` (subprocess tests, the CLI demo): see ``install_controls``.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from pipeline.subprocesses import StartStopContext, free_port

ADMIN_PREFIX = "/_sandbox/"

ErrorFactory = Callable[[int, float | None], web.Response]
"""``factory(status, retry_after)`` -> the vendor-shaped error response for an injected fault."""
Mutation = Callable[..., Any]


def default_error_response(status: int, retry_after: float | None) -> web.Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    return web.json_response(
        {"error": {"status": status, "message": f"sandbox injected HTTP {status}"}},
        status=status,
        headers=headers,
    )


@dataclass
class _Injection:
    kind: str  # "fail" | "throttle"
    remaining: int
    status: int
    retry_after: float | None
    path: str | None


class SandboxControls:
    """Fault injection and counters; thread-safe (the test thread drives a server thread)."""

    def __init__(self, error_response: ErrorFactory = default_error_response) -> None:
        self.error_response = error_response
        self._lock = threading.Lock()
        self._injections: list[_Injection] = []
        self._rate_per_s: float | None = None
        self._rate_retry_after = 1.0
        self._recent: deque[float] = deque()
        self._latency_s = 0.0
        self._counts: Counter[str] = Counter()
        self._mutations: dict[str, Mutation] = {}

    # ---- knobs -------------------------------------------------------------------------
    def fail_next(
        self,
        count: int,
        status: int = 503,
        *,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        with self._lock:
            self._injections.append(_Injection("fail", count, status, retry_after, path))

    def throttle_next(
        self, count: int, retry_after: float = 1.0, *, path: str | None = None
    ) -> None:
        with self._lock:
            self._injections.append(_Injection("throttle", count, 429, retry_after, path))

    def limit_rate(self, rate_per_s: float | None, retry_after: float = 1.0) -> None:
        """Answer 429 to requests above ``rate_per_s`` (sliding 1 s window); None = off."""
        with self._lock:
            self._rate_per_s = rate_per_s
            self._rate_retry_after = retry_after
            self._recent.clear()

    def set_latency(self, ms: float) -> None:
        with self._lock:
            self._latency_s = max(0.0, ms) / 1000.0

    def reset(self) -> None:
        """Clear faults, latency, rate limit and counters (not the sandbox's data)."""
        with self._lock:
            self._injections.clear()
            self._rate_per_s = None
            self._recent.clear()
            self._latency_s = 0.0
            self._counts.clear()

    def register_mutation(self, name: str, fn: Mutation) -> None:
        """Expose ``fn(**kwargs)`` as ``mutate(name, ...)`` and ``POST /_sandbox/mutate/name``."""
        self._mutations[name] = fn

    def mutate(self, mutation: str, /, **kwargs: Any) -> Any:
        try:
            fn = self._mutations[mutation]
        except KeyError:
            known = ", ".join(sorted(self._mutations)) or "none"
            raise KeyError(f"unknown sandbox mutation {mutation!r} (known: {known})") from None
        with self._lock:
            return fn(**kwargs)

    # ---- counters ----------------------------------------------------------------------
    def requests(self, path: str | None = None) -> int:
        """Requests received (all paths, or one), admin calls excluded."""
        with self._lock:
            return self._counts[path] if path is not None else sum(self._counts.values())

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    # ---- applied by the middleware -----------------------------------------------------
    def _admit(self, path: str) -> tuple[float, web.Response | None]:
        """Count the request; return (latency to add, injected response or None)."""
        with self._lock:
            self._counts[path] += 1
            latency = self._latency_s
            for injection in self._injections:
                if injection.remaining > 0 and injection.path in (None, path):
                    injection.remaining -= 1
                    return latency, self.error_response(injection.status, injection.retry_after)
            if self._rate_per_s is not None:
                now = time.monotonic()
                while self._recent and now - self._recent[0] >= 1.0:
                    self._recent.popleft()
                if len(self._recent) >= self._rate_per_s:
                    return latency, self.error_response(429, self._rate_retry_after)
                self._recent.append(now)
            return latency, None


CONTROLS: web.AppKey[SandboxControls] = web.AppKey("voicebus_sandbox_controls", SandboxControls)


def install_controls(
    app: web.Application, error_response: ErrorFactory = default_error_response
) -> SandboxControls:
    """Add the fault-injection middleware and the ``/_sandbox/`` admin routes to ``app``
    (call before the app starts).  Admin routes: ``GET stats``, ``POST fail``
    ``{count, status, path?, retry_after?}``, ``POST throttle {count, retry_after, path?}``,
    ``POST rate-limit {rate_per_s|null, retry_after}``, ``POST latency {ms}``,
    ``POST reset``, ``POST mutate/<name> {kwargs}``."""
    controls = SandboxControls(error_response)
    app[CONTROLS] = controls

    @web.middleware
    async def faults(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        latency, injected = controls._admit(request.path)
        if latency:
            await asyncio.sleep(latency)
        if injected is not None:
            return injected
        return await handler(request)

    app.middlewares.append(faults)

    async def body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="admin body must be a JSON object")
        return data

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"requests": controls.counts(), "total": controls.requests()})

    async def fail(request: web.Request) -> web.Response:
        data = await body(request)
        controls.fail_next(
            int(data.get("count", 1)),
            int(data.get("status", 503)),
            path=data.get("path"),
            retry_after=data.get("retry_after"),
        )
        return web.json_response({"ok": True})

    async def throttle(request: web.Request) -> web.Response:
        data = await body(request)
        controls.throttle_next(
            int(data.get("count", 1)), float(data.get("retry_after", 1.0)), path=data.get("path")
        )
        return web.json_response({"ok": True})

    async def rate_limit(request: web.Request) -> web.Response:
        data = await body(request)
        rate = data.get("rate_per_s")
        controls.limit_rate(
            float(rate) if rate is not None else None, float(data.get("retry_after", 1.0))
        )
        return web.json_response({"ok": True})

    async def latency(request: web.Request) -> web.Response:
        controls.set_latency(float((await body(request)).get("ms", 0)))
        return web.json_response({"ok": True})

    async def reset(_request: web.Request) -> web.Response:
        controls.reset()
        return web.json_response({"ok": True})

    async def mutate(request: web.Request) -> web.Response:
        try:
            result = controls.mutate(request.match_info["name"], **(await body(request)))
        except KeyError as exc:
            raise web.HTTPNotFound(text=str(exc.args[0])) from None
        return web.json_response({"ok": True, "result": result})

    app.router.add_get(ADMIN_PREFIX + "stats", stats)
    app.router.add_post(ADMIN_PREFIX + "fail", fail)
    app.router.add_post(ADMIN_PREFIX + "throttle", throttle)
    app.router.add_post(ADMIN_PREFIX + "rate-limit", rate_limit)
    app.router.add_post(ADMIN_PREFIX + "latency", latency)
    app.router.add_post(ADMIN_PREFIX + "reset", reset)
    app.router.add_post(ADMIN_PREFIX + "mutate/{name}", mutate)
    return controls


class SandboxServer(StartStopContext):
    """Run an aiohttp app on 127.0.0.1 and a free port in a background thread::

    with SandboxServer(make_app()) as srv:
        connector = Connector(base_url=srv.url)
        srv.controls.throttle_next(1, retry_after=2)
    """

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def controls(self) -> SandboxControls:
        return self.app[CONTROLS]

    def start(self, timeout_s: float = 10.0) -> SandboxServer:
        self._thread = threading.Thread(target=self._serve, name="sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise RuntimeError(f"sandbox did not start on {self.host}: {self._error!r}")
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_site())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
        loop.close()

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
        self._thread = None


class SandboxAdmin:
    """Drive a sandbox's ``/_sandbox/`` API from another process (tests, the CLI demo)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self._client = httpx.Client(base_url=url.rstrip("/") + ADMIN_PREFIX, timeout=timeout_s)

    def _post(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        response = self._client.post(path, json=payload or {})
        response.raise_for_status()
        return response.json()

    def fail_next(self, count: int, status: int = 503, *, path: str | None = None) -> None:
        self._post("fail", {"count": count, "status": status, "path": path})

    def throttle_next(self, count: int, retry_after: float = 1.0) -> None:
        self._post("throttle", {"count": count, "retry_after": retry_after})

    def set_latency(self, ms: float) -> None:
        self._post("latency", {"ms": ms})

    def reset(self) -> None:
        self._post("reset")

    def mutate(self, mutation: str, /, **kwargs: Any) -> Any:
        return self._post(f"mutate/{mutation}", kwargs).get("result")

    def stats(self) -> dict[str, Any]:
        response = self._client.get("stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def close(self) -> None:
        self._client.close()


def run_main(
    make_app: Callable[[argparse.Namespace], web.Application],
    *,
    description: str,
    argv: Sequence[str] | None = None,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """Entry point for ``python -m connectors.<target>.sandbox --port N``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    app = make_app(args)

    async def announce(_app: web.Application) -> None:
        print(f"sandbox listening on http://{args.host}:{args.port}", flush=True)

    if args.port == 0:
        args.port = free_port(args.host)
    app.on_startup.append(announce)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
