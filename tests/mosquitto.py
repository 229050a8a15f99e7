"""A real Mosquitto broker for tests: TLS, a password file, a free port on 127.0.0.1.

Usage (the test must request ``socket_enabled``; loopback only)::

    async with MosquittoBroker(username="edge-key", password="edge-secret") as broker:
        context = await broker.ssl_context()  # trusts the broker's own test CA
        async with broker.subscribe("site/#") as received:
            ...  # let the code under test publish to broker.host:broker.port
            [message] = await received.wait_for(1)
        await broker.restart()  # same port, sessions and subscriptions dropped

Everything that touches the disk or runs a program is done off the event loop
(``asyncio.create_subprocess_exec`` or a worker thread), so the helper is safe
under Home Assistant's test plugin. ``MosquittoBroker.start`` skips the test
when ``mosquitto``, ``mosquitto_passwd`` or ``openssl`` is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import pwd
import re
import shutil
import socket
import ssl
import tempfile
from typing import Any, Self
import uuid

import aiomqtt
import paho.mqtt.client as paho
import pytest

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
"""Where Debian puts ``mosquitto``, which is often not on a user's PATH."""

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

_CONNECTED = re.compile(
    r"New client connected from (?P<peer>\S+) as (?P<client_id>\S+) "
    r"\(p(?P<protocol>\d+), c(?P<clean>[01]), k(?P<keepalive>\d+)"
    r"(?:, u'(?P<username>[^']*)')?\)"
)

_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = GridFlex test

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def find_program(name: str) -> str | None:
    """Return the path of ``name`` on PATH or in the usual sbin folders."""
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_mosquitto() -> dict[str, str]:
    """Return the paths of the programs the broker needs; skip the test without them."""
    programs = {
        name: find_program(name)
        for name in ("mosquitto", "mosquitto_passwd", "openssl")
    }
    missing = [name for name, path in programs.items() if path is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed: the MQTT tests need a real "
            "Mosquitto broker (Debian packages mosquitto and openssl)"
        )
    return {name: path for name, path in programs.items() if path is not None}


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message a subscription received."""

    topic: str
    payload: bytes
    qos: int
    retain: bool

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class ClientConnection:
    """One accepted connection as the broker logged it."""

    client_id: str
    protocol: int
    """5 for MQTT 5, 4 for MQTT 3.1.1."""
    clean_start: bool
    keepalive: int
    username: str | None


class Subscription:
    """Messages received on one topic filter, collected in the background."""

    def __init__(self) -> None:
        """Start empty."""
        self.messages: list[ReceivedMessage] = []
        self._arrived = asyncio.Event()

    def add(self, message: ReceivedMessage) -> None:
        """Keep a message and wake up whoever waits."""
        self.messages.append(message)
        self._arrived.set()

    async def wait_for(
        self, count: int = 1, within: float = 5.0
    ) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages arrived; return them all.

        Raises ``TimeoutError`` when fewer arrive within ``within`` seconds.
        """
        async with asyncio.timeout(within):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return list(self.messages)

    def clear(self) -> None:
        """Forget the messages received so far."""
        self.messages.clear()


class MosquittoBroker:
    """A Mosquitto process with its own CA, server certificate and password file.

    ``tls=False`` gives a plain listener (``mqtt://``). The port stays the same
    across ``restart()``. Use it as an async context manager, or call
    ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        *,
        username: str = "gridflex-edge-key",
        password: str = "gridflex-edge-secret",  # noqa: S107 - a test broker
        tls: bool = True,
        host: str = "127.0.0.1",
        extra_config: Sequence[str] = (),
    ) -> None:
        """Describe the broker; nothing runs before ``start()``."""
        self.username = username
        self.password = password
        self.tls = tls
        self.host = host
        self.port = 0
        self.extra_config = tuple(extra_config)
        self.directory: Path | None = None
        self._programs: dict[str, str] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._context: ssl.SSLContext | None = None

    async def __aenter__(self) -> Self:
        """Start the broker."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the broker and remove its files."""
        await self.stop()
        await self.cleanup()

    @property
    def url(self) -> str:
        """``mqtts://host:port`` (``mqtt://`` without TLS)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate that signed the broker's certificate (PEM)."""
        return self._path("ca.crt")

    @property
    def log_file(self) -> Path:
        """The broker's log (``log_type all``)."""
        return self._path("mosquitto.log")

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Prepare the files once, start Mosquitto and wait until it accepts connections."""
        if self.running:
            return
        if self.directory is None:
            self._programs = require_mosquitto()
            self.directory = Path(
                await asyncio.to_thread(tempfile.mkdtemp, prefix="gridflex-mqtt-")
            )
            self.port = free_port(self.host)
            if self.tls:
                await self._make_certificates()
            await self._run(
                self._programs["mosquitto_passwd"],
                "-b",
                "-c",
                str(self._path("passwords")),
                self.username,
                self.password,
            )
            await asyncio.to_thread(
                self._path("mosquitto.conf").write_text,
                self._config(),
                encoding="utf-8",
            )
        stderr = await asyncio.to_thread(self._path("stderr.log").open, "ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                self._programs["mosquitto"],
                "-c",
                str(self._path("mosquitto.conf")),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
            )
        finally:
            await asyncio.to_thread(stderr.close)
        await self._wait_until_listening()

    async def stop(self) -> None:
        """Stop Mosquitto (SIGTERM, SIGKILL when it lingers); clients lose their connection."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def restart(self) -> None:
        """Stop and start again on the same port (in-memory sessions are lost)."""
        await self.stop()
        await self.start()

    async def cleanup(self) -> None:
        """Remove the broker's files (after ``stop()``)."""
        if self.directory is not None:
            await asyncio.to_thread(shutil.rmtree, self.directory, True)
            self.directory = None

    async def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that trusts the test CA (``None`` without TLS).

        Made in a worker thread: loading certificates blocks.
        """
        if not self.tls:
            return None
        if self._context is None:
            self._context = await asyncio.to_thread(
                ssl.create_default_context, cafile=str(self.ca_file)
            )
        return self._context

    async def client(
        self,
        *,
        identifier: str | None = None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> aiomqtt.Client:
        """An MQTT 5 client for this broker (not connected yet: ``async with`` it)."""
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username if username is None else username,
            password=self.password if password is None else password,
            identifier=identifier or f"test-{uuid.uuid4().hex[:12]}",
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=await self.ssl_context(),
            **kwargs,
        )

    @contextlib.asynccontextmanager
    async def subscribe(
        self, topic_filter: str, *, qos: int = 0
    ) -> AsyncIterator[Subscription]:
        """Collect the messages published to ``topic_filter`` while the block runs.

        The subscription ends when the broker stops; subscribe again after
        ``restart()``.
        """
        received = Subscription()
        async with await self.client() as client:
            await client.subscribe(topic_filter, qos=qos)

            async def collect() -> None:
                with contextlib.suppress(aiomqtt.MqttError):
                    async for message in client.messages:
                        payload = message.payload
                        received.add(
                            ReceivedMessage(
                                topic=message.topic.value,
                                payload=payload
                                if isinstance(payload, bytes)
                                else str(payload).encode(),
                                qos=message.qos,
                                retain=message.retain,
                            )
                        )

            task = asyncio.create_task(collect())
            try:
                yield received
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def session_present(self, client_id: str) -> bool:
        """Whether the broker holds a session for ``client_id``.

        Connects once with that client id and ``clean_start`` off, reads the
        CONNACK's session-present flag, and disconnects (which ends the
        session, as the probe asks for no session expiry). The client id
        must not be connected at the time (the probe would take it over).
        """
        client = await self.client(identifier=client_id, clean_start=False)
        flags: dict[str, bool] = {}
        paho_client: paho.Client = client._client
        on_connect: Any = paho_client.on_connect

        def record(
            mqtt_client: paho.Client,
            userdata: Any,
            connect_flags: paho.ConnectFlags,
            reason_code: Any,
            properties: Any = None,
        ) -> None:
            flags["session_present"] = connect_flags.session_present
            on_connect(mqtt_client, userdata, connect_flags, reason_code, properties)

        paho_client.on_connect = record
        async with client:
            pass
        return flags["session_present"]

    async def log(self) -> str:
        """The broker's log so far."""
        if self.directory is None or not await asyncio.to_thread(self.log_file.exists):
            return ""
        return await asyncio.to_thread(
            self.log_file.read_text, encoding="utf-8", errors="replace"
        )

    async def connections(self) -> list[ClientConnection]:
        """Every connection the broker accepted, oldest first (from its log)."""
        return [
            ClientConnection(
                client_id=match["client_id"],
                protocol=int(match["protocol"]),
                clean_start=match["clean"] == "1",
                keepalive=int(match["keepalive"]),
                username=match["username"],
            )
            for match in _CONNECTED.finditer(await self.log())
        ]

    async def wait_for_log(
        self, text: str, *, count: int = 1, within: float = 5.0
    ) -> str:
        """Wait until ``text`` appears ``count`` times in the log; return the log."""
        async with asyncio.timeout(within):
            while True:
                log = await self.log()
                if log.count(text) >= count:
                    return log
                await asyncio.sleep(0.02)

    def _path(self, name: str) -> Path:
        if self.directory is None:
            raise RuntimeError("The broker has not been started")
        return self.directory / name

    def _config(self) -> str:
        lines = [
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
        ]
        if self.tls:
            lines += [
                f"cafile {self.ca_file}",
                f"certfile {self._path('server.crt')}",
                f"keyfile {self._path('server.key')}",
            ]
        lines += [
            "allow_anonymous false",
            f"password_file {self._path('passwords')}",
            "persistence false",
            f"log_dest file {self.log_file}",
            "log_type all",
            "connection_messages true",
            # Mosquitto started as root drops to this user: stay who we are.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            *self.extra_config,
        ]
        return "\n".join(lines) + "\n"

    async def _make_certificates(self) -> None:
        openssl = self._programs["openssl"]
        config = str(self._path("openssl.cnf"))
        await asyncio.to_thread(
            self._path("openssl.cnf").write_text, _OPENSSL_CONFIG, encoding="utf-8"
        )
        new_key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ]
        await self._run(
            openssl, "req", "-x509", "-config", config, "-extensions", "ca_ext", *new_key,
            "-keyout", str(self._path("ca.key")), "-out", str(self.ca_file),
            "-days", "2", "-subj", "/CN=GridFlex test CA",
        )  # fmt: skip
        await self._run(
            openssl, "req", "-new", "-config", config, *new_key,
            "-keyout", str(self._path("server.key")), "-out", str(self._path("server.csr")),
            "-subj", "/CN=localhost",
        )  # fmt: skip
        await self._run(
            openssl, "x509", "-req", "-in", str(self._path("server.csr")),
            "-CA", str(self.ca_file), "-CAkey", str(self._path("ca.key")),
            "-set_serial", str(uuid.uuid4().int >> 64), "-days", "2",
            "-extfile", config, "-extensions", "server_ext",
            "-out", str(self._path("server.crt")),
        )  # fmt: skip

    async def _run(self, *command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({process.returncode}): "
                f"{output.decode(errors='replace').strip()}"
            )

    async def _wait_until_listening(self) -> None:
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                if self._process is None or self._process.returncode is not None:
                    stderr = await asyncio.to_thread(
                        self._path("stderr.log").read_text,
                        encoding="utf-8",
                        errors="replace",
                    )
                    raise RuntimeError(
                        f"Mosquitto exited: {stderr.strip()} {(await self.log()).strip()}"
                    )
                try:
                    _, writer = await asyncio.open_connection(self.host, self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
