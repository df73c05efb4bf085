"""The web console in a real Chromium (SPEC 5.3): sign in, review with the keyboard, pause a rollout, read the story.

One home is prepared for the module (real digits awaiting review, a rollout at 10%) and served by `retrain serve`;
each test drives its own browser context (its own cookies)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cli import run
from tests.e2e.console_setup import CHROMIUM_ARGS, chromium_or_skip, console_home, start_rollout
from tests.e2e.server import TOKENS, Server, service_env

PAGES = ["/ui/models", "/ui/models/v1", "/ui/rollout", "/ui/campaigns", "/ui/campaigns/1/review"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded CI machine

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def served(chromium: Any, tmp_path_factory: pytest.TempPathFactory, weights: Path) -> Iterator[Server]:
    home = console_home(tmp_path_factory.mktemp("console"), weights)
    start_rollout(home, weights)
    server = Server(home, "--no-worker", env=service_env(RETRAIN_SERVE__TICK_SECONDS="3600"))
    yield server
    server.stop()


@pytest.fixture
def browse(chromium: Any, served: Server) -> Iterator[Any]:
    """A fresh browser context on the server; every URL it requested is kept in `context.requested`."""
    context = chromium.new_context(base_url=served.url, viewport={"width": 1400, "height": 900})
    context.requested = []
    context.on("request", lambda request: context.requested.append(request.url))
    yield context
    context.close()


def sign_in(context: Any, role: str, path: str) -> Any:
    """Open `path`, land on the sign-in page, paste the token, and come back to `path`."""
    page = context.new_page()
    page.goto(path)
    assert page.url.split("?")[0].endswith("/ui/sign-in"), page.url
    page.fill("input[name=token]", TOKENS[role])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(path.split("?")[0]) + r"(\?.*)?$"))
    return page


def history(home: Path) -> list[dict[str, Any]]:
    return json.loads(run(home, "history", "--json").stdout)


def test_without_a_token_every_page_redirects_to_sign_in_and_back(served: Server, browse: Any) -> None:
    with httpx.Client(base_url=served.url) as anonymous:
        for path in [*PAGES, "/ui/campaigns/1/review/x/image"]:
            answer = anonymous.get(path)
            assert answer.status_code == 303, (path, answer.status_code)
            assert answer.headers["location"].startswith("/ui/sign-in?next=%2Fui%2F"), answer.headers["location"]
        wrong = anonymous.post("/ui/sign-in", data={"token": "nope"})
        assert wrong.status_code == 403  # no CSRF token: refused before the token is even looked at
    page = sign_in(browse, "reader", "/ui/rollout")
    assert page.locator("h1").inner_text() == "Rollout"
    cookies = {c["name"]: c for c in browse.cookies()}
    assert cookies["retrain_token"]["httpOnly"] and cookies["retrain_token"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # neither cookie is readable by a script
    assert page.locator("form[action='/ui/rollout/pause']").count() == 0  # a reader sees, an operator acts
    refused = browse.new_page()
    refused.goto("/ui/campaigns/1/review")
    assert "lacks the role reviewer" in refused.inner_text("body")


def test_a_reviewer_decides_three_items_with_the_keyboard(served: Server, browse: Any) -> None:
    from playwright.sync_api import expect

    page = sign_in(browse, "reviewer", "/ui/campaigns/1/review")
    total = len(json.loads(run(served.home, "review", "list", "1", "--json").stdout))
    assert total > 20
    assert page.inner_text("#progress") == f"0 of {total} decided"
    assert page.evaluate("document.getElementById('image').naturalWidth") == 8  # the user's 8x8 digit, shown
    assert page.locator("#image").bounding_box()["width"] >= 256
    assert page.inner_text("#comment") != ""
    assert "the label was read from the comment" in page.inner_text("#reasons")  # every third user wrote it

    decided: dict[str, tuple[str, str | None]] = {}
    first = page.inner_text("#item-ref")
    page.keyboard.press("a")
    expect(page.locator("#progress")).to_have_text(f"1 of {total} decided")
    decided[first] = ("approved", None)
    second = page.inner_text("#item-ref")
    assert second != first  # the next undecided item became current
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.inner_text("#item-ref") == second
    page.keyboard.press("r")
    expect(page.locator("#progress")).to_have_text(f"2 of {total} decided")
    decided[second] = ("rejected", None)
    page.keyboard.press("ArrowDown")  # skip one: the item after next is decided with a class's key
    third = page.inner_text("#item-ref")
    page.keyboard.press("7")
    expect(page.locator("#progress")).to_have_text(f"3 of {total} decided")
    decided[third] = ("approved", "7")

    listed = {i["item"]: i for i in json.loads(run(served.home, "review", "list", "1", "--json").stdout)}
    assert {item: listed[item]["decision"] for item in decided} == {k: v[0] for k, v in decided.items()}
    assert listed[third]["label"] == "7"
    assert sum(1 for i in listed.values() if i["decision"]) == 3
    recorded = [e for e in history(served.home) if e["event"] == "ReviewDecided"]
    assert {(e["details"]["item"], e["actor"]) for e in recorded} == {(item, "api:reviewer") for item in decided}

    page.reload()  # the decisions are the server's, not the page's
    assert page.inner_text("#progress") == f"3 of {total} decided"


def test_an_operator_pauses_the_rollout_from_the_page_with_a_reason(served: Server, browse: Any) -> None:
    page = sign_in(browse, "operator", "/ui/rollout")
    assert page.inner_text("#state") == "active" and page.inner_text("#percent") == "10%"
    assert page.locator("table.health tbody tr").count() == 5  # 3 comparisons with the stable version, 2 floors
    header = page.inner_text("table.health thead")
    assert all(column in header for column in ("candidate", "stable", "difference", "always-valid interval"))
    assert re.fullmatch(r"2[34]\.\d h", page.inner_text("#time-left"))  # of the 24 h phase just started
    page.click("form.operate-pause button")  # an empty reason: the browser asks for one, nothing is sent
    assert page.inner_text("#state") == "active"
    page.fill("form.operate-pause input[name=reason]", "a user reports blurry results")
    page.click("form.operate-pause button")
    page.wait_for_url(re.compile(r"/ui/rollout\?done=pause$"))
    assert page.inner_text("#state") == "paused"
    assert "a user reports blurry results" in page.inner_text("table.decisions tbody tr >> nth=0")
    paused = [e for e in history(served.home) if e["event"] == "Paused"]
    assert [(e["actor"], e["details"]["reason"]) for e in paused] == [("api:operator", "a user reports blurry results")]
    status = json.loads(run(served.home, "rollout", "status", "--json").stdout)
    assert status["state"] == "paused"


def test_a_post_without_the_csrf_token_changes_nothing(served: Server, browse: Any) -> None:
    sign_in(browse, "operator", "/ui/rollout")
    cookies = {c["name"]: c["value"] for c in browse.cookies()}
    before = history(served.home)
    with httpx.Client(base_url=served.url, cookies={"retrain_token": cookies["retrain_token"]}) as forged:
        assert forged.post("/ui/rollout/abort", data={"reason": "forged"}).status_code == 403
        assert forged.post("/ui/rollout/abort", data={"reason": "forged", "csrf": "guess"}).status_code == 403
    with httpx.Client(base_url=served.url, cookies=cookies) as other_site:  # the right token, sent from elsewhere
        answer = other_site.post("/ui/rollout/abort", data={"reason": "forged", "csrf": cookies["retrain_csrf"]},
                                 headers={"Origin": "https://evil.example"})
        assert answer.status_code == 403
    reviewer = browse.browser.new_context(base_url=served.url)
    try:
        page = sign_in(reviewer, "reviewer", "/ui/campaigns/1/review")
        item = page.inner_text("#item-ref")
        token = {c["name"]: c["value"] for c in reviewer.cookies()}["retrain_token"]
        with httpx.Client(base_url=served.url, cookies={"retrain_token": token}) as forged:
            assert forged.post(f"/ui/campaigns/1/review/{item}", data={"decision": "rejected"}).status_code == 403
    finally:
        reviewer.close()
    assert history(served.home) == before


def test_the_models_pages_tell_the_story_with_charts_and_load_nothing_from_outside(
    served: Server, browse: Any,
) -> None:
    page = sign_in(browse, "reader", "/ui/models")
    assert page.locator("table.grid tbody tr").count() == 2, page.inner_text("main")
    assert page.locator("svg.chart").count() == 3
    assert "v1" in (page.locator("svg.chart").first.text_content() or "")  # satisfaction per version: v1's line
    page.click("a[href='/ui/models/v1']")
    page.wait_for_url(re.compile(r"/ui/models/v1$"))
    chapters = [text.lower() for text in page.locator("h3.chapter").all_inner_texts()]
    assert chapters == ["training", "rollout", "service"], chapters  # registered; promoted, then rolled out against
    assert page.locator("li.event.ThresholdBreached").count() >= 1  # the breach that opened campaign 1
    assert page.locator("aside svg.chart").count() == 3
    early = browse.new_page()
    early.goto("/ui/models?as_of=2026-01-01T00:00:00Z")
    assert "No version is registered" in early.inner_text("main")
    for path in PAGES:
        browse.new_page().goto(path)
    own = served.url + "/"
    assert browse.requested and all(url.startswith(own) for url in browse.requested), [
        url for url in browse.requested if not url.startswith(own)]
