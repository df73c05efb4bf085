"""The web console (SPEC 5.3), served by `retrain serve` beside the API: server-rendered pages, one small script.

Every action goes through the use case the CLI and the API call (`Campaigns.decide`, the `Rollouts` commands), with
the signed-in token's name as actor (`api:<name>`), after the same role check as the API and a CSRF check."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from adapters.ui.models import add_model_pages
from adapters.ui.rendering import HERE, Renderer, form_text
from adapters.ui.review import add_review_pages
from adapters.ui.rollout import add_rollout_pages
from adapters.ui.session import (
    CSRF_FIELD,
    CrossSiteRefused,
    Forbidden,
    SignInRequired,
    check_csrf,
    forget,
    remember,
    safe_next,
    sign_in_location,
)
from adapters.web_auth import Authenticator
from application.retrain import Retrain


def install_console(app: FastAPI, retrain: Retrain, auth: Authenticator) -> None:
    """Mount the console's pages, its static files and its sign-in redirects on the API's app."""
    page = Renderer(auth)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    @app.exception_handler(SignInRequired)
    async def sign_in_first(_: Request, error: SignInRequired) -> Response:
        return RedirectResponse(sign_in_location(error.path), status_code=303)

    @app.exception_handler(CrossSiteRefused)
    async def cross_site(request: Request, error: CrossSiteRefused) -> Response:
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"detail": str(error)}, status_code=403)
        return page(request, "error.html", {"title": "Refused", "message": str(error)}, status=403)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> Response:
        return page(request, "error.html", {"title": "Not allowed", "message": str(error)}, status=403)

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/ui/models", status_code=303)

    @app.get("/ui/sign-in", include_in_schema=False)
    def sign_in_page(request: Request, next: str | None = None) -> Response:
        return page(request, "sign_in.html", {"title": "Sign in", "next": safe_next(next), "error": None})

    @app.post("/ui/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        form = await request.form()
        check_csrf(request, form_text(form, CSRF_FIELD))
        token, target = form_text(form, "token").strip(), safe_next(form_text(form, "next"))
        if not token or auth.identify(token) is None:
            return page(request, "sign_in.html", {"title": "Sign in", "next": target,
                                                  "error": "This token is not valid."}, status=401)
        response = RedirectResponse(target, status_code=303)
        remember(response, request, token)
        return response

    @app.post("/ui/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        check_csrf(request, form_text(await request.form(), CSRF_FIELD))
        response = RedirectResponse("/ui/sign-in", status_code=303)
        forget(response)
        return response

    add_review_pages(app, retrain, auth, page)
    add_rollout_pages(app, retrain, auth, page)
    add_model_pages(app, retrain, auth, page)
