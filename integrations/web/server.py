"""One small aiohttp server: chat webhooks mount routes on it, `/healthz` beside.

Slack's HTTP mode and, later, Teams share this server, so a deployment opens
one port whatever front ends it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HealthCheck = Callable[[], bool]


class WebServer:
    """Routes are added before `start`; aiohttp freezes the router then."""

    def __init__(self, host: str = "0.0.0.0", port: int = 3000) -> None:
        self.host = host
        self.port = port
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.checks: dict[str, HealthCheck] = {}
        self._runner: web.AppRunner | None = None

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.app.router.add_route(method, path, handler)

    def add_check(self, name: str, check: HealthCheck) -> None:
        """A named yes/no that `/healthz` reports; any no makes it answer 503."""
        self.checks[name] = check

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> int:
        """Listen; return the port (the real one when the setting is 0)."""
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])
        log.info("web server listening on %s:%s", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        results = {}
        for name, check in self.checks.items():
            try:
                results[name] = bool(check())
            except Exception:
                log.exception("health check %s failed", name)
                results[name] = False
        healthy = all(results.values())
        return web.json_response(
            {"ok": healthy, "checks": results}, status=200 if healthy else 503
        )
