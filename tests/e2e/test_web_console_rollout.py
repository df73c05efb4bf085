"""The rollout page in a real Chromium, on a rollout with traffic (issue 25): an operator sees why in one screen.
While the candidate runs, each check shows both versions, the difference and its always-valid interval, drawn over
the phase's time; once the tick has rolled it back, the page tells the last rollout's decisions with the evidence
each one recorded, as `explain` does."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import run
from tests.e2e.console_setup import CHROMIUM_ARGS, chromium_or_skip, rollout_with_traffic, serve_hours
from tests.e2e.server import TOKENS, Server, service_env


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, weights: Path) -> Iterator[tuple[Any, Server]]:
    executable = chromium_or_skip()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    home = rollout_with_traffic(tmp_path_factory.mktemp("rollout-page"), weights)
    server = Server(home, "--no-worker", env=service_env(RETRAIN_SERVE__TICK_SECONDS="3600"))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 900})
            shown = context.new_page()
            shown.goto("/ui/rollout")
            shown.fill("input[name=token]", TOKENS["reader"])
            shown.click("button[type=submit]")
            shown.wait_for_url(re.compile(r"/ui/rollout$"))
            yield shown, server
            browser.close()
    finally:
        server.stop()


def test_a_running_phase_shows_each_check_with_both_versions_and_its_interval_over_time(page: Any) -> None:
    shown, _ = page
    from playwright.sync_api import expect

    row = shown.locator("table.health tr", has=shown.locator("td", has_text=re.compile(r"^satisfaction$")))
    cells = row.locator("td").all_inner_texts()
    assert cells[1:4] == ["80.0%", "83.3%", "-3.3 pts"], cells  # the candidate's 192 of 240 against 600 of 720
    low, high = (float(v) for v in re.findall(r"[+-][\d.]+", cells[4])[:2])
    assert low < -3.3 < 0 < high, cells  # not confidently worse: the candidate goes on
    assert cells[5] == "240 / 720" and cells[7] == "ok", cells
    figure = shown.locator("section.trajectory figure", has=shown.locator("figcaption", has_text=re.compile(
        r"^satisfaction$")))
    expect(figure.locator("svg polygon.band")).to_have_count(1)
    assert figure.locator("svg circle.point").count() >= 10  # one per moment with its samples, over 12 hours
    assert "fails below +0 pts" in figure.locator("svg").inner_html()
    for check in ("error_rate", "latency", "satisfaction_floor", "error_rate_floor"):
        expect(shown.locator("section.trajectory figcaption", has_text=re.compile(f"^{check}$"))).to_have_count(1)


def test_after_the_rollback_the_page_tells_the_decision_with_its_evidence(page: Any) -> None:
    shown, server = page
    started = datetime.fromisoformat(json.loads(run(server.home, "rollout", "status", "--json").stdout)[
        "phase_started_at"])
    serve_hours(server.home, started, range(7, 12), candidate_satisfied=16)  # then the candidate does far worse
    ticked = run(server.home, "tick")
    assert ticked.returncode == 0, ticked.stderr
    shown.goto("/ui/rollout")
    last = shown.locator("section.last-rollout")
    assert "rolled back" in last.locator("h2").inner_text()
    decision = last.locator("table.decisions tbody tr").first
    text = decision.inner_text()
    assert "RolledBack" in text and "phase health failed: satisfaction" in text, text
    failed = decision.locator("span.check.failed").first.inner_text()
    assert re.match(r"satisfaction FAILED -21\.\d pts \[-\d+\.\d … -\d+\.\d\] \(440/1320\), α 0\.026", failed), failed
    explained = json.loads(run(server.home, "explain", "v2", "--json").stdout)
    recorded = next(e for e in explained["events"] if e["event"] == "RolledBack")["details"]["evidence"]
    assert recorded["satisfaction"]["state"] == "failed" and recorded["satisfaction"]["samples"] == 440
