"""Faust entry point: ``faust -A app worker``."""

from app.faust_app import app

__all__ = ["app"]
