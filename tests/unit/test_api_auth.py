"""API authentication (SPEC 5.2): bearer tokens with roles, of which settings keep only the sha256; no token
configured means every request acts as `api:local` (the server then listens on loopback only)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fastapi import HTTPException
from pydantic import ValidationError
from starlette.requests import Request

from adapters.web_auth import LOCAL, READ_ROLES, ROLES, Authenticator
from application.settings import ApiToken, SettingsError, load_settings

SECRET = "correct horse battery staple"
DIGEST = hashlib.sha256(SECRET.encode()).hexdigest()
REVIEWER = ApiToken(name="reviewer-1", sha256=DIGEST, roles=("reviewer",))
INGEST = ApiToken(name="camera-app", sha256=hashlib.sha256(b"another secret").hexdigest(), roles=("ingest",))


def request_with(authorization: str | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "method": "GET", "path": "/v1/models", "headers": headers})


def refusal(auth: Authenticator, authorization: str | None, allowed: frozenset[str]) -> HTTPException:
    with pytest.raises(HTTPException) as refused:
        auth.require(request_with(authorization), allowed)
    return refused.value


@pytest.fixture
def auth() -> Authenticator:
    return Authenticator((INGEST, REVIEWER))


# -- no token configured ------------------------------------------------------------------------------------
def test_without_tokens_every_request_is_the_local_principal_with_every_role() -> None:
    auth = Authenticator(())
    assert auth.open
    for role in ROLES:
        principal = auth.require(request_with(None), frozenset({role}))
        assert principal is LOCAL
    assert (LOCAL.actor, LOCAL.roles) == ("api:local", frozenset({"ingest", "reviewer", "operator", "reader"}))


def test_without_tokens_a_bearer_token_is_ignored() -> None:
    assert Authenticator(()).require(request_with("Bearer anything"), frozenset({"operator"})) is LOCAL


# -- tokens configured --------------------------------------------------------------------------------------
def test_a_known_token_with_the_role_acts_as_its_name(auth: Authenticator) -> None:
    principal = auth.require(request_with(f"Bearer {SECRET}"), frozenset({"reviewer"}))
    assert (principal.name, principal.actor, principal.roles) == ("reviewer-1", "api:reviewer-1",
                                                                   frozenset({"reviewer"}))
    assert not auth.open


def test_the_scheme_is_case_insensitive(auth: Authenticator) -> None:
    assert auth.require(request_with(f"bearer {SECRET}"), frozenset({"reviewer"})).name == "reviewer-1"


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer    ", f"Basic {SECRET}", SECRET])
def test_a_request_without_a_bearer_token_is_unauthorized(auth: Authenticator, authorization: str | None) -> None:
    refused = refusal(auth, authorization, frozenset({"reader"}))
    assert (refused.status_code, refused.detail) == (401, "a bearer token is required")
    assert refused.headers == {"WWW-Authenticate": "Bearer"}


def test_an_unknown_token_is_unauthorized(auth: Authenticator) -> None:
    refused = refusal(auth, "Bearer not-a-token-we-know", frozenset({"reader"}))
    assert (refused.status_code, refused.detail) == (401, "the bearer token is not valid")


def test_the_stored_digest_itself_is_not_a_token(auth: Authenticator) -> None:
    assert refusal(auth, f"Bearer {DIGEST}", frozenset({"reviewer"})).status_code == 401


def test_a_token_without_the_role_is_forbidden(auth: Authenticator) -> None:
    refused = refusal(auth, "Bearer another secret", frozenset({"operator"}))
    assert (refused.status_code, refused.detail) == (403, "this token lacks the role operator")


def test_a_forbidden_request_names_every_role_that_would_do(auth: Authenticator) -> None:
    refused = refusal(auth, "Bearer another secret", READ_ROLES)
    assert refused.detail == "this token lacks the role operator or reader or reviewer"


def test_any_one_of_the_allowed_roles_is_enough(auth: Authenticator) -> None:
    assert auth.require(request_with(f"Bearer {SECRET}"), READ_ROLES).name == "reviewer-1"


# -- the tokens in settings -------------------------------------------------------------------------------------
def test_a_token_may_hold_several_roles() -> None:
    token = ApiToken(name="ops.team@site-1", sha256=DIGEST, roles=("operator", "reader"))
    assert token.roles == ("operator", "reader")


@pytest.mark.parametrize(("fields", "where"), [
    ({"roles": ()}, "roles"),
    ({"roles": ("admin",)}, "roles"),
    ({"sha256": DIGEST.upper()}, "sha256"),
    ({"sha256": DIGEST[:63]}, "sha256"),
    ({"name": ""}, "name"),
    ({"name": "has space"}, "name"),
    ({"name": "n" * 65}, "name"),
    ({"secret": SECRET}, "secret"),
])
def test_an_invalid_token_is_refused_naming_the_field(fields: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ApiToken(**{"name": "reviewer-1", "sha256": DIGEST, "roles": ("reviewer",), **fields})
    assert refused.value.errors()[0]["loc"][0] == where


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("RETRAIN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_tokens_come_from_the_environment_as_json(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("RETRAIN_API__TOKENS", json.dumps([
        {"name": "reviewer-1", "sha256": DIGEST, "roles": ["reviewer", "reader"]}]))
    assert load_settings().api.tokens == (ApiToken(name="reviewer-1", sha256=DIGEST, roles=("reviewer", "reader")),)


@pytest.mark.parametrize("roles", [[], ["admin"]])
def test_an_invalid_token_in_the_environment_fails_naming_the_setting(
    clean_environment: pytest.MonkeyPatch, roles: list[str]
) -> None:
    clean_environment.setenv("RETRAIN_API__TOKENS", json.dumps([{"name": "x", "sha256": DIGEST, "roles": roles}]))
    with pytest.raises(SettingsError, match=r"invalid setting api\.tokens\.0\.roles"):
        load_settings()


def test_tokens_that_are_not_json_fail_naming_the_setting(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("RETRAIN_API__TOKENS", "reviewer-1:abc")
    with pytest.raises(SettingsError, match="api"):
        load_settings()


def test_tokens_that_are_not_json_are_not_blamed_on_a_configuration_file(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("RETRAIN_API__TOKENS", "reviewer-1:abc")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "configuration file" not in str(refused.value)
