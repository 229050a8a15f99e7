"""FlexMeasures schedule triggers, jobs and schedules."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
