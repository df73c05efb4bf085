"""Signing in to the console and protecting its forms (SPEC 5.3).

The API token pasted once on the sign-in page is kept in an HttpOnly, SameSite=Strict cookie; the roles are the
API's. Every form carries a CSRF token that must equal the one in a second HttpOnly cookie (double submit), and a
request whose Origin names another site is refused as well."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote, urlsplit

from fastapi import Request, Response

from adapters.web_auth import Authenticator, Principal

TOKEN_COOKIE = "retrain_token"
CSRF_COOKIE = "retrain_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
DEFAULT_PAGE = "/ui/models"


class SignInRequired(Exception):
    """No valid token in the cookie: the browser is sent to the sign-in page, then back to `path`."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class CrossSiteRefused(Exception):
    """A state-changing request without this site's CSRF token, or sent from another site: refused with 403."""


class Forbidden(Exception):
    """Signed in, but the token lacks the role this page or action needs."""

    def __init__(self, principal: Principal, needed: frozenset[str]) -> None:
        super().__init__(f"the token {principal.name!r} lacks the role {' or '.join(sorted(needed))}")


def signed_in(request: Request, auth: Authenticator, allowed: frozenset[str]) -> Principal:
    """The principal of the cookie's token, if it holds one of the roles; else SignInRequired or Forbidden."""
    token = request.cookies.get(TOKEN_COOKIE, "")
    principal = auth.identify(token) if token or auth.open else None
    if principal is None:
        raise SignInRequired(_asked_for(request))
    if not principal.roles & allowed:
        raise Forbidden(principal, allowed)
    return principal


def sign_in_location(path: str) -> str:
    return f"/ui/sign-in?next={quote(path, safe='')}"


def safe_next(path: str | None) -> str:
    """Only a console page of this server, never another site (`//evil`, `https://...`)."""
    if not path:
        return DEFAULT_PAGE
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in path:
        return DEFAULT_PAGE
    return path


def remember(response: Response, request: Request, token: str) -> None:
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", secure=_https(request), path="/")


def forget(response: Response) -> None:
    response.delete_cookie(TOKEN_COOKIE, path="/")


def csrf_token(request: Request) -> str:
    """The browser's CSRF token: the cookie's, or a new one that `keep_csrf` sets on the response."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and len(current) == 43:
        return current
    fresh: str = getattr(request.state, "new_csrf", "") or secrets.token_urlsafe(32)
    request.state.new_csrf = fresh
    return fresh


def keep_csrf(request: Request, response: Response) -> None:
    fresh = getattr(request.state, "new_csrf", None)
    if fresh:
        response.set_cookie(CSRF_COOKIE, fresh, httponly=True, samesite="strict", secure=_https(request), path="/")


def check_csrf(request: Request, submitted: str | None) -> None:
    """A state-changing request must come from this site and carry the cookie's CSRF token; else 403."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise CrossSiteRefused("the request came from another site; nothing was changed")
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = submitted or request.headers.get(CSRF_HEADER, "")
    if not expected or not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise CrossSiteRefused("the form's CSRF token is missing or does not match, so nothing was changed; "
                               "reload the page and try again")


def _asked_for(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
