"""The sandbox server: one aiohttp app serving the three platforms and the control API.

Paths: Powernaut Connect under ``/v1``, Energy Coordination under
``/energy-coordination/v1`` with its token endpoint at ``/connect/token``,
FlexMeasures under ``/api``, the sandbox's own controls under ``/_sandbox``
(see the platform modules and ``control.py`` for the routes).

One middleware wraps every platform request: it validates the request
against the vendor's OpenAPI spec (``openapi.py``; a failure is a violation
answered in the platform's envelope — 400, FlexMeasures 422 — and the handler
never runs), applies
injected faults, turns ``RequestRejectedError`` into the platform's response
(recording violations), answers unknown routes in the platform's envelope
(also a violation), adds FlexMeasures' version headers and appends the
request to the log. Control requests are neither validated, logged nor
faulted.

Use ``SandboxServer`` in tests (same event loop) or ``python -m sandbox``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import logging
from typing import TYPE_CHECKING, Self

from aiohttp import web

from . import (
    control,
    control_programme,
    energy_coordination,
    energy_coordination_events,
    energy_coordination_programme,
    energy_coordination_reports,
    energy_coordination_simulation,
    energy_coordination_webhooks,
    flexmeasures,
    flexmeasures_data,
    flexmeasures_schedules,
    powernaut,
    powernaut_baselines,
    powernaut_bids,
    powernaut_resources,
)
from .control import ControlError
from .energy_coordination_webhooks import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_BASE_DELAY,
    DEFAULT_TIMEOUT,
    WEBHOOKS_KEY,
    WebhookDispatcher,
)
from .envelopes import (
    ENERGY_COORDINATION,
    FLEXMEASURES,
    POWERNAUT,
    is_control_path,
    platform_error,
    platform_for_path,
)
from .faults import DelayScheduler, fault_response
from .openapi import MAX_BODY_BYTES, Rejection, RequestValidator
from .state import STATE_KEY, SandboxState
from .validation import RequestRejectedError

if TYPE_CHECKING:
    from types import TracebackType

_LOGGER = logging.getLogger(__name__)

DELAYS_KEY: web.AppKey[DelayScheduler] = web.AppKey("sandbox_delays")
OPENAPI_KEY: web.AppKey[RequestValidator | None] = web.AppKey("sandbox_openapi")
type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _authenticated(request: web.Request, platform: str | None) -> bool:
    """Whether the request carries valid credentials of its platform.

    The services authenticate before they validate: an unauthenticated
    request gets the handler's 401, whatever its body.
    """
    try:
        if platform == POWERNAUT:
            powernaut.authenticate(request, edge=True)
        elif platform == ENERGY_COORDINATION:
            energy_coordination.authenticate(request)
        elif platform == FLEXMEASURES:
            flexmeasures.authenticate(request)
    except RequestRejectedError:
        return False
    return True


def _unknown_route(
    request: web.Request, platform: str | None, err: web.HTTPException
) -> web.Response:
    method, path = request.method, request.path
    if platform == POWERNAUT:
        return platform_error(platform, 404, f"Cannot {method} {path}")
    if platform == FLEXMEASURES and err.status == 405:
        return platform_error(
            platform, 405, "The method is not allowed for the requested URL."
        )
    if platform == FLEXMEASURES:
        return platform_error(
            platform,
            404,
            "The requested URL was not found on the server. If you entered the URL "
            "manually please check your spelling and try again.",
        )
    if platform == ENERGY_COORDINATION:
        return platform_error(platform, err.status, "")
    return web.json_response(
        {"error": f"No such route: {method} {path}"}, status=err.status
    )


async def _dispatch(
    request: web.Request, handler: Handler, platform: str | None, state: SandboxState
) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestRejectedError as err:
        if err.violation:
            state.record_violation(
                method=request.method,
                path=request.path,
                platform=platform,
                status=err.response.status,
                reason=err.reason,
            )
        return err.response
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as err:
        response = _unknown_route(request, platform, err)
        state.record_violation(
            method=request.method,
            path=request.path,
            platform=platform,
            status=response.status,
            reason="No such route in the contract the sandbox serves",
        )
        return response


async def _control(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ControlError as err:
        return err.response()
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as err:
        return web.json_response(
            {"error": f"No such control route: {request.method} {request.path}"},
            status=err.status,
        )


async def _validate(
    request: web.Request, platform: str | None, state: SandboxState
) -> Rejection | None:
    """Check the request against the vendor's spec; record a violation."""
    validator = request.app[OPENAPI_KEY]
    if validator is None:
        return None
    rejection = await validator.check(request, platform, authenticated=_authenticated)
    if rejection is not None:
        state.record_violation(
            method=request.method,
            path=request.path,
            platform=platform,
            status=rejection.response.status,
            reason=rejection.reason,
        )
    return rejection


@web.middleware
async def sandbox_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Validate, apply faults, render rejections, add headers and log platform requests."""
    path = request.path
    if is_control_path(path):
        return await _control(request, handler)

    state = request.app[STATE_KEY]
    platform = platform_for_path(path)
    delays = request.app[DELAYS_KEY]
    fault = None
    status: int | None = None  # stays None when the server stops mid-request
    try:
        # Every request is checked against the spec, even one a fault answers.
        rejection = await _validate(request, platform, state)
        fault = state.faults.take(request.method, path)
        response: web.StreamResponse | None = None
        if fault is not None:
            if fault.kind == "delay":
                await delays.sleep(fault.seconds)
            response = fault_response(fault, platform)
        if response is None:
            response = (
                rejection.response
                if rejection is not None
                else await _dispatch(request, handler, platform, state)
            )
        if platform == FLEXMEASURES:
            flexmeasures.add_version_headers(response)
        status = response.status
        if fault is not None and fault.kind == "delay_after":
            await delays.sleep(fault.seconds)  # handled and stored; the answer is late
    except web.HTTPException as err:
        status = err.status
        raise
    except Exception:
        status = 500
        raise
    finally:
        state.record_request(
            method=request.method,
            path=path,
            query=request.query_string,
            status=status,
            platform=platform,
            fault=fault.id if fault is not None else None,
        )
    return response


def create_app(
    state: SandboxState | None = None,
    delays: DelayScheduler | None = None,
    webhooks: WebhookDispatcher | None = None,
    *,
    openapi_validation: bool = True,
) -> web.Application:
    """Build the sandbox app around a state (a fresh seeded one by default).

    ``webhooks`` delivers Energy Coordination event notifications; the app's
    cleanup cancels its pending deliveries and closes its HTTP session.
    ``openapi_validation`` (on by default) checks every platform request
    against the vendor specs before the handler (``openapi.py``).
    """
    app = web.Application(
        middlewares=[sandbox_middleware], client_max_size=MAX_BODY_BYTES + 2**20
    )
    app[OPENAPI_KEY] = RequestValidator() if openapi_validation else None
    app[STATE_KEY] = state if state is not None else SandboxState()
    app[DELAYS_KEY] = delays if delays is not None else DelayScheduler()
    app[WEBHOOKS_KEY] = webhooks if webhooks is not None else WebhookDispatcher()
    app.add_routes(powernaut.routes)
    app.add_routes(powernaut_resources.routes)
    app.add_routes(powernaut_bids.routes)
    app.add_routes(powernaut_baselines.routes)
    app.add_routes(energy_coordination.routes)
    app.add_routes(energy_coordination_programme.routes)
    app.add_routes(energy_coordination_events.routes)
    app.add_routes(energy_coordination_simulation.routes)
    app.add_routes(energy_coordination_reports.routes)
    app.add_routes(energy_coordination_webhooks.routes)
    app.add_routes(flexmeasures.routes)
    app.add_routes(flexmeasures_data.routes)
    app.add_routes(flexmeasures_schedules.routes)
    app.add_routes(control.routes)
    app.add_routes(control_programme.routes)
    app.on_cleanup.append(_close_webhooks)
    return app


async def _close_webhooks(app: web.Application) -> None:
    await app[WEBHOOKS_KEY].close()


class SandboxServer:
    """The sandbox on a real TCP port, in the caller's event loop.

    ``await start()`` binds (``port=0`` picks a free port) and sets ``url``;
    ``await stop()`` cancels pending delay faults and webhook deliveries and
    shuts the server down, leaving no tasks or timers behind. ``state`` is the
    live ``SandboxState``; ``webhooks`` the ``WebhookDispatcher`` (``await
    server.webhooks.wait_idle()`` waits for every delivery and its retries).

    Webhook deliveries: ``webhook_retry_base_delay`` seconds before the first
    retry (doubled per retry, default 1 s), ``webhook_timeout`` seconds per
    attempt (default 5 s), ``webhook_retries`` retries (default 3).

    ``openapi_validation`` (default on) validates every platform request
    against the vendor's OpenAPI spec; turn it off only to show what it
    catches.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_log: bool = False,
        webhook_retry_base_delay: float = DEFAULT_RETRY_BASE_DELAY,
        webhook_timeout: float = DEFAULT_TIMEOUT,
        webhook_retries: int = DEFAULT_RETRIES,
        openapi_validation: bool = True,
    ) -> None:
        """Prepare the server; nothing is bound until ``start()``."""
        self.host = host
        self.openapi_validation = openapi_validation
        self.port = port
        self.state = SandboxState()
        self.webhooks = WebhookDispatcher(
            retry_base_delay=webhook_retry_base_delay,
            timeout=webhook_timeout,
            retries=webhook_retries,
        )
        self._access_log = access_log
        self._delays = DelayScheduler()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:8765`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError("The sandbox server is not started")
        return self._url

    @property
    def running(self) -> bool:
        """Return whether the server is listening."""
        return self._runner is not None

    async def start(self) -> None:
        """Bind and start serving."""
        if self._runner is not None:
            raise RuntimeError("The sandbox server is already started")
        runner = web.AppRunner(
            create_app(
                self.state,
                self._delays,
                self.webhooks,
                openapi_validation=self.openapi_validation,
            ),
            access_log=_LOGGER if self._access_log else None,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        port = runner.addresses[0][1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Cancel pending delays and webhook deliveries, shut down; safe to call twice."""
        self._delays.cancel_all()
        await self.webhooks.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._url = None

    async def __aenter__(self) -> Self:
        """Start the server for an ``async with`` block."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server at the end of an ``async with`` block."""
        await self.stop()
