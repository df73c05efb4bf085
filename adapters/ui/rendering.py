"""How the console's pages are rendered: templates, filters, security headers, and the answers shared by pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from adapters.ui.session import CSRF_FIELD, csrf_token, keep_csrf
from adapters.web_auth import Authenticator, Principal
from bootstrap import parse_time
from domain.errors import InvalidInput, NotFound

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    # Nothing is loaded from another origin, and no inline script runs: the pages work offline by construction.
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
}


class Renderer:
    """Renders a template with the CSRF token, the signed-in name and the security headers."""

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth
        self.templates = Jinja2Templates(directory=HERE / "templates")
        self.templates.env.filters.update(percent=_percent, figure=_figure, moment=_moment_text)

    def __call__(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        principal = context.get("principal")
        response = self.templates.TemplateResponse(request, name, {
            **context, "csrf": csrf_token(request), "csrf_field": CSRF_FIELD, "auth_open": self.auth.open,
            "who": principal.name if isinstance(principal, Principal) else None,
        }, status_code=status, headers=SECURITY_HEADERS)
        keep_csrf(request, response)
        return response

    def refusal(self, request: Request, who: Principal, title: str, error: Exception,
                back: str | None = None) -> HTMLResponse:
        """A refused request as a page: 404 for an unknown id, 422 for invalid input, 409 for a refused step."""
        return self(request, "error.html", {"title": title, "principal": who, "message": str(error), "back": back},
                    status=refusal_status(error))


def refusal_status(error: Exception) -> int:
    return 404 if isinstance(error, NotFound) else 422 if isinstance(error, InvalidInput) else 409


def form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def found_or_none(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except NotFound:
        return None


def as_of(text: str | None) -> datetime | None:
    return parse_time("as_of", text) if text else None


def _percent(value: Any, digits: int = 1) -> str:
    return f"{value:.{digits}%}" if isinstance(value, int | float) else "-"


def _figure(value: Any) -> str:
    """A number as it reads best; anything missing (None, or a field an older event lacks) as a dash."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value) if isinstance(value, int | str) else "-"


def _moment_text(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
