"""Synthetic tenancy registers with planted cases, for the demo, the tests and the benchmarks.

Not part of either product: a housing company installs the connector without it, and the matcher
never imports it. :mod:`synthetic.registers` writes the exports and ``truth.csv``,
:mod:`synthetic.people` draws the people and the planted cases, :mod:`synthetic.namelists` holds
the name, street and town lists (they follow the public Swedish name statistics), and
:mod:`synthetic.cli` is the `crosscheck-synth` command. No real person is in any of it.
"""

from __future__ import annotations

__all__ = ["SyntheticError"]


class SyntheticError(ValueError):
    """A request the generator can not satisfy (too few companies or records, say); the message
    says what to change."""
