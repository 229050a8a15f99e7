"""Setpoint commands from Powernaut's broker, taken in as activations.

Without a webhook Powernaut sends an accepted bid's setpoint on the MQTT topic
``resource/{id}/commands/setpoint`` (read by the measurement stream). A
command becomes an activation of the resource in the site's ledger, as one
read through the webhook would: the event coordinator announces it and the
activation executor carries it out. ``value: null`` cancels what is in force
for the resource in that window, whichever way it came.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .event_coordinator import activation_resource
from .platforms.models import GridEvent, GridEventKind, LimitWindow

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry
    from .platforms.powernaut_stream import SetpointCommand

_LOGGER = logging.getLogger(__name__)

EVENT_PREFIX: Final = "activation-mqtt-"
"""A command names no bid: its activation is the resource's window."""


def command_events(command: SetpointCommand, known: list[GridEvent]) -> list[GridEvent]:
    """Return the activations a command means, given those of the ledger.

    A setpoint is one activation ``activation-mqtt-<resource>-<start>-<received>``;
    a cancellation cancels every known activation of the resource whose window
    overlaps the command's.
    """
    now = dt_util.utcnow()
    # Each command is an activation of its own (the same bid can be activated
    # again, with another value): the one received last is the setpoint.
    event_id = (
        f"{EVENT_PREFIX}{command.resource_id}"
        f"-{command.start:%Y%m%dT%H%M%SZ}-{now:%Y%m%dT%H%M%S%fZ}"
    )
    resource_ids = (command.resource_id,)
    if command.value_kw is not None:
        window = LimitWindow(command.start, command.end, command.value_kw)
        return [
            GridEvent(
                event_id=event_id,
                kind=GridEventKind.ACTIVATION,
                created_at=now,
                windows=(window,),
                resource_ids=resource_ids,
                raw_type="exact",
            )
        ]
    ids = {
        event.event_id
        for event in known
        if event.kind is GridEventKind.ACTIVATION
        and activation_resource(event) == command.resource_id
        and any(w.start < command.end and command.start < w.end for w in event.windows)
    }
    return [
        GridEvent(
            event_id=cancelled,
            kind=GridEventKind.ACTIVATION,
            created_at=now,
            resource_ids=resource_ids,
            raw_type="cancelled",
        )
        for cancelled in sorted(ids)
    ]


class SetpointInbox:
    """Take an entry's setpoint commands in, each once.

    Commands come with QoS 1: the broker delivers each at least once, and
    again after a reconnect when the first delivery was not acknowledged. A
    command equal to the last one the resource received (same window, same
    value, or both cancellations) is such a repeat and is dropped; the same
    setpoint after another command (say, after a cancellation) is taken again.
    """

    def __init__(self, hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
        """Follow ``entry``'s commands."""
        self._hass = hass
        self._entry = entry
        self._last: dict[str, SetpointCommand] = {}

    @callback
    def async_receive(self, command: SetpointCommand) -> None:
        """Take a setpoint command in (in the background); drop a repeat."""
        events = self._entry.runtime_data.event_coordinator
        if events is None:
            return
        if self._last.get(command.resource_id) == command:
            _LOGGER.debug("Setpoint command received again: %s", command)
            return
        self._last[command.resource_id] = command
        received = command_events(command, list(events.ledger.events.values()))
        self._entry.async_create_background_task(
            self._hass, events.async_receive(received), f"{DOMAIN} setpoint command"
        )
