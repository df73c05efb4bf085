"""The web server of `retrain serve` (SPEC 5.2 and 5.3): the HTTP API and, beside it, the web console, over one object
graph. The API (`adapters.http`) and the console (`adapters.ui`) never import each other: they share the tokens and
roles through `adapters.web_auth`, and this module alone puts them together."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from fastapi import FastAPI

from adapters.http.app import create_app
from adapters.ui.pages import install_console
from application.settings import load_settings
from bootstrap import Container, build_clock


def web_app(container: Container, *, background: bool | Literal["lock"] = True) -> FastAPI:
    """The API with the console (same use cases, same roles); `background` as for `create_app`."""
    app = create_app(container, background=background)
    install_console(app, container.retrain, app.state.auth)
    return app


def app_from_environment() -> FastAPI:
    """The app of one of several server processes (`retrain serve --processes N`): settings from the environment
    (RETRAIN_* variables, and the TOML file named by RETRAIN_CONFIG_FILE); the one process that takes the home's
    loop lock runs the background loop."""
    config = os.environ.get("RETRAIN_CONFIG_FILE")
    settings = load_settings(Path(config) if config else None)
    return web_app(Container(settings, build_clock(None), server=True), background="lock")
