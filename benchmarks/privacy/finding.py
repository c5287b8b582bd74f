"""What every attack returns: a :class:`Finding` (rate beside baseline), and column helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import polars as pl

from contract import BLOCK_PREFIX, FILTER_PREFIX, SEALED_PREFIX, TOKEN_PREFIX

__all__ = ["MARGIN", "Finding", "Kind", "bit_matrix", "columns_with"]

# A re-identification attack fails the harness when it beats its baseline by more than this.
MARGIN: Final = 0.01

Kind = Literal["reid", "linkage", "singling"]


@dataclass(frozen=True)
class Finding:
    """One attack on one target: the share it got right and the share a blind guess gets."""

    attack: str
    target: str
    rate: float
    baseline: float
    kind: Kind = "reid"
    note: str = ""

    @property
    def gain(self) -> float:
        return self.rate - self.baseline

    @property
    def gated(self) -> bool:
        """Only re-identification decides pass or fail (see the package docstring)."""
        return self.kind == "reid"

    @property
    def fails(self) -> bool:
        return self.gated and self.gain > MARGIN


def columns_with(frame: pl.DataFrame, prefix: str) -> list[str]:
    """Columns of one kind, discovered from the schema (token_, block_, filter_, sealed_)."""
    assert prefix in (TOKEN_PREFIX, BLOCK_PREFIX, FILTER_PREFIX, SEALED_PREFIX)
    return [name for name in frame.columns if name.startswith(prefix)]


def bit_matrix(values: list[bytes]) -> np.ndarray:
    """Equally long bit-packed filters (big-endian bit order) as a bool matrix, one row each."""
    raw = np.frombuffer(b"".join(values), np.uint8).reshape(len(values), -1)
    return np.unpackbits(raw, axis=1, bitorder="big").astype(bool)
