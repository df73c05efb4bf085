"""The review page (`/ui/campaigns/{id}/review`, role reviewer): each critical item's image and context, decided
through `Campaigns.decide` as the CLI and the API decide it, with the keyboard contract of static/review.js."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.ui.rendering import Renderer, form_text, found_or_none, refusal_status
from adapters.ui.session import CSRF_FIELD, check_csrf, signed_in
from adapters.web_auth import READ_ROLES, Authenticator
from application.retrain import Retrain
from domain.errors import DomainError, InvalidInput, NotFound

REVIEWER = frozenset({"reviewer"})
PAGE_KEYS = "arjk"  # the page's own keys win over a class's first character


def add_review_pages(app: FastAPI, retrain: Retrain, auth: Authenticator, page: Renderer) -> None:
    @app.get("/ui/campaigns", include_in_schema=False)
    def campaigns_page(request: Request) -> Response:
        who = signed_in(request, auth, READ_ROLES)
        listed = list(reversed(retrain.ledger.read.campaigns()))
        return page(request, "campaigns.html", {"title": "Campaigns", "principal": who, "campaigns": listed})

    @app.get("/ui/campaigns/{campaign}/review", include_in_schema=False)
    def review_page(request: Request, campaign: str, item: str | None = None) -> Response:
        who = signed_in(request, auth, REVIEWER)
        review = found_or_none(lambda: retrain.console.review(campaign))
        if review is None:
            return page.refusal(request, who, "Not found", NotFound(f"no campaign {campaign!r}"), "/ui/campaigns")
        why = _reasons(retrain)
        for row in review["items"]:
            row["why"] = [why.get(reason, reason) for reason in row["reasons"]]
        current = current_item(review["items"], item)
        keys = class_keys(review["classes"])
        return page(request, "review.html", {
            "title": f"Review — campaign {review['number']}", "principal": who, "review": review,
            "current": current, "item": review["items"][current] if review["items"] else None, "keys": keys,
            "data": {"campaign": review["number"], "current": current, "items": review["items"], "keys": keys,
                     "classes": review["classes"]},
        })

    @app.get("/ui/campaigns/{campaign}/review/{item}/image", include_in_schema=False)
    def review_image(request: Request, campaign: str, item: str) -> Response:
        """Only the images of the campaign's review items: a reviewer reaches no other user's image."""
        signed_in(request, auth, REVIEWER)
        found = found_or_none(lambda: retrain.ledger.read.find("campaign", campaign))
        items = retrain.feedback.review_items(found["id"]) if found else []
        sha = next((i.image_sha256 for i in items if i.item == item), None)
        if sha is None:
            return Response("no such review item", status_code=404, media_type="text/plain")
        data = retrain.blobs.get(sha)
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        # Not kept by the browser: an image is personal data, and `retrain forget` must leave no copy behind.
        return Response(data, media_type=kind,
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    @app.post("/ui/campaigns/{campaign}/review/{item}", include_in_schema=False)
    async def decide(request: Request, campaign: str, item: str) -> Response:
        who = signed_in(request, auth, REVIEWER)
        form = await request.form()
        check_csrf(request, form_text(form, CSRF_FIELD))
        decision, label = form_text(form, "decision"), form_text(form, "label") or None
        wants_json = "application/json" in request.headers.get("accept", "")
        try:
            if decision not in ("approved", "rejected"):
                raise InvalidInput("decision: approved or rejected")
            await run_in_threadpool(retrain.review.decide, campaign, item, approve=decision == "approved",
                                    label=label, actor=who.actor)
        except (DomainError, InvalidInput, NotFound) as error:
            if wants_json:
                return JSONResponse({"detail": str(error)}, status_code=refusal_status(error))
            return page.refusal(request, who, "Decision refused", error, f"/ui/campaigns/{campaign}/review?item={item}")
        if wants_json:
            return JSONResponse({"item": item, "decision": decision, "label": label, "actor": who.actor})
        return RedirectResponse(f"/ui/campaigns/{campaign}/review", status_code=303)


def _reasons(retrain: Retrain) -> dict[str, str]:
    """Why an item is critical (rule 4.3), in words."""
    policy = retrain.settings.curation
    return {"label_from_comment": "the label was read from the comment",
            "confident_but_wrong": f"the model was at least {policy.critical_confidence:.0%} sure, yet wrong",
            "rare_class": f"fewer than {policy.rare_class_min} items of this class"}


def current_item(items: list[dict[str, Any]], asked: str | None) -> int:
    """The item asked for, else the first undecided one, else the first."""
    for index, row in enumerate(items):
        if asked is not None and row["item"] == asked:
            return index
    return next((index for index, row in enumerate(items) if row["decision"] is None), 0)


def class_keys(classes: list[str]) -> dict[str, str]:
    """A class's first character approves with that label, when no other class shares it and it is not one of
    the page's own keys (a, r, j, k)."""
    firsts = [c[:1].lower() for c in classes]
    return {first: label for first, label in zip(firsts, classes, strict=True)
            if first and firsts.count(first) == 1 and first not in PAGE_KEYS}
