"""Driven adapters over SQLAlchemy: the feedback store, its schema and migrations."""
