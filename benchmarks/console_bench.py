"""The review page with 500 critical items (issue 12: "stays fast with 500 items"), in Debian's Chromium.

`.venv/bin/python -m benchmarks.console_bench [WORK_DIR]` prepares a home once (1,500 real digits v1 got wrong, every
third labelled in a comment: about 500 critical items; the setup of the browser tests, tests/e2e/console_setup.py),
serves it with `retrain serve`, and prints: the server's time to render the page, the browser's time to load it,
a decision's round trip from the key `a` to the progress shown, and a move with `j`."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.e2e.cli import run
from tests.e2e.console_setup import CHROMIUM, CHROMIUM_ARGS, console_home
from tests.e2e.server import TOKENS, Server, service_env


def prepared(root: Path) -> Path:
    if (root / "home").exists():
        return root / "home"
    from adapters.torch.models import build_model, state_dict_bytes

    root.mkdir(parents=True, exist_ok=True)
    weights = root / "weights.pt"
    weights.write_bytes(state_dict_bytes(build_model("digits-cnn", 10)))
    started = time.perf_counter()
    home = console_home(root, weights, count=1500)
    print(f"home prepared in {time.perf_counter() - started:.1f} s: {root / 'home'}", file=sys.stderr)
    return home


def server_render_ms(server: Server, rounds: int = 10) -> list[float]:
    with httpx.Client(base_url=server.url) as client:
        client.get("/ui/sign-in")
        client.post("/ui/sign-in", data={"token": TOKENS["reviewer"], "csrf": client.cookies["retrain_csrf"]})
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            assert client.get("/ui/campaigns/1/review").status_code == 200
            times.append(1000 * (time.perf_counter() - started))
    return times


def browser_ms(server: Server) -> dict[str, list[float]]:
    from playwright.sync_api import expect, sync_playwright

    figures: dict[str, list[float]] = {"load": [], "decide": [], "move": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=server.url)
        page.goto("/ui/campaigns/1/review")
        page.fill("input[name=token]", TOKENS["reviewer"])
        page.click("button[type=submit]")
        page.wait_for_url("**/ui/campaigns/1/review*")
        for _ in range(5):
            started = time.perf_counter()
            page.goto("/ui/campaigns/1/review")
            figures["load"].append(1000 * (time.perf_counter() - started))
        decided, _, total = page.inner_text("#progress").split()[:3]
        for step in range(1, 11):
            started = time.perf_counter()
            page.keyboard.press("a")
            expect(page.locator("#progress")).to_have_text(f"{int(decided) + step} of {total} decided")
            figures["decide"].append(1000 * (time.perf_counter() - started))
        for _ in range(20):
            before = page.inner_text("#item-ref")
            started = time.perf_counter()
            page.keyboard.press("j")
            expect(page.locator("#item-ref")).not_to_have_text(before)
            figures["move"].append(1000 * (time.perf_counter() - started))
        browser.close()
    return figures


def main(root: Path) -> None:
    home = prepared(root)
    items = len(json.loads(run(home, "review", "list", "1", "--json").stdout))
    server = Server(home, "--no-worker", env=service_env(RETRAIN_SERVE__TICK_SECONDS="3600"))
    try:
        rendered = server_render_ms(server)
        seen = browser_ms(server)
    finally:
        server.stop()
    print(f"review page of campaign 1 with {items} critical items (medians, min-max, ms)")
    rows = [("server renders the page", rendered), ("browser loads the page", seen["load"]),
            ("key a until the progress shows the decision", seen["decide"]),
            ("key j until the next item shows", seen["move"])]
    for name, values in rows:
        print(f"  {name:<46} {statistics.median(values):7.1f}   ({min(values):.1f}-{max(values):.1f})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="console-bench-")))
