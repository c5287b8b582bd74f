"""Arrow-backed polars columns built straight from byte buffers, for the encoder's output.

Encoding a million rows makes millions of digests and ciphertexts; building the Arrow buffers
(validity, offsets, data) directly, and dictionary-encoding inputs so each distinct value is
hashed once, avoids a Python object per value. No cryptography here, only column plumbing.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "dictionary_encode",
    "fixed_binary",
    "hex_column",
    "joined_binary",
    "map_ipc",
]


def _from_arrow(array: pa.Array) -> pl.Series:
    series = pl.from_arrow(array)
    assert isinstance(series, pl.Series)
    return series


def _validity(valid: npt.NDArray[np.bool_] | None) -> pa.Buffer | None:
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def fixed_binary(
    name: str, matrix: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_] | None
) -> pl.Series:
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    array = pa.Array.from_buffers(
        pa.large_binary(),
        rows,
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix))],
    )
    return _from_arrow(array).alias(name)


def joined_binary(
    name: str, data: bytes, lengths: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_] | None
) -> pl.Series:
    """A Binary column from its values joined end to end and each row's length (0 for null).

    Building the Arrow buffers directly is about 3x faster than converting a list of bytes.
    """
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    array = pa.Array.from_buffers(
        pa.large_binary(),
        len(lengths),
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(data)],
    )
    return _from_arrow(array).alias(name)


def dictionary_encode(series: pl.Series) -> tuple[pa.Array, npt.NDArray[np.intp]]:
    """A column's distinct non-null values and, per row, 1 + the index of its value (0 = null).

    Arrow's hash-based dictionary encoding is linear and about 20x faster than a dense rank.
    """
    encoded = pc.dictionary_encode(series.cast(pl.String).to_arrow())
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    indices = encoded.indices.fill_null(-1) if encoded.indices.null_count else encoded.indices
    index = indices.to_numpy().astype(np.intp) + 1
    return encoded.dictionary, index


_HEX: Final = np.array([f"{i:02x}".encode("ascii") for i in range(256)], dtype="S2")


def hex_column(name: str, digests: bytes, width: int) -> pl.Series:
    """Lower-case hex of fixed-width digests joined end to end, as a String column."""
    raw = np.frombuffer(digests, np.uint8)
    text = _HEX[raw].tobytes()
    rows = len(raw) // width
    offsets = np.arange(0, (rows + 1) * 2 * width, 2 * width, dtype=np.int64)
    array = pa.Array.from_buffers(
        pa.large_string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )
    return _from_arrow(array).alias(name)


def map_ipc(path: str) -> pl.DataFrame:
    """An IPC file as a frame that maps the file instead of reading it (no copy)."""
    table = pa.ipc.open_file(pa.memory_map(path)).read_all()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame
