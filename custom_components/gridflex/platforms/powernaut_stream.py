"""Powernaut's measurement stream: live power over MQTT 5 + TLS.

Powernaut takes the latest value of each resource and of the site every 4 s
over MQTT 5 over TLS, fire-and-forget. The site's edge credentials are the
MQTT username (key) and password (secret); the client id must be unique and
persistent sessions are recommended.

``MeasurementStream.run`` keeps one connection up until it is cancelled and
``MeasurementStream.publish`` sends one QoS 0 message per value while it is.
Nothing here imports Home Assistant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
import json
import logging
import math
import random
import ssl
from typing import Final
from urllib.parse import urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ._http import decimal_string
from .errors import GridFlexRequestRejectedError
from .models import Environment

_LOGGER = logging.getLogger(__name__)

# --- GridFlex's assumption about the wire format -----------------------------
# Powernaut does not publish the topic names or the payload of its measurement
# stream. These constants are GridFlex's assumption, kept in this one place:
# change them here (or pass other ``StreamTopics``) when the contract is known.
DEFAULT_SITE_TOPIC: Final = "site/{site_id}/measurements"
DEFAULT_RESOURCE_TOPIC: Final = "resource/{resource_id}/measurements"
# payload: {"timestamp": "2026-11-22T10:00:04Z", "active_power": "1.234", "unit": "kW"}
#   (decimal string, import/consumption positive)
PAYLOAD_TIMESTAMP: Final = "timestamp"
PAYLOAD_POWER: Final = "active_power"
PAYLOAD_UNIT: Final = "unit"
POWER_UNIT: Final = "kW"
# ------------------------------------------------------------------------------

# --- GridFlex's assumption about the setpoint command ------------------------
# Powernaut sends an accepted bid's setpoint on ``resource/{id}/commands/setpoint``
# when no webhook is set: {"timing": {"start": "…Z", "end": "…Z"}, "value": x | null}.
# The docs call the value "the desired setpoint in Watt" although the REST
# activation is in kW. GridFlex reads it in W unless the message names its
# unit (``"unit": "W"`` or ``"kW"``): change SETPOINT_UNIT here once known.
DEFAULT_SETPOINT_TOPIC: Final = "resource/{resource_id}/commands/setpoint"
SETPOINT_UNIT: Final = "W"
_SETPOINT_PER_KW: Final = {"W": Decimal(1000), "kW": Decimal(1)}
# ------------------------------------------------------------------------------

PRODUCTION_BROKER: Final = ("mqtt.powernaut.io", 8883)
SANDBOX_BROKER: Final = ("mqtt.sandbox.powernaut.io", 8883)
MQTTS_PORT: Final = 8883
MQTT_PORT: Final = 1883

PUBLISH_INTERVAL: Final = 4.0
"""Seconds between two measurements, as Powernaut asks (the caller's timer)."""
KEEPALIVE: Final = 30
"""Seconds of MQTT keepalive: a dead connection is noticed within about twice this."""
CONNECT_TIMEOUT: Final = 10.0
"""Seconds to wait for the broker's CONNACK (and its DISCONNECT acknowledgement)."""
PUBLISH_TIMEOUT: Final = 2.0
"""Seconds one ``publish`` call may take before the connection counts as stuck."""
POWER_DECIMALS: Final = 6
POWER_INTEGER_DIGITS: Final = 15

_POWER_STEP: Final = Decimal(1).scaleb(-POWER_DECIMALS)
_ROUNDING_CONTEXT: Final = Context(prec=POWER_INTEGER_DIGITS + POWER_DECIMALS + 8)
_POWER_LIMIT: Final = Decimal(10) ** POWER_INTEGER_DIGITS
_TOPIC_FORBIDDEN: Final = frozenset("+#\0")
_REFUSED: Final = 0x80
"""SUBACK reason codes from here on refuse the subscription."""
_CREDENTIALS_REFUSED: Final = frozenset({134, 135})
"""CONNACK reason codes for a bad user name or password, and not authorized."""


@dataclass(frozen=True, slots=True)
class SetpointCommand:
    """A setpoint Powernaut sent a resource (``value_kw`` ``None``: cancelled)."""

    resource_id: str
    start: datetime
    end: datetime
    value_kw: Decimal | None


def parse_setpoint(resource_id: str, payload: bytes | str) -> SetpointCommand:
    """Read a setpoint command (see the assumption at the top).

    The value may be a JSON number or a decimal string; ``null`` cancels.

    Raises:
        ValueError: not a command: no timing, times without an offset or out
            of order, a value that is not a finite number, an unknown unit.

    """
    try:
        body = json.loads(payload)
        timing = body["timing"]
        start = _aware(timing["start"])
        end = _aware(timing["end"])
        raw = body.get("value")
        unit = body.get("unit", SETPOINT_UNIT)
    except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as err:
        raise ValueError(f"Not a setpoint command: {err}") from err
    if end <= start:
        raise ValueError("A setpoint command must end after it starts")
    if unit not in _SETPOINT_PER_KW:
        raise ValueError(f"Unknown setpoint unit: {unit!r}")
    if raw is None:
        return SetpointCommand(resource_id, start, end, None)
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"Not a setpoint: {raw!r}")  # noqa: TRY004 - one error for a bad message
    try:
        value = Decimal(str(raw).strip())
    except ArithmeticError as err:
        raise ValueError(f"Not a setpoint: {raw!r}") from err
    if not value.is_finite():
        raise ValueError(f"Not a setpoint: {raw!r}")
    return SetpointCommand(resource_id, start, end, value / _SETPOINT_PER_KW[unit])


def _aware(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError(f"not a time: {text!r}")
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"A setpoint time needs an offset: {text!r}")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class StreamTopics:
    """The topic templates: ``{site_id}`` and ``{resource_id}`` are filled in."""

    site: str = DEFAULT_SITE_TOPIC
    resource: str = DEFAULT_RESOURCE_TOPIC


def broker_for(
    environment: Environment, custom_url: str | None
) -> tuple[str, int, bool]:
    """Return ``(host, port, tls)`` of the measurement broker to use.

    ``custom_url`` is read only with ``Environment.CUSTOM``, where it is
    required: ``mqtts://host[:port]`` (TLS, port 8883 by default) or
    ``mqtt://host[:port]`` (plain, port 1883 by default).

    Raises:
        ValueError: a custom environment without a usable ``mqtt(s)://`` URL.

    """
    if environment is Environment.PRODUCTION:
        return (*PRODUCTION_BROKER, True)
    if environment is Environment.SANDBOX:
        return (*SANDBOX_BROKER, True)
    if not custom_url or not custom_url.strip():
        raise ValueError("A custom environment needs an MQTT broker URL")
    parts = urlsplit(custom_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in {"mqtt", "mqtts"}:
        raise ValueError("The MQTT broker URL must start with mqtts:// or mqtt://")
    port = parts.port  # raises ValueError for a port out of range
    if (
        not parts.hostname
        or parts.username is not None
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
        or port == 0
    ):
        raise ValueError(
            "The MQTT broker URL must be mqtts://host:port or mqtt://host:port"
        )
    tls = scheme == "mqtts"
    return parts.hostname, port or (MQTTS_PORT if tls else MQTT_PORT), tls


def measurement_payload(timestamp: datetime, active_power_kw: Decimal) -> bytes:
    """Return the message for one value (see the assumption at the top).

    The power is written as an exact decimal string, rounded half-even to
    6 decimals; the timestamp in UTC with ``Z``, to the second.

    Raises:
        ValueError: a naive timestamp, or a value that is not finite or
            needs more than 15 digits before the decimal point.

    """
    return _payload(utc_text(timestamp), power_text(active_power_kw))


def _payload(stamp: str, power: str) -> bytes:
    body = {PAYLOAD_TIMESTAMP: stamp, PAYLOAD_POWER: power, PAYLOAD_UNIT: POWER_UNIT}
    return json.dumps(body).encode()


def utc_text(timestamp: datetime) -> str:
    """``2026-11-22T10:00:04Z``: the moment in UTC, to the second.

    Raises:
        ValueError: ``timestamp`` is naive.

    """
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("Measurement timestamps must be timezone-aware")
    utc = timestamp.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    return utc.isoformat(timespec="seconds") + "Z"


def power_text(value: Decimal) -> str:
    """The power as Powernaut's decimal string (``Decimal("1.2")`` → ``"1.2"``).

    Raises:
        ValueError: not finite, or more than 15 digits before the decimal point.

    """
    if not value.is_finite() or abs(value) >= _POWER_LIMIT:
        raise ValueError(f"Not a power Powernaut can take: {value}")
    rounded = value.quantize(
        _POWER_STEP, rounding=ROUND_HALF_EVEN, context=_ROUNDING_CONTEXT
    )
    try:
        return decimal_string(
            rounded,
            max_decimals=POWER_DECIMALS,
            max_integer_digits=POWER_INTEGER_DIGITS,
        )
    except GridFlexRequestRejectedError as err:  # rounded up to 16 digits
        raise ValueError(f"Not a power Powernaut can take: {value}") from err


def _checked_topic(topic: str) -> str:
    if not topic or _TOPIC_FORBIDDEN.intersection(topic):
        raise ValueError(f"Not an MQTT topic to publish to: {topic!r}")
    return topic


def _fill(template: str, key: str, value: str) -> str:
    """Fill one placeholder of a topic template; ``ValueError`` when it does not fit."""
    try:
        return template.format_map({key: value})
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"The topic template {template!r} may only use {{{key}}}"
        ) from err


class MeasurementStream:
    """One MQTT 5 connection to Powernaut's broker that publishes measurements.

    ``run()`` keeps the connection up (persistent session: ``clean_start``
    off and a session expiry) and reconnects after any failure with an
    exponential backoff with jitter between ``reconnect_min`` and
    ``reconnect_max`` seconds. ``publish()`` is fire-and-forget.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls_context: ssl.SSLContext | None,
        client_id: str,
        username: str,
        password: str,
        site_id: str,
        topics: StreamTopics = StreamTopics(),
        on_connection_change: Callable[[bool], None] | None = None,
        setpoint_resources: Iterable[str] = (),
        on_setpoint: Callable[[SetpointCommand], None] | None = None,
        reconnect_min: float = 1.0,
        reconnect_max: float = 60.0,
        session_expiry: int = 3600,
    ) -> None:
        """Describe the connection; nothing is sent before ``run()``.

        ``tls_context`` ``None`` means a plain connection (``mqtt://``).
        Creating an ``ssl.SSLContext`` loads certificates and blocks: make it
        off the event loop.

        Raises:
            ValueError: an empty host or client id, a port out of range, a
                backoff that is not ``0 < reconnect_min <= reconnect_max``, a
                negative session expiry, or topics that do not fit the ids.

        """
        if not host.strip():
            raise ValueError("The broker host is empty")
        if not 0 < port < 65536:
            raise ValueError(f"Not a TCP port: {port}")
        if not client_id:
            raise ValueError("The MQTT client id must not be empty")
        if not (math.isfinite(reconnect_max) and 0 < reconnect_min <= reconnect_max):
            raise ValueError("The backoff needs 0 < reconnect_min <= reconnect_max")
        if not 0 <= session_expiry <= 0xFFFFFFFF:
            raise ValueError(f"Not a session expiry interval: {session_expiry}")
        self._site_topic = _checked_topic(_fill(topics.site, "site_id", site_id))
        first = _fill(topics.resource, "resource_id", "a")
        if first == _fill(topics.resource, "resource_id", "b"):
            raise ValueError("The resource topic template needs {resource_id}")
        self._resource_template = topics.resource
        self._host = host.strip()
        self._port = port
        self._tls_context = tls_context
        self._client_id = client_id
        self._username = username
        self._password = password
        self._on_connection_change = on_connection_change
        # Setpoint commands are followed only with a callback to give them to.
        self._setpoint_topics: dict[str, str] = (
            {
                DEFAULT_SETPOINT_TOPIC.format_map({"resource_id": rid}): rid
                for rid in setpoint_resources
                if rid and "/" not in rid and not _TOPIC_FORBIDDEN.intersection(rid)
            }
            if on_setpoint is not None
            else {}
        )
        self._on_setpoint = on_setpoint
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._session_expiry = session_expiry
        self._link: tuple[aiomqtt.Client, asyncio.Event] | None = None
        """The connected client and the event that drops it after a failed publish."""
        self._in_outage = False

    @property
    def connected(self) -> bool:
        """Whether the broker accepted the connection and it is still up."""
        return self._link is not None

    async def run(self) -> None:
        """Stay connected until cancelled; never raises anything else."""
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            up_since: float | None = None
            try:
                client = await self._connect()
                up_since = loop.time()
                failed = asyncio.Event()
                try:
                    await self._subscribe(client)
                    self._went_up(client, failed)
                    reason = await self._hold(client, failed)
                finally:
                    self._went_down()
                    await self._close(client)
            except aiomqtt.MqttError as err:
                reason = _reason(err)
            except Exception as err:  # noqa: BLE001 - the stream must outlive any failure
                reason = f"{type(err).__name__}: {err}"
            if up_since is not None and loop.time() - up_since >= self._reconnect_max:
                failures = 0  # it was a stable connection: start the backoff over
            failures += 1
            self._report_outage(reason, lost=up_since is not None)
            await asyncio.sleep(self.backoff(failures))

    async def publish(
        self,
        timestamp: datetime,
        site_kw: Decimal | None,
        resources_kw: Mapping[str, Decimal],
    ) -> int:
        """Publish the site value (unless ``None``) and each resource's, QoS 0.

        Returns how many messages were published: 0 when not connected or
        when a publish fails (the whole batch counts as lost, and the
        connection is dropped so that ``run()`` reconnects). A value that is not
        finite or has more than 15 integer digits, and a resource id that
        cannot be part of a topic, are skipped.

        Raises:
            ValueError: ``timestamp`` is naive (checked before anything else).

        """
        stamp = utc_text(timestamp)
        messages: list[tuple[str, bytes]] = []
        if site_kw is not None:
            self._add(messages, self._site_topic, stamp, site_kw)
        for resource_id, value in resources_kw.items():
            if (
                not resource_id
                or "/" in resource_id
                or _TOPIC_FORBIDDEN.intersection(resource_id)
            ):
                _LOGGER.debug(
                    "Skipping a resource id that cannot be in a topic: %r", resource_id
                )
                continue
            topic = self._resource_template.format_map({"resource_id": resource_id})
            self._add(messages, topic, stamp, value)
        link = self._link
        if link is None or not messages:
            return 0
        client, failed = link
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                for topic, payload in messages:
                    await client.publish(topic, payload, qos=0, timeout=math.inf)
        except (aiomqtt.MqttError, TimeoutError) as err:
            _LOGGER.debug(
                "Publishing %d measurements failed: %s",
                len(messages),
                _reason(err) if isinstance(err, aiomqtt.MqttError) else "timed out",
            )
            failed.set()
            return 0
        return len(messages)

    def backoff(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (jittered).

        Drawn evenly between ``reconnect_min`` and a ceiling that doubles with
        each failure up to ``reconnect_max``.
        """
        exponent = min(max(failures, 1) - 1, 64)
        ceiling = min(self._reconnect_max, self._reconnect_min * 2.0**exponent)
        return random.uniform(self._reconnect_min, ceiling)

    @staticmethod
    def _add(
        messages: list[tuple[str, bytes]], topic: str, stamp: str, value: Decimal
    ) -> None:
        try:
            power = power_text(value)
        except ValueError:
            _LOGGER.debug(
                "Skipping a power that cannot be sent on %s: %s", topic, value
            )
            return
        messages.append((topic, _payload(stamp, power)))

    def _new_client(self) -> aiomqtt.Client:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._session_expiry
        return aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=self._client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            tls_context=self._tls_context,
            keepalive=KEEPALIVE,
            timeout=CONNECT_TIMEOUT,
        )

    async def _connect(self) -> aiomqtt.Client:
        """Connect; a cancelled attempt is seen through and closed, then re-raised.

        The TCP and TLS part of a connection attempt runs in a worker thread
        that cannot be stopped: leaving it behind would leak its socket.
        """
        client = self._new_client()
        entering = asyncio.ensure_future(client.__aenter__())
        try:
            await asyncio.shield(entering)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await entering
                await client.__aexit__(None, None, None)
            raise
        return client

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        """Follow each resource's setpoint commands (QoS 1: none is lost)."""
        for topic in self._setpoint_topics:
            try:
                granted = await client.subscribe(topic, qos=1, timeout=CONNECT_TIMEOUT)
            except aiomqtt.MqttCodeError as err:
                # The measurements still go out; only the commands are missed.
                _LOGGER.warning("Cannot follow setpoint commands on %s: %s", topic, err)
                continue
            if any(_code(code) >= _REFUSED for code in granted):
                _LOGGER.warning("The broker refused setpoint commands on %s", topic)

    def _received(self, topic: str, payload: object) -> None:
        """Hand a setpoint command over; anything else is dropped."""
        resource_id = self._setpoint_topics.get(topic)
        if resource_id is None or self._on_setpoint is None:
            return
        if not isinstance(payload, (bytes, bytearray, str)):
            return
        try:
            command = parse_setpoint(
                resource_id, bytes(payload) if not isinstance(payload, str) else payload
            )
        except ValueError as err:
            _LOGGER.warning("Ignoring a setpoint command on %s: %s", topic, err)
            return
        try:
            self._on_setpoint(command)
        except Exception:
            _LOGGER.exception("Handling a setpoint command failed")

    async def _hold(self, client: aiomqtt.Client, failed: asyncio.Event) -> str:
        """Wait until the connection drops or a publish failed; return why."""
        drained = asyncio.ensure_future(_drain(client, self._received))
        publish_failed = asyncio.ensure_future(failed.wait())
        try:
            await asyncio.wait(
                (drained, publish_failed), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            drained.cancel()
            publish_failed.cancel()
            await asyncio.wait((drained, publish_failed))
        if publish_failed.cancelled():
            return drained.result()
        return "a publish failed"

    @staticmethod
    async def _close(client: aiomqtt.Client) -> None:
        """Disconnect politely when the connection still allows it."""
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)

    def _went_up(self, client: aiomqtt.Client, failed: asyncio.Event) -> None:
        self._link = (client, failed)
        if self._in_outage:
            self._in_outage = False
            _LOGGER.info(
                "Connected to the Powernaut measurement broker %s:%s again",
                self._host,
                self._port,
            )
        else:
            _LOGGER.debug(
                "Connected to the Powernaut measurement broker %s:%s",
                self._host,
                self._port,
            )
        self._notify(True)

    def _went_down(self) -> None:
        self._link = None
        self._notify(False)

    def _notify(self, connected: bool) -> None:
        if self._on_connection_change is None:
            return
        try:
            self._on_connection_change(connected)
        except Exception:
            _LOGGER.exception("The measurement stream's connection callback failed")

    def _report_outage(self, reason: str, *, lost: bool) -> None:
        if self._in_outage:
            _LOGGER.debug("Measurement broker still unavailable: %s", reason)
            return
        self._in_outage = True
        if lost:
            _LOGGER.warning(
                "Lost the connection to the Powernaut measurement broker %s:%s (%s); reconnecting",
                self._host,
                self._port,
                reason,
            )
        else:
            _LOGGER.warning(
                "Cannot connect to the Powernaut measurement broker %s:%s (%s); retrying",
                self._host,
                self._port,
                reason,
            )


async def _drain(
    client: aiomqtt.Client, received: Callable[[str, object], None]
) -> str:
    """Read incoming messages until the connection ends; return why.

    Setpoint commands are handed to ``received``; anything else (a resumed
    session may deliver other messages) is dropped there.
    """
    messages = client.messages
    try:
        while True:
            message = await anext(messages)
            received(message.topic.value, message.payload)
    except aiomqtt.MqttError as err:
        return _reason(err)


def _code(code: object) -> int:
    """A SUBACK reason code (MQTT 5) or granted QoS (3.1.1) as a number."""
    value = getattr(code, "value", code)
    return value if isinstance(value, int) else 0


def _reason(err: aiomqtt.MqttError) -> str:
    """Why a connection failed or ended, without anything secret."""
    if isinstance(err, aiomqtt.MqttCodeError):
        if getattr(err.rc, "value", err.rc) in _CREDENTIALS_REFUSED:
            return f"the broker refused the edge credentials: {err}"
        shown: BaseException = err
    else:
        shown = err.__cause__ or err
    return str(shown).strip() or type(shown).__name__
