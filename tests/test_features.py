"""Runs every feature of features/ against the in-memory adapters."""

from pytest_bdd import scenarios

scenarios(".")
