"""Screenshots of the web console for the docs: `python -m tests.e2e.console_screenshots HOME OUT_DIR [PAGE...]`,
where PAGE is a name below or NAME=PATH (`review=/ui/campaigns/6/review`).

Serves HOME with `retrain serve` (tokens of tests/e2e/server.py), signs in with the operator-and-reviewer token a
user would hold, and saves one PNG per page (default: every page). Needs Debian's chromium and Playwright."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from tests.e2e.console_setup import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.server import Server, service_env

PAGES = {"models": "/ui/models", "model": "/ui/models/v2", "rollout": "/ui/rollout",
         "review": "/ui/campaigns/1/review", "campaigns": "/ui/campaigns", "sign-in": "/ui/sign-in"}
TOKEN = "tok-console-docs"


def main(home: Path, out: Path, names: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    tokens = [{"name": "alice", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
               "roles": ["reader", "reviewer", "operator"]}]
    server = Server(home, "--no-worker", env=service_env(RETRAIN_SERVE__TICK_SECONDS="3600",
                                                         RETRAIN_API__TOKENS=json.dumps(tokens)))
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
            page = context.new_page()
            page.goto("/ui/sign-in")
            if "sign-in" in names:
                page.screenshot(path=str(out / "console-sign-in.png"))
            page.fill("input[name=token]", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url("**/ui/models")
            for asked in names:
                name, _, path = asked.partition("=")
                if name == "sign-in":
                    continue
                page.goto(path or PAGES[name])
                page.screenshot(path=str(out / f"console-{name}.png"), full_page=name in ("models", "model"))
                print(out / f"console-{name}.png")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:] or list(PAGES))
