"""Typed, frozen settings read once from the environment."""

from config.settings import MySQLConfig, Settings, get_settings

__all__ = ["MySQLConfig", "Settings", "get_settings"]
