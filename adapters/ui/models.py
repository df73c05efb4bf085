"""The models pages (`/ui/models`, `/ui/models/{v}`, role reader): versions and lineage, one version's `explain`
as a timeline by chapter, and the charts, as known now or `?as_of=` a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from adapters.ui import charts
from adapters.ui.rendering import Renderer, as_of
from adapters.ui.session import signed_in
from adapters.web_auth import READ_ROLES, Authenticator
from application.retrain import Retrain
from domain.errors import InvalidInput, NotFound

UNTOLD = frozenset({"StepClaimed"})  # workers' claims of campaign steps: coordination, not decisions


def add_model_pages(app: FastAPI, retrain: Retrain, auth: Authenticator, page: Renderer) -> None:
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
        who = signed_in(request, auth, READ_ROLES)
        try:
            moment = _moment(as_of)
        except InvalidInput as error:
            return page.refusal(request, who, "Invalid time", error, "/ui/models")
        versions = retrain.ledger.read.versions(moment)
        return page(request, "models.html", {"title": "Models", "principal": who, "versions": versions,
                                             "as_of": as_of, **chart_context(moment)})

    @app.get("/ui/models/{version}", include_in_schema=False)
    def model_page(request: Request, version: str, as_of: str | None = None) -> Response:
        who = signed_in(request, auth, READ_ROLES)
        try:
            moment = _moment(as_of)
            story = retrain.audit.explain(version, moment)
        except (InvalidInput, NotFound) as error:
            title = "Not found" if isinstance(error, NotFound) else "Invalid time"
            return page.refusal(request, who, title, error, "/ui/models")
        chapters: dict[str, list[dict[str, Any]]] = {}
        for entry in told(story["story"]):
            chapters.setdefault(entry["chapter"], []).append(entry)
        return page(request, "model.html", {"title": f"Model {story['version']}", "principal": who,
                                            "story": story, "chapters": chapters, "as_of": as_of,
                                            **chart_context(moment)})


def _moment(text: str | None) -> datetime | None:
    return as_of(text)


def told(story: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The story with each run of review decisions told as one entry (counts and reviewers), not one per item, and
    without the workers' step claims."""
    entries: list[dict[str, Any]] = []
    for entry in story:
        if entry["event"] in UNTOLD:
            continue
        if entry["event"] != "ReviewDecided":
            entries.append(entry)
            continue
        if not entries or entries[-1]["event"] != "ReviewDecisions":
            entries.append({**entry, "event": "ReviewDecisions", "details": {
                "count": 0, "approved": 0, "rejected": 0, "relabelled": 0, "actors": []}})
        tally, d = entries[-1]["details"], entry["details"]
        tally["count"] += 1
        tally["approved" if d.get("decision") == "approved" else "rejected"] += 1
        tally["relabelled"] += 1 if d.get("label") else 0
        if entry["actor"] not in tally["actors"]:
            tally["actors"].append(entry["actor"])
    return entries
