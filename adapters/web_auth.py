"""Bearer tokens with roles (SPEC 5.2): settings hold only each token's sha256; the name is the recorded actor."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from application.settings import ApiToken

ROLES = ("ingest", "reviewer", "operator", "reader")
READ_ROLES = frozenset({"reader", "reviewer", "operator"})  # whoever may act on something may also read it


@dataclass(frozen=True)
class Principal:
    """Who sent a request: the token's name (recorded as `api:<name>`) and its roles."""

    name: str
    roles: frozenset[str]

    @property
    def actor(self) -> str:
        return f"api:{self.name}"


LOCAL = Principal("local", frozenset(ROLES))  # no token configured: the server listens on loopback only


class Authenticator:
    """Finds the token's principal and checks it holds a role; answers 401 or 403 otherwise, before any work."""

    def __init__(self, tokens: tuple[ApiToken, ...]) -> None:
        self.tokens = tokens

    @property
    def open(self) -> bool:
        """No token is configured: every request acts as `api:local` (serve then binds only to loopback)."""
        return not self.tokens

    def principal(self, request: Request) -> Principal:
        if self.open:
            return LOCAL
        token = bearer_token(request)
        if token is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        found = self.identify(token)
        if found is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the bearer token is not valid",
                                headers={"WWW-Authenticate": "Bearer"})
        return found

    def identify(self, token: str) -> Principal | None:
        """The principal of a token (the API's bearer, or the console's signed-in cookie), or None."""
        if self.open:
            return LOCAL
        digest = hashlib.sha256(token.encode()).hexdigest()
        for known in self.tokens:
            if hmac.compare_digest(digest, known.sha256):
                return Principal(known.name, frozenset(known.roles))
        return None

    def require(self, request: Request, allowed: frozenset[str]) -> Principal:
        principal = self.principal(request)
        if not principal.roles & allowed:
            needed = " or ".join(sorted(allowed))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token lacks the role {needed}")
        return principal


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
