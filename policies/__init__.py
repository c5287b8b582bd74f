"""Shipped legal-basis policies (``*.toml``), read as package resources."""

__all__: list[str] = []
