"""Powernaut bids, activations and the bidAccepted webhook."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
