"""Driven adapters: content-addressed blob stores."""
