"""Parallel encoding: the pool of spawned worker processes and the functions they run.

Workers are spawned (polars does not survive fork), so each task's function is pickled by its
module path and imported again in the worker: :func:`encode_in_worker` and
:func:`macs_in_worker` must stay module-level functions of ``connectors.pseudonymise.pool``.
Each worker keeps one :class:`~connectors.pseudonymise.encoder.Encoder` per key pair.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING, Final
from uuid import UUID

import polars as pl
import pyarrow as pa

from connectors.pseudonymise.blocking import BLOCKING_KEYS
from connectors.pseudonymise.bloom import compile_kernels
from connectors.pseudonymise.keys import MatchingKey
from contract import (
    BLOCK_PREFIX,
    token_column,
)

if TYPE_CHECKING:
    from connectors.pseudonymise.encoder import Encoder

__all__ = [
    "SHARED_KEYED",
    "EncodingPool",
    "encode_in_worker",
    "macs_in_worker",
    "start_encoding_pool",
]

# Keyed columns whose values repeat across an extract: hashed once per distinct value of the
# whole extract when encoding in parallel (national ids, phones and refs are nearly unique).
SHARED_KEYED: Final = frozenset(
    {
        token_column("birth_date"),
        token_column("email"),
        *(BLOCK_PREFIX + name for name in BLOCKING_KEYS),
    }
)


# Each worker process keeps one Encoder per key pair: subkeys, filter permutations and the
# q-gram position caches are then built once per process, not once per chunk.
_worker_encoders: dict[tuple[bytes, bytes], Encoder] = {}


def _worker_encoder(matching_key: MatchingKey, local_key: bytes) -> Encoder:
    # Imported here, not at the top: the encoder imports this module to start pools and submit
    # tasks, and only a worker process needs the Encoder class from this side.
    from connectors.pseudonymise.encoder import Encoder

    encoder = _worker_encoders.get((matching_key.secret, local_key))
    if encoder is None:
        encoder = Encoder(matching_key, local_key)
        _worker_encoders.clear()
        _worker_encoders[matching_key.secret, local_key] = encoder
    return encoder


def encode_in_worker(
    matching_key: MatchingKey,
    local_key: bytes,
    frame: pl.DataFrame,
    extract_id: UUID,
    data_key: bytes,
    first_row: int,
    path: str,
) -> str:
    encoder = _worker_encoder(matching_key, local_key)
    chunk = encoder._encode_chunk(frame, extract_id, data_key, first_row, SHARED_KEYED)
    chunk.write_ipc(path, compression="uncompressed")
    return path


def macs_in_worker(
    matching_key: MatchingKey, local_key: bytes, column: str, values: pa.Array
) -> bytes:
    """The MACs of one keyed column's distinct values (binary), joined end to end."""
    key, _, width = _worker_encoder(matching_key, local_key)._keyed_inputs()[column]
    return b"".join(key.many(values.to_pylist(), width))


@dataclass(frozen=True)
class EncodingPool:
    """Worker processes for :meth:`Encoder.encode`; made by :func:`start_encoding_pool`."""

    executor: ProcessPoolExecutor
    workers: int

    def close(self) -> None:
        """Stop the workers (also done when :func:`start_encoding_pool`'s block ends)."""
        self.executor.shutdown(wait=True, cancel_futures=True)


def _warm_up() -> None:
    """Run once in each new worker: unpickling it imports the package (polars, numpy, crypto);
    compiling the filter kernel here overlaps it with the parent's reading and normalising."""
    compile_kernels()


@contextlib.contextmanager
def start_encoding_pool(workers: int) -> Iterator[EncodingPool]:
    """A pool of ``workers`` encoding processes, already importing when this returns.

    Start it before the data is ready (for instance before normalising) so the workers' start-up
    overlaps the caller's work; pass it to :meth:`Encoder.encode`.
    """
    # spawn, not fork: polars' thread pool does not survive fork.
    workers = max(1, workers)
    executor = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    try:
        for _ in range(workers):
            executor.submit(_warm_up)  # with spawn, each submit to a busy pool starts a process
        yield EncodingPool(executor, workers)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
