"""Run the sandbox standalone: ``python -m sandbox --host 127.0.0.1 --port 8765``.

Prints the base URL, the per-platform paths and the sandbox credentials, then
serves until Ctrl-C (or SIGTERM) and stops cleanly. With ``--state FILE`` the
state is loaded from FILE at start and written back (atomically) within a
second of every change and at shutdown, so sites, users, assets and tokens
survive a restart (``sandbox/persistence.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from .energy_coordination_webhooks import DEFAULT_RETRY_BASE_DELAY, DEFAULT_TIMEOUT
from .openapi import specs_available, specs_dir
from .persistence import StateFile
from .server import SandboxServer
from .state import SANDBOX_CREDENTIALS


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="GridFlex platform sandbox (Powernaut Connect, Energy Coordination, FlexMeasures).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port to bind (default 8765; 0 picks one)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--webhook-retry-delay",
        type=float,
        default=DEFAULT_RETRY_BASE_DELAY,
        help="seconds before the first webhook retry, doubled per retry (default 1)",
    )
    parser.add_argument(
        "--webhook-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds a webhook delivery attempt may take (default 5)",
    )
    parser.add_argument(
        "--no-validation",
        action="store_true",
        help=(
            "do not validate requests against the vendors' OpenAPI files "
            "(used by default when the files cannot be found)"
        ),
    )
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="keep the state in FILE: loaded at start, saved on changes and at exit",
    )
    return parser.parse_args(argv)


def _banner(server: SandboxServer) -> str:
    url = server.url
    lines = [
        f"GridFlex sandbox listening on {url}",
        f"  Powernaut Connect    {url}/v1  (token: POST {url}/v1/auth/token)",
        f"  Energy Coordination  {url}/energy-coordination/v1  (token: POST {url}/connect/token)",
        f"  FlexMeasures         {url}/api/v3_0  (token: POST {url}/api/requestAuthToken)",
        f"  Control              {url}/_sandbox/...",
        "Credentials:",
    ]
    for platform, credentials in SANDBOX_CREDENTIALS.items():
        pairs = ", ".join(f"{name}={value}" for name, value in credentials.items())
        lines.append(f"  {platform}: {pairs}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


async def _serve(args: argparse.Namespace) -> None:
    if args.access_log:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    validation = not args.no_validation
    if validation and not specs_available():
        # A clone without the vendors' specs beside it (../shared/specs, or
        # $SANDBOX_SPECS_DIR) still gets a working sandbox for development;
        # the test suite always validates and fails clearly without them.
        print(
            f"OpenAPI specs not found in {specs_dir()}: requests are NOT "
            "validated against the vendors' contracts (set SANDBOX_SPECS_DIR).",
            flush=True,
        )
        validation = False
    server = SandboxServer(
        host=args.host,
        port=args.port,
        openapi_validation=validation,
        access_log=args.access_log,
        webhook_retry_base_delay=args.webhook_retry_delay,
        webhook_timeout=args.webhook_timeout,
    )
    state_file = StateFile(server.state, args.state) if args.state else None
    if state_file is not None:
        loaded = state_file.load()
        print(
            f"Sandbox state {'loaded from' if loaded else 'will be kept in'} {state_file.path}",
            flush=True,
        )
    await server.start()
    if state_file is not None:
        state_file.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        print(_banner(server), flush=True)
        await stop.wait()
    finally:
        await server.stop()
        if state_file is not None:
            await state_file.stop()
        print("GridFlex sandbox stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until interrupted; return the exit code."""
    args = _parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
