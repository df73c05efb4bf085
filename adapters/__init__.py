"""Adapters: torch, SQLAlchemy, the blob stores, FastAPI, Typer — the outside world behind the ports."""
