"""Publishing the measurement stream to a real Mosquitto broker (MQTT 5 + TLS).

Run from the repository root (needs ``mosquitto``, ``mosquitto_passwd`` and
``openssl``; Debian: ``apt-get install mosquitto openssl``)::

    .venv/bin/python -m benchmarks.stream_publish

``tests/mosquitto.py`` starts a Mosquitto on 127.0.0.1 with its own CA, a
TLS listener and a password file. GridFlex's ``MeasurementStream`` connects
to it (``run()``, as ``MeterData`` does) and publishes batches of a site and
10 resources, 11 QoS 0 messages each:

- back to back for a few seconds: batches/s, messages/s and the CPU time of
  one batch (``time.process_time()``, the whole process: the stream, aiomqtt
  and paho; the broker is another process and not counted);
- at the real 4 s cadence for 20 s: the CPU time that cadence costs,
  idle time and keepalives included.

The broker logs every PUBLISH it receives: the count in its log is checked
against what ``publish()`` reported as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from decimal import Decimal
import time

from custom_components.gridflex.platforms.powernaut_stream import (
    PUBLISH_INTERVAL,
    MeasurementStream,
)
from tests.mosquitto import MosquittoBroker

from ._common import median, quiet_logs, report, report_machine

RESOURCES = 10
MESSAGES_PER_BATCH = 1 + RESOURCES
WARMUP_BATCHES = 200
BURST_SECONDS = 10.0
CADENCE_SECONDS = 20.0
CLIENT_ID = "gridflex-bench"
SITE_KW = Decimal("1.234")
RESOURCES_KW = {
    f"resource-{index}": Decimal(index * 1100 - 3300).scaleb(-3)
    for index in range(RESOURCES)
}


async def publish_batch(stream: MeasurementStream) -> int:
    """Publish the site and each resource once; return the messages sent."""
    return await stream.publish(datetime.now(UTC), SITE_KW, RESOURCES_KW)


async def burst(stream: MeasurementStream) -> tuple[int, int, float, float]:
    """Publish back to back; return (batches, messages, CPU s, wall s)."""
    batches = messages = 0
    cpu, wall = time.process_time(), time.perf_counter()
    deadline = wall + BURST_SECONDS
    while time.perf_counter() < deadline:
        messages += await publish_batch(stream)
        batches += 1
    return batches, messages, time.process_time() - cpu, time.perf_counter() - wall


async def cadence(stream: MeasurementStream) -> tuple[int, float, list[float]]:
    """Publish every 4 s; return (messages, CPU s over the window, batch walls)."""
    loop = asyncio.get_running_loop()
    messages = 0
    latencies: list[float] = []
    cpu = time.process_time()
    start = loop.time()
    ticks = int(CADENCE_SECONDS / PUBLISH_INTERVAL)
    for tick in range(1, ticks + 1):
        await asyncio.sleep(start + tick * PUBLISH_INTERVAL - loop.time())
        began = time.perf_counter()
        messages += await publish_batch(stream)
        latencies.append(time.perf_counter() - began)
    return messages, time.process_time() - cpu, latencies


async def received_by_broker(broker: MosquittoBroker, expected: int) -> int:
    """The PUBLISH packets from the stream in the broker's log (waits for ``expected``)."""
    marker = f"Received PUBLISH from {CLIENT_ID}"
    with contextlib.suppress(TimeoutError):
        await broker.wait_for_log(marker, count=expected, within=10)
    return (await broker.log()).count(marker)


async def main() -> None:
    """Measure and print."""
    quiet_logs()
    report_machine(
        "Measurement stream: site + 10 resources to Mosquitto (MQTT 5 + TLS)"
    )
    async with MosquittoBroker() as broker:
        up = asyncio.Event()
        stream = MeasurementStream(
            host=broker.host,
            port=broker.port,
            tls_context=await broker.ssl_context(),
            client_id=CLIENT_ID,
            username=broker.username,
            password=broker.password,
            site_id="bench-site",
            on_connection_change=lambda connected: up.set() if connected else None,
        )
        task = asyncio.create_task(stream.run())
        try:
            async with asyncio.timeout(15):
                await up.wait()
            warm = sum([await publish_batch(stream) for _ in range(WARMUP_BATCHES)])
            batches, sent, cpu, wall = await burst(stream)
            cadence_sent, cadence_cpu, latencies = await cadence(stream)
            total = warm + sent + cadence_sent
            received = await received_by_broker(broker, total)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    report(f"broker: Mosquitto at {broker.host} over TLS (mqtts), QoS 0, MQTT 5")
    report()
    report(f"back to back for {wall:.1f} s:")
    report(
        f"  {batches / wall:10,.0f} batches/s   {sent / wall:10,.0f} messages/s "
        f"({batches:,} batches, {sent:,} messages)"
    )
    report(
        f"  CPU {cpu / batches * 1e6:8.0f} µs per batch of {MESSAGES_PER_BATCH} "
        f"({cpu / sent * 1e6:.0f} µs per message); CPU/wall {cpu / wall:.0%}"
    )
    per_minute = 60 / PUBLISH_INTERVAL
    report()
    report(f"at the 4 s cadence ({CADENCE_SECONDS:.0f} s measured):")
    report(
        f"  {per_minute:.0f} batches/min x {MESSAGES_PER_BATCH} messages = "
        f"{per_minute * MESSAGES_PER_BATCH:.0f} messages/min "
        f"(measured: {cadence_sent} messages in {CADENCE_SECONDS:.0f} s)"
    )
    report(
        f"  one publish() of a batch takes {median(latencies) * 1e6:.0f} µs wall "
        f"(median of {len(latencies)})"
    )
    report(
        f"  CPU {cadence_cpu / CADENCE_SECONDS * 60 * 1e3:.1f} ms per minute measured "
        f"(idle and keepalive included); from the burst: "
        f"{cpu / batches * per_minute * 1e3:.1f} ms per minute "
        f"= {cpu / batches * per_minute / 60:.4%} of one core"
    )
    report()
    report(
        f"the broker logged {received:,} PUBLISH packets from the stream; "
        f"publish() reported {total:,} sent"
    )


if __name__ == "__main__":
    asyncio.run(main())
