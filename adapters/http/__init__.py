"""Driving adapter: the HTTP API (FastAPI)."""
