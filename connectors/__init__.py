"""Crosscheck connector: runs at a housing company and turns its tenancy-register export into a
signed, pseudonymised upload package for the matcher. Nothing here sends plaintext anywhere."""

__all__: list[str] = []
