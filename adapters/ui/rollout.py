"""The rollout page (`/ui/rollout`, role reader; actions need operator): the phase, its time left and the
candidate's health, and pause/resume/abort/promote-now through the `Rollouts` commands, each with a reason."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from adapters.ui import charts
from adapters.ui.rendering import Renderer, as_of, form_text, refusal_status
from adapters.ui.session import CSRF_FIELD, check_csrf, signed_in
from adapters.web_auth import READ_ROLES, Authenticator, Principal
from application.retrain import Retrain
from domain.errors import DomainError, InvalidInput, NotFound

ACTIONS = {"pause": "pause", "resume": "resume", "abort": "abort", "promote-now": "promote_now"}
DONE = {"pause": "paused", "resume": "resumed", "abort": "aborted", "promote-now": "promoted one phase"}
OPERATOR = frozenset({"operator"})


def _interval_charts(rollout: dict[str, Any] | None) -> list[tuple[str, Markup]]:
    """One chart per check over the phase's time; a per-type check only once it has its samples."""
    if rollout is None:
        return []
    shown = [series for series in rollout["trajectory"]
             if "/" not in series["name"] or any(p["low"] is not None for p in series["points"])]
    return [(series["name"], charts.interval_chart(series)) for series in shown]


def add_rollout_pages(app: FastAPI, retrain: Retrain, auth: Authenticator, page: Renderer) -> None:
    def context(who: Principal, when: str | None, message: str | None = None,
                error: str | None = None) -> dict[str, Any]:
        moment = as_of(when)
        rollout = retrain.console.rollout(moment)
        return {"title": "Rollout", "principal": who, "rollout": rollout, "as_of": when,
                "charts": _interval_charts(rollout),
                "last": None if rollout is not None else retrain.console.last_rollout(moment),
                "can_operate": bool(who.roles & OPERATOR) and moment is None, "message": message, "error": error}

    @app.get("/ui/rollout", include_in_schema=False)
    def rollout_page(request: Request, as_of: str | None = None, done: str | None = None) -> Response:
        who = signed_in(request, auth, READ_ROLES)
        message = f"The rollout was {DONE[done]}." if done in DONE else None
        try:
            shown = context(who, as_of, message=message)
        except InvalidInput as error:
            shown = context(who, None, error=str(error))
        return page(request, "rollout.html", shown)

    @app.post("/ui/rollout/{action}", include_in_schema=False)
    async def operate(request: Request, action: str) -> Response:
        who = signed_in(request, auth, OPERATOR)
        form = await request.form()
        check_csrf(request, form_text(form, CSRF_FIELD))
        try:
            if action not in ACTIONS:
                raise NotFound(f"no rollout action {action!r}: use pause, resume, abort or promote-now")
            command = getattr(retrain.rollouts, ACTIONS[action])
            await run_in_threadpool(lambda: command(reason=form_text(form, "reason"), actor=who.actor))
        except (DomainError, InvalidInput, NotFound) as error:
            shown = await run_in_threadpool(context, who, None, None, str(error))
            return page(request, "rollout.html", shown, status=refusal_status(error))
        return RedirectResponse(f"/ui/rollout?done={action}", status_code=303)
