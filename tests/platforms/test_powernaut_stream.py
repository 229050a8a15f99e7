"""Powernaut's measurement stream against a real Mosquitto broker (MQTT 5 + TLS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
import logging
import random
import ssl
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pytest

from custom_components.gridflex.platforms import Environment, powernaut_stream
from custom_components.gridflex.platforms.powernaut_stream import (
    DEFAULT_RESOURCE_TOPIC,
    DEFAULT_SITE_TOPIC,
    PRODUCTION_BROKER,
    SANDBOX_BROKER,
    MeasurementStream,
    StreamTopics,
    broker_for,
    measurement_payload,
    power_text,
    utc_text,
)
from tests.mosquitto import MosquittoBroker

EDGE_KEY = "edge-key-4f1c"
EDGE_SECRET = "edge-secret-s3cr3t-9d2e"
CLIENT_ID = "gridflex-site-7a1"
SITE_ID = "0b4c4a4e-5b8e-4c43-9d0c-2f4f3b1e9a10"
BATTERY = "8d1f0c1e-2222-4c43-9d0c-2f4f3b1e9a11"
SOLAR = "8d1f0c1e-3333-4c43-9d0c-2f4f3b1e9a12"
WHEN = datetime(2026, 11, 22, 10, 0, 4, tzinfo=UTC)
LOGGER = powernaut_stream.__name__


class Changes:
    """Record ``on_connection_change`` calls and wait for them."""

    def __init__(self) -> None:
        """Start with no calls."""
        self.calls: list[bool] = []
        self._changed = asyncio.Event()

    def __call__(self, connected: bool) -> None:
        """Record one call."""
        self.calls.append(connected)
        self._changed.set()

    async def wait_for(self, *calls: bool, within: float = 5.0) -> None:
        """Wait until exactly these calls have been made."""
        async with asyncio.timeout(within):
            while self.calls != list(calls):
                assert len(self.calls) < len(calls), self.calls
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def broker(socket_enabled: None) -> AsyncIterator[MosquittoBroker]:
    """A TLS Mosquitto that knows the site's edge credentials."""
    async with MosquittoBroker(username=EDGE_KEY, password=EDGE_SECRET) as running:
        yield running


def _stream(
    broker: MosquittoBroker,
    context: ssl.SSLContext | None,
    changes: Changes | None = None,
    **overrides: Any,
) -> MeasurementStream:
    options: dict[str, Any] = {
        "host": broker.host,
        "port": broker.port,
        "tls_context": context,
        "client_id": CLIENT_ID,
        "username": EDGE_KEY,
        "password": EDGE_SECRET,
        "site_id": SITE_ID,
        "on_connection_change": changes,
        "reconnect_min": 0.05,
        "reconnect_max": 0.2,
    }
    options.update(overrides)
    return MeasurementStream(**options)


@contextlib.asynccontextmanager
async def _running(stream: MeasurementStream) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(stream.run())
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _until_connected(stream: MeasurementStream) -> None:
    async with asyncio.timeout(5):
        while not stream.connected:  # noqa: ASYNC110 - polls the public property
            await asyncio.sleep(0.01)


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER and record.levelno == level
    ]


# --- broker_for ---------------------------------------------------------------


def test_broker_for_known_environments() -> None:
    """Production and sandbox use Powernaut's brokers over TLS, whatever the URL."""
    assert PRODUCTION_BROKER == ("mqtt.powernaut.io", 8883)
    assert SANDBOX_BROKER == ("mqtt.sandbox.powernaut.io", 8883)
    assert broker_for(Environment.PRODUCTION, None) == ("mqtt.powernaut.io", 8883, True)
    assert broker_for(Environment.SANDBOX, "mqtt://ignored:1") == (
        "mqtt.sandbox.powernaut.io",
        8883,
        True,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtts://broker.example:8883", ("broker.example", 8883, True)),
        ("mqtts://broker.example", ("broker.example", 8883, True)),
        ("mqtt://127.0.0.1:1883", ("127.0.0.1", 1883, False)),
        ("mqtt://broker.example", ("broker.example", 1883, False)),
        ("  MQTTS://Broker.Example:18883/  ", ("broker.example", 18883, True)),
        ("mqtts://[::1]:8883", ("::1", 8883, True)),
    ],
)
def test_broker_for_custom_url(url: str, expected: tuple[str, int, bool]) -> None:
    """A custom broker: mqtts:// is TLS on 8883, mqtt:// plain on 1883 by default."""
    assert broker_for(Environment.CUSTOM, url) == expected


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "   ",
        "https://broker.example",
        "broker.example:8883",
        "mqtts://",
        "mqtts://:8883",
        "mqtts://key:secret@broker.example",
        "mqtts://broker.example/path",
        "mqtts://broker.example?x=1",
        "mqtts://broker.example#part",
        "mqtts://broker.example:0",
        "mqtts://broker.example:65536",
        "mqtts://broker.example:port",
    ],
)
def test_broker_for_rejects(url: str | None) -> None:
    """Anything but mqtt(s)://host[:port] is refused."""
    with pytest.raises(ValueError):
        broker_for(Environment.CUSTOM, url)


# --- payload --------------------------------------------------------------------


def test_payload_exact_bytes() -> None:
    """The assumed payload, byte for byte."""
    assert DEFAULT_SITE_TOPIC == "site/{site_id}/measurements"
    assert DEFAULT_RESOURCE_TOPIC == "resource/{resource_id}/measurements"
    assert measurement_payload(WHEN, Decimal("1.2")) == (
        b'{"timestamp": "2026-11-22T10:00:04Z", "active_power": "1.2", "unit": "kW"}'
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1.2", "1.2"),
        ("1.234", "1.234"),
        ("7", "7.0"),
        ("7.40", "7.4"),
        ("-0", "0.0"),
        ("1E+1", "10.0"),
        ("-3.5", "-3.5"),
        ("0.000001", "0.000001"),
        ("1.23456789", "1.234568"),
        ("0.0000005", "0.0"),
        ("0.0000015", "0.000002"),
        ("-2.5000005", "-2.5"),
        ("-0.0000004", "0.0"),
        ("999999999999999.999999", "999999999999999.999999"),
        ("123456789012345.1234565", "123456789012345.123456"),
    ],
)
def test_power_text(value: str, text: str) -> None:
    """Exact decimal strings, rounded half-even to 6 decimals."""
    assert power_text(Decimal(value)) == text


@pytest.mark.parametrize(
    "value",
    ["NaN", "Infinity", "-Infinity", "1E+15", "-1E+15", "999999999999999.9999999"],
)
def test_power_text_rejects(value: str) -> None:
    """Not finite, or 16 integer digits (also after rounding up)."""
    with pytest.raises(ValueError):
        power_text(Decimal(value))


def test_utc_text() -> None:
    """UTC with Z, to the second; naive timestamps are refused."""
    brussels = timezone(timedelta(hours=1))
    assert utc_text(datetime(2026, 11, 22, 11, 0, 4, 987654, tzinfo=brussels)) == (
        "2026-11-22T10:00:04Z"
    )
    with pytest.raises(ValueError):
        utc_text(datetime(2026, 11, 22, 10, 0, 4))  # noqa: DTZ001


# --- construction, backoff, offline publish -----------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"host": " "},
        {"port": 0},
        {"port": 65536},
        {"client_id": ""},
        {"reconnect_min": 0},
        {"reconnect_min": 2.0, "reconnect_max": 1.0},
        {"reconnect_max": float("inf")},
        {"session_expiry": -1},
        {"session_expiry": 2**32},
        {"topics": StreamTopics(site="site/{site}/x")},
        {"topics": StreamTopics(site="site/{0}/x")},
        {"topics": StreamTopics(site="site/{site_id")},
        {"topics": StreamTopics(site="site/+/{site_id}")},
        {"topics": StreamTopics(resource="resources/all")},
        {"topics": StreamTopics(resource="resource/{id}")},
    ],
)
def test_stream_rejects_bad_settings(overrides: dict[str, Any]) -> None:
    """Settings that cannot work are refused when the stream is made."""
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 8883,
        "tls_context": None,
        "client_id": CLIENT_ID,
        "username": EDGE_KEY,
        "password": EDGE_SECRET,
        "site_id": SITE_ID,
    }
    options.update(overrides)
    with pytest.raises(ValueError):
        MeasurementStream(**options)


def test_backoff_doubles_up_to_the_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ceiling doubles per failure and stops at reconnect_max; jitter above min."""
    stream = MeasurementStream(
        host="127.0.0.1",
        port=8883,
        tls_context=None,
        client_id=CLIENT_ID,
        username=EDGE_KEY,
        password=EDGE_SECRET,
        site_id=SITE_ID,
        reconnect_min=1.0,
        reconnect_max=60.0,
    )
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert [stream.backoff(n) for n in (0, 1, 2, 3, 6, 7, 10_000)] == [
        1.0,
        1.0,
        2.0,
        4.0,
        32.0,
        60.0,
        60.0,
    ]
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    assert stream.backoff(5) == 1.0
    monkeypatch.undo()
    assert all(1.0 <= stream.backoff(n) <= 60.0 for n in range(1, 200))


async def test_publish_before_run_returns_zero() -> None:
    """Nothing is sent before the stream is connected; naive timestamps raise."""
    stream = MeasurementStream(
        host="127.0.0.1",
        port=8883,
        tls_context=None,
        client_id=CLIENT_ID,
        username=EDGE_KEY,
        password=EDGE_SECRET,
        site_id=SITE_ID,
    )
    assert not stream.connected
    assert await stream.publish(WHEN, Decimal("1.2"), {BATTERY: Decimal(1)}) == 0
    with pytest.raises(ValueError):
        await stream.publish(datetime(2026, 11, 22), None, {})  # noqa: DTZ001


# --- against Mosquitto -----------------------------------------------------------


async def test_publishes_over_tls_with_the_edge_credentials(
    broker: MosquittoBroker,
) -> None:
    """MQTT 5 over TLS, persistent session, one QoS 0 message per value."""
    changes = Changes()
    stream = _stream(broker, await broker.ssl_context(), changes)
    async with broker.subscribe("#") as received, _running(stream):
        await changes.wait_for(True)
        assert stream.connected
        published = await stream.publish(
            WHEN,
            Decimal("1.2"),
            {BATTERY: Decimal("-3.50"), SOLAR: Decimal("-0.1234567")},
        )
        assert published == 3
        messages = await received.wait_for(3)
    assert [message.topic for message in messages] == [
        f"site/{SITE_ID}/measurements",
        f"resource/{BATTERY}/measurements",
        f"resource/{SOLAR}/measurements",
    ]
    assert messages[0].payload == (
        b'{"timestamp": "2026-11-22T10:00:04Z", "active_power": "1.2", "unit": "kW"}'
    )
    assert [message.json()["active_power"] for message in messages] == [
        "1.2",
        "-3.5",
        "-0.123457",
    ]
    assert {(message.qos, message.retain) for message in messages} == {(0, False)}
    assert changes.calls == [True, False]
    assert not stream.connected
    [connection] = [c for c in await broker.connections() if c.client_id == CLIENT_ID]
    assert connection.protocol == 5
    assert not connection.clean_start
    assert connection.username == EDGE_KEY
    assert connection.keepalive == powernaut_stream.KEEPALIVE


async def test_publish_skips_what_cannot_be_sent(broker: MosquittoBroker) -> None:
    """No site value, values out of range and ids that cannot be in a topic."""
    stream = _stream(
        broker,
        await broker.ssl_context(),
        topics=StreamTopics(
            site="gridflex/{site_id}", resource="gridflex/r/{resource_id}"
        ),
    )
    async with broker.subscribe("gridflex/#") as received, _running(stream):
        await _until_connected(stream)
        published = await stream.publish(
            WHEN,
            None,
            {
                BATTERY: Decimal("NaN"),
                SOLAR: Decimal(2),
                "": Decimal(1),
                "a/b": Decimal(1),
                "a+": Decimal(1),
                "#": Decimal(1),
                "x": Decimal("1E+15"),
            },
        )
        assert published == 1
        [message] = await received.wait_for(1)
        assert await stream.publish(WHEN, None, {}) == 0
        assert await stream.publish(WHEN, Decimal("NaN"), {}) == 0
    assert message.topic == f"gridflex/r/{SOLAR}"
    assert message.json() == {
        "timestamp": "2026-11-22T10:00:04Z",
        "active_power": "2.0",
        "unit": "kW",
    }


async def test_wrong_password_keeps_retrying(
    broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused credentials: never connected, retried with backoff, one warning."""
    caplog.set_level(logging.DEBUG)
    changes = Changes()
    stream = _stream(
        broker, await broker.ssl_context(), changes, password="not-the-secret"
    )
    async with _running(stream) as task:
        await broker.wait_for_log("disconnected, not authorised", count=3)
        assert not task.done()
        assert not stream.connected
        assert await stream.publish(WHEN, Decimal(1), {}) == 0
    assert changes.calls == []
    [warning] = _records(caplog, logging.WARNING)
    assert "Cannot connect" in warning
    assert "refused the edge credentials" in warning
    assert _records(caplog, logging.INFO) == []
    assert "not-the-secret" not in caplog.text
    assert EDGE_SECRET not in caplog.text


async def test_untrusted_certificate_is_refused(
    broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker's certificate is verified: an unknown CA never connects."""
    context = await asyncio.to_thread(ssl.create_default_context)
    stream = _stream(broker, context)
    async with _running(stream):
        await broker.wait_for_log("alert unknown ca", count=3)
        assert not stream.connected
    [warning] = _records(caplog, logging.WARNING)
    assert "certificate verify failed" in warning


async def test_reconnects_after_a_broker_restart(
    broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """The same client id comes back after a restart; one warning, one info."""
    changes = Changes()
    stream = _stream(broker, await broker.ssl_context(), changes)
    async with _running(stream):
        await changes.wait_for(True)
        await asyncio.sleep(0.25)  # longer than reconnect_max: a stable connection
        await broker.stop()
        await changes.wait_for(True, False)
        assert not stream.connected
        assert await stream.publish(WHEN, Decimal("1.2"), {BATTERY: Decimal(1)}) == 0
        await broker.start()
        await changes.wait_for(True, False, True)
        async with broker.subscribe("site/#") as received:
            assert await stream.publish(WHEN, Decimal("0.5"), {}) == 1
            [message] = await received.wait_for(1)
    assert message.json()["active_power"] == "0.5"
    ours = [c for c in await broker.connections() if c.client_id == CLIENT_ID]
    assert len(ours) == 2
    assert not any(connection.clean_start for connection in ours)
    [warning] = _records(caplog, logging.WARNING)
    assert "Lost the connection" in warning
    [info] = _records(caplog, logging.INFO)
    assert "again" in info
    assert EDGE_SECRET not in caplog.text


async def test_restart_helper_and_plain_listener(socket_enabled: None) -> None:
    """broker.restart() drops the stream, which comes back; plain mqtt:// works too."""
    async with MosquittoBroker(
        tls=False, username=EDGE_KEY, password=EDGE_SECRET
    ) as plain:
        host, port, tls = broker_for(Environment.CUSTOM, plain.url)
        assert (host, port, tls) == (plain.host, plain.port, False)
        assert await plain.ssl_context() is None
        changes = Changes()
        stream = _stream(plain, None, changes)
        async with _running(stream):
            await changes.wait_for(True)
            await plain.restart()
            await changes.wait_for(True, False, True)
            async with plain.subscribe("resource/+/measurements") as received:
                assert await stream.publish(WHEN, None, {BATTERY: Decimal(7)}) == 1
                [message] = await received.wait_for(1)
    assert message.topic == f"resource/{BATTERY}/measurements"


async def test_persistent_session(broker: MosquittoBroker) -> None:
    """clean_start off with a session expiry: the broker keeps the session."""
    context = await broker.ssl_context()
    for expiry, kept in ((3600, True), (0, False)):
        changes = Changes()
        stream = _stream(broker, context, changes, session_expiry=expiry)
        async with _running(stream):
            await changes.wait_for(True)
        await changes.wait_for(True, False)
        assert await broker.session_present(CLIENT_ID) is kept


async def test_cancelled_while_connecting(broker: MosquittoBroker) -> None:
    """A connection attempt under way is seen through and closed, nothing leaks."""
    changes = Changes()
    stream = _stream(broker, await broker.ssl_context(), changes)
    task = asyncio.create_task(stream.run())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert changes.calls == []
    assert not stream.connected
    await broker.wait_for_log(f"Client {CLIENT_ID} disconnected.")


async def test_failed_publish_drops_the_connection(
    broker: MosquittoBroker,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stuck or failing publish returns 0 and the stream reconnects."""
    caplog.set_level(logging.DEBUG)
    changes = Changes()
    stream = _stream(broker, await broker.ssl_context(), changes, reconnect_max=5.0)
    monkeypatch.setattr(powernaut_stream, "PUBLISH_TIMEOUT", 0.05)

    async def stuck(*_args: object, **_kwargs: object) -> None:
        await asyncio.sleep(10)

    async def failing(*_args: object, **_kwargs: object) -> None:
        raise aiomqtt.MqttCodeError(4, "Could not publish message")

    async with _running(stream):
        await changes.wait_for(True)
        with monkeypatch.context() as patch:
            patch.setattr(aiomqtt.Client, "publish", stuck)
            assert await stream.publish(WHEN, Decimal(1), {BATTERY: Decimal(2)}) == 0
        await changes.wait_for(True, False, True)
        with monkeypatch.context() as patch:
            patch.setattr(aiomqtt.Client, "publish", failing)
            assert await stream.publish(WHEN, Decimal(1), {}) == 0
        await changes.wait_for(True, False, True, False, True)
    warnings = _records(caplog, logging.WARNING)
    assert len(warnings) == 2  # two outages, each logged once
    assert all("(a publish failed); reconnecting" in text for text in warnings)
    assert len(_records(caplog, logging.INFO)) == 2
    assert any("failed: timed out" in text for text in _records(caplog, logging.DEBUG))


async def test_unexpected_errors_do_not_end_the_stream(
    broker: MosquittoBroker,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error that is not MQTT's is retried; a failing callback is logged."""
    calls: list[bool] = []

    def callback(connected: bool) -> None:
        calls.append(connected)
        raise RuntimeError("callback broke")

    stream = _stream(broker, await broker.ssl_context(), on_connection_change=callback)
    new_client = stream._new_client
    attempts = 0

    def flaky() -> aiomqtt.Client:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("boom")
        return new_client()

    monkeypatch.setattr(stream, "_new_client", flaky)
    async with _running(stream):
        await _until_connected(stream)
        assert await stream.publish(WHEN, Decimal(1), {}) == 1
    assert calls == [True, False]
    [warning] = _records(caplog, logging.WARNING)
    assert "RuntimeError: boom" in warning
    errors = _records(caplog, logging.ERROR)
    assert errors == ["The measurement stream's connection callback failed"] * 2


async def test_messages_of_a_resumed_session_are_ignored(
    broker: MosquittoBroker,
) -> None:
    """Messages queued in the session are read and dropped, the stream stays up."""
    changes = Changes()
    stream = _stream(broker, await broker.ssl_context(), changes)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 60
    async with await broker.client(
        identifier=CLIENT_ID, clean_start=False, properties=properties
    ) as other:
        await other.subscribe("resource/+/commands/setpoint", qos=1)
    # The subscription lives in the session the stream resumes.
    async with _running(stream):
        await changes.wait_for(True)
        async with await broker.client() as commander:
            await commander.publish(
                f"resource/{BATTERY}/commands/setpoint", b"{}", qos=1
            )
        await broker.wait_for_log(f"Sending PUBLISH to {CLIENT_ID}")
        await asyncio.sleep(0.05)
        assert stream.connected
        assert changes.calls == [True]
