"""A local, stateful stand-in for the grid-flexibility platforms GridFlex talks to.

One aiohttp server speaks the subset of the Powernaut Connect, Energy
Coordination (Volue Spark) and FlexMeasures contracts that GridFlex uses,
validates requests as strictly as the real services, and offers control
routes under ``/_sandbox`` to change statuses, inject faults and expire
tokens. It never imports Home Assistant or the integration.

    server = SandboxServer(host="127.0.0.1", port=0)
    await server.start()        # server.url == "http://127.0.0.1:<port>"
    ...                         # server.state is the live SandboxState
    await server.stop()

Run it standalone with ``python -m sandbox --port 8765``.
"""

from __future__ import annotations

from .server import SandboxServer, create_app
from .state import SANDBOX_CREDENTIALS, SandboxState

__all__ = ["SANDBOX_CREDENTIALS", "SandboxServer", "SandboxState", "create_app"]
