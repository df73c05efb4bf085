"""The web console (SPEC 5.3), served by `retrain serve` beside the API: server-rendered pages, one small script.

Every action goes through the use case the CLI and the API call (`Campaigns.decide`, the `Rollouts` commands), with
the signed-in token's name as actor (`api:<name>`), after the same role check as the API and a CSRF check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from adapters.http.auth import READ_ROLES, Authenticator, Principal
from adapters.ui import charts
from adapters.ui.session import (
    CSRF_FIELD,
    CrossSiteRefused,
    Forbidden,
    SignInRequired,
    check_csrf,
    csrf_token,
    forget,
    keep_csrf,
    remember,
    safe_next,
    sign_in_location,
    signed_in,
)
from application.retrain import Retrain
from bootstrap import parse_time
from domain.errors import DomainError, InvalidInput, NotFound

HERE = Path(__file__).parent
ROLLOUT_ACTIONS = {"pause": "pause", "resume": "resume", "abort": "abort", "promote-now": "promote_now"}
REVIEWER, OPERATOR = frozenset({"reviewer"}), frozenset({"operator"})
UNTOLD = frozenset({"StepClaimed"})
SECURITY_HEADERS = {
    # Nothing is loaded from another origin, and no inline script runs: the pages work offline by construction.
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
}


def install_console(app: FastAPI, retrain: Retrain, auth: Authenticator) -> None:
    """Mount the console's pages, its static files and its sign-in redirects on the API's app."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["percent"] = _percent
    templates.env.filters["figure"] = _figure
    templates.env.filters["moment"] = _moment_text
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        principal = context.get("principal")
        response = templates.TemplateResponse(request, name, {
            **context, "csrf": csrf_token(request), "csrf_field": CSRF_FIELD, "auth_open": auth.open,
            "who": principal.name if isinstance(principal, Principal) else None,
        }, status_code=status, headers=SECURITY_HEADERS)
        keep_csrf(request, response)
        return response

    def reader(request: Request) -> Principal:
        return signed_in(request, auth, READ_ROLES)

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

    # -- signing in -----------------------------------------------------------------------------------
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
        check_csrf(request, _text(form, CSRF_FIELD))
        token, target = _text(form, "token").strip(), safe_next(_text(form, "next"))
        if not token or auth.identify(token) is None:
            return page(request, "sign_in.html", {"title": "Sign in", "next": target,
                                                  "error": "This token is not valid."}, status=401)
        response = RedirectResponse(target, status_code=303)
        remember(response, request, token)
        return response

    @app.post("/ui/sign-out", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        check_csrf(request, _text(await request.form(), CSRF_FIELD))
        response = RedirectResponse("/ui/sign-in", status_code=303)
        forget(response)
        return response

    # -- review ---------------------------------------------------------------------------------------
    @app.get("/ui/campaigns", include_in_schema=False)
    def campaigns_page(request: Request) -> Response:
        who = reader(request)
        listed = list(reversed(retrain.ledger.read.campaigns()))
        return page(request, "campaigns.html", {"title": "Campaigns", "principal": who, "campaigns": listed})

    @app.get("/ui/campaigns/{campaign}/review", include_in_schema=False)
    def review_page(request: Request, campaign: str, item: str | None = None) -> Response:
        who = signed_in(request, auth, REVIEWER)
        review = _found(lambda: retrain.console.review(campaign))
        if review is None:
            return page(request, "error.html", {"title": "Not found", "principal": who,
                                                "message": f"No campaign {campaign!r}."}, status=404)
        policy = retrain.settings.curation
        why = {"label_from_comment": "the label was read from the comment",
               "confident_but_wrong": f"the model was at least {policy.critical_confidence:.0%} sure, yet wrong",
               "rare_class": f"fewer than {policy.rare_class_min} items of this class"}
        for row in review["items"]:
            row["why"] = [why.get(reason, reason) for reason in row["reasons"]]
        current = _current(review["items"], item)
        keys = _class_keys(review["classes"])
        return page(request, "review.html", {
            "title": f"Review — campaign {review['number']}", "principal": who, "review": review,
            "current": current, "item": review["items"][current] if review["items"] else None, "keys": keys,
            "data": {"campaign": review["number"], "current": current, "items": review["items"], "keys": keys,
                     "classes": review["classes"]},
        })

    @app.get("/ui/campaigns/{campaign}/review/{item}/image", include_in_schema=False)
    def review_image(request: Request, campaign: str, item: str) -> Response:
        signed_in(request, auth, REVIEWER)
        found = _found(lambda: retrain.ledger.read.find("campaign", campaign))
        items = retrain.feedback.review_items(found["id"]) if found else []
        sha = next((i.image_sha256 for i in items if i.item == item), None)
        if sha is None:
            return Response("no such review item", status_code=404, media_type="text/plain")
        data = retrain.blobs.get(sha)
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        return Response(data, media_type=kind, headers={"Cache-Control": "private, max-age=86400",
                                                        "X-Content-Type-Options": "nosniff"})

    @app.post("/ui/campaigns/{campaign}/review/{item}", include_in_schema=False)
    async def decide(request: Request, campaign: str, item: str) -> Response:
        who = signed_in(request, auth, REVIEWER)
        form = await request.form()
        check_csrf(request, _text(form, CSRF_FIELD))
        decision, label = _text(form, "decision"), _text(form, "label") or None
        wants_json = "application/json" in request.headers.get("accept", "")
        try:
            if decision not in ("approved", "rejected"):
                raise InvalidInput("decision: approved or rejected")
            await run_in_threadpool(retrain.campaigns.decide, campaign, item, approve=decision == "approved",
                                    label=label, actor=who.actor)
        except (DomainError, InvalidInput, NotFound) as error:
            status = 404 if isinstance(error, NotFound) else 422 if isinstance(error, InvalidInput) else 409
            if wants_json:
                return JSONResponse({"detail": str(error)}, status_code=status)
            return page(request, "error.html", {"title": "Decision refused", "principal": who, "message": str(error),
                                                "back": f"/ui/campaigns/{campaign}/review?item={item}"}, status=status)
        if wants_json:
            return JSONResponse({"item": item, "decision": decision, "label": label, "actor": who.actor})
        return RedirectResponse(f"/ui/campaigns/{campaign}/review", status_code=303)

    # -- rollout --------------------------------------------------------------------------------------
    def rollout_context(who: Principal, as_of: str | None, message: str | None = None,
                        error: str | None = None) -> dict[str, Any]:
        moment = _as_of(as_of)
        return {"title": "Rollout", "principal": who, "rollout": retrain.console.rollout(moment), "as_of": as_of,
                "can_operate": bool(who.roles & OPERATOR) and moment is None, "message": message, "error": error}

    @app.get("/ui/rollout", include_in_schema=False)
    def rollout_page(request: Request, as_of: str | None = None, done: str | None = None) -> Response:
        who = reader(request)
        try:
            context = rollout_context(who, as_of, message=_done(done))
        except InvalidInput as error:
            context = rollout_context(who, None, error=str(error))
        return page(request, "rollout.html", context)

    @app.post("/ui/rollout/{action}", include_in_schema=False)
    async def operate(request: Request, action: str) -> Response:
        who = signed_in(request, auth, OPERATOR)
        form = await request.form()
        check_csrf(request, _text(form, CSRF_FIELD))
        try:
            if action not in ROLLOUT_ACTIONS:
                raise NotFound(f"no rollout action {action!r}: use pause, resume, abort or promote-now")
            command = getattr(retrain.rollouts, ROLLOUT_ACTIONS[action])
            await run_in_threadpool(lambda: command(reason=_text(form, "reason"), actor=who.actor))
        except (DomainError, InvalidInput, NotFound) as error:
            status = 404 if isinstance(error, NotFound) else 422 if isinstance(error, InvalidInput) else 409
            context = await run_in_threadpool(rollout_context, who, None, None, str(error))
            return page(request, "rollout.html", context, status=status)
        return RedirectResponse(f"/ui/rollout?done={action}", status_code=303)

    # -- models ---------------------------------------------------------------------------------------
    def chart_context(moment: datetime | None) -> dict[str, Any]:
        satisfaction = retrain.console.satisfaction(moment)
        threshold = retrain.settings.triggers.satisfaction_min
        return {"charts": [
            ("Satisfaction per version, by day served", charts.satisfaction_chart(
                satisfaction["versions"], "Satisfaction per version", threshold)),
            ("Satisfaction per image type, by day served", charts.satisfaction_chart(
                satisfaction["image_types"], "Satisfaction per image type", threshold)),
            ("Accuracy per version on the validation and test sets", charts.accuracy_chart(
                retrain.console.accuracy(moment), "Accuracy per version")),
        ]}

    @app.get("/ui/models", include_in_schema=False)
    def models_page(request: Request, as_of: str | None = None) -> Response:
        who = reader(request)
        try:
            moment = _as_of(as_of)
        except InvalidInput as error:
            return page(request, "error.html", {"title": "Invalid time", "principal": who, "message": str(error),
                                                "back": "/ui/models"}, status=422)
        versions = retrain.ledger.read.versions(moment)
        return page(request, "models.html", {"title": "Models", "principal": who, "versions": versions,
                                             "as_of": as_of, **chart_context(moment)})

    @app.get("/ui/models/{version}", include_in_schema=False)
    def model_page(request: Request, version: str, as_of: str | None = None) -> Response:
        who = reader(request)
        try:
            moment = _as_of(as_of)
            story = retrain.audit.explain(version, moment)
        except (InvalidInput, NotFound) as error:
            status = 404 if isinstance(error, NotFound) else 422
            return page(request, "error.html", {"title": "Not found" if status == 404 else "Invalid time",
                                                "principal": who, "message": str(error), "back": "/ui/models"},
                        status=status)
        chapters: dict[str, list[dict[str, Any]]] = {}
        for entry in _grouped(story["story"]):
            chapters.setdefault(entry["chapter"], []).append(entry)
        return page(request, "model.html", {"title": f"Model {story['version']}", "principal": who,
                                            "story": story, "chapters": chapters, "as_of": as_of,
                                            **chart_context(moment)})


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _found(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except NotFound:
        return None


def _as_of(text: str | None) -> datetime | None:
    return parse_time("as_of", text) if text else None


def _current(items: list[dict[str, Any]], asked: str | None) -> int:
    """The item asked for, else the first undecided one, else the first."""
    for index, row in enumerate(items):
        if asked is not None and row["item"] == asked:
            return index
    return next((index for index, row in enumerate(items) if row["decision"] is None), 0)


def _class_keys(classes: list[str]) -> dict[str, str]:
    """A class's first character approves with that label, when no other class shares it and it is not one of
    the page's own keys (a, r, j, k)."""
    firsts = [c[:1].lower() for c in classes]
    return {first: label for first, label in zip(firsts, classes, strict=True)
            if first and firsts.count(first) == 1 and first not in "arjk"}


def _done(action: str | None) -> str | None:
    names = {"pause": "paused", "resume": "resumed", "abort": "aborted", "promote-now": "promoted one phase"}
    return f"The rollout was {names[action]}." if action in names else None


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


def _grouped(story: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The story with each run of review decisions told as one entry (counts and reviewers), not one per item, and
    without the workers' claims of campaign steps (coordination, not decisions)."""
    told: list[dict[str, Any]] = []
    for entry in story:
        if entry["event"] in UNTOLD:
            continue
        if entry["event"] != "ReviewDecided":
            told.append(entry)
            continue
        if not told or told[-1]["event"] != "ReviewDecisions":
            told.append({**entry, "event": "ReviewDecisions", "details": {
                "count": 0, "approved": 0, "rejected": 0, "relabelled": 0, "actors": []}})
        tally, d = told[-1]["details"], entry["details"]
        tally["count"] += 1
        tally["approved" if d.get("decision") == "approved" else "rejected"] += 1
        tally["relabelled"] += 1 if d.get("label") else 0
        if entry["actor"] not in tally["actors"]:
            tally["actors"].append(entry["actor"])
    return told
