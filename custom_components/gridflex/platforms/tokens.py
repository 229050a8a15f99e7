"""One platform account's token, shared by every client signed in with it.

A ``TokenKeeper`` holds the token of one account (one platform, one server,
one set of credentials). Every client built for that account may share it:
the first one that needs a token fetches it, the others use it until it is
due for renewal, concurrent callers wait for one fetch, and a token the
platform refused is renewed once for all of them.

``account_key`` names an account by a hash, so the credentials themselves
never become a key, a log line or a diagnostics field. ``TokenAuth`` (in
``_http``) uses a keeper to send requests; it makes its own keeper when it is
given none.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._http import Clock, Token, TokenFetcher


def account_key(*parts: str | None) -> str:
    """Return a stable hash naming one account (platform, server, credentials).

    The parts are hashed, never kept: the key can be logged or stored.
    """
    encoded = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def account_key_of(
    platform: str, server: str | None, credentials: Mapping[str, str]
) -> str:
    """Return the ``account_key`` of a platform, a server root and credentials."""
    server = server.strip().rstrip("/") if server else server
    return account_key(
        platform,
        server,
        *(f"{name}={value}" for name, value in sorted(credentials.items())),
    )


class TokenKeeper:
    """Hold one account's token and renew it before it expires.

    A token is renewed ``margin`` seconds before its announced lifetime ends,
    and at most half way through a short-lived token (each caller says which
    margin its platform needs). ``fetches`` counts the tokens fetched.
    """

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        """Start without a token; ``clock`` tells when one is due for renewal."""
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: Token | None = None
        self._obtained = 0.0
        self.fetches = 0

    def __repr__(self) -> str:
        """Say whether a token is held, never the token."""
        held = "a token" if self._token is not None else "no token"
        return f"<TokenKeeper with {held}, {self.fetches} fetched>"

    @property
    def subject(self) -> str | None:
        """Return whom the current token was issued to, when the platform said."""
        return self._token.subject if self._token is not None else None

    async def token(self, fetch: TokenFetcher, margin: float) -> str:
        """Return the current token, fetching a new one when it is due."""
        async with self._lock:
            token = self._token
            if token is not None and self._clock() < self._renew_at(token, margin):
                return token.value
            return await self._fetch_locked(fetch)

    async def renew(self, fetch: TokenFetcher) -> str:
        """Fetch a new token now, whatever the state of the current one."""
        async with self._lock:
            return await self._fetch_locked(fetch)

    async def renewed(self, refused: str, fetch: TokenFetcher) -> str:
        """Return a token other than ``refused``: one renewed meanwhile, or a new one."""
        async with self._lock:
            if self._token is not None and self._token.value != refused:
                # Another caller renewed it while this one waited for the lock.
                return self._token.value
            return await self._fetch_locked(fetch)

    def forget(self, refused: str) -> None:
        """Drop the token if it is still ``refused`` (the next caller fetches)."""
        if self._token is not None and self._token.value == refused:
            self._token = None

    def _renew_at(self, token: Token, margin: float) -> float:
        lifetime = max(token.lifetime, 0.0)
        return self._obtained + max(lifetime - margin, lifetime / 2)

    async def _fetch_locked(self, fetch: TokenFetcher) -> str:
        self._token = None
        self.fetches += 1
        token = await fetch()
        self._token = token
        self._obtained = self._clock()
        return token.value
