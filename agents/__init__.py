"""Thin agent loops: read a batch, call the pure rules, write tables and topics."""
