"""Per-block salted, balanced Bloom filters (CLK-style): their specs, q-grams and encoding.

:data:`FILTER_SPECS` fixes each filter's fields, length and positions per q-gram;
:class:`BlockedFilter` encodes one filter for one blocking pass, salted with each record's
block of that pass; :func:`dice` compares two filters. Why per-block salting, why this
balancing, and the bit layout are in the package docstring (:mod:`connectors.pseudonymise`).
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from collections.abc import Sequence
from typing import Any, Final

import numba
import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from connectors.pseudonymise.keys import hkdf
from contract import BloomFilterSpec

__all__ = [
    "FILTER_SPECS",
    "GRAM_ID_BYTES",
    "BlockedFilter",
    "GramTable",
    "compile_kernels",
    "dice",
    "gram_ids",
    "qgrams",
]

_HARDENING: Final = "per-block-keyed-positions+per-block-pad-balanced"

FILTER_SPECS: Final = (
    BloomFilterSpec(
        name="name",
        fields=("first_name_key", "last_name_key"),
        length_bits=1024,
        q=2,
        hashes_per_qgram=15,
        hardening=_HARDENING,
    ),
    BloomFilterSpec(
        name="birth_date",
        fields=("birth_date",),
        length_bits=256,
        q=2,
        hashes_per_qgram=10,
        hardening=_HARDENING,
    ),
)

# A q-gram enters the PRF as 7 bytes of BLAKE2b of its tagged text: collisions among the few
# thousand q-grams of a register are ~2^-30 likely, and the PRF key, not this hash, is the secret.
GRAM_ID_BYTES: Final = 7
_POSITIONS_PER_BLOCK: Final = 8  # 16-bit positions per AES block


def _fold(value: str) -> list[str]:
    """Words of a value, diacritics and case folded, punctuation removed."""
    decomposed = unicodedata.normalize("NFKD", value)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return "".join(c if c.isalnum() else " " for c in kept).split()


def qgrams(value: str, q: int, tag: str) -> set[str]:
    grams: set[str] = set()
    for word in _fold(value):
        padded = "_" + word + "_"
        grams.update(tag + padded[i : i + q] for i in range(max(1, len(padded) - q + 1)))
    return grams


_U8 = npt.NDArray[np.uint8]
_U64 = npt.NDArray[np.uint64]
_Ints = npt.NDArray[np.intp]
# PRF blocks are built as pairs of little-endian 64-bit words: bytes 0-7 the block id, bytes
# 8-14 the q-gram id and byte 15 the round (the top byte of the second word).
_LE64: Final = np.dtype("<u8")
_ROUND_SHIFT: Final = np.uint64(56)


class GramTable:
    """The q-gram ids of a column's distinct values, flat: value ``v`` has
    ``ids[starts[v] : starts[v] + lengths[v]]`` (value 0 is null: no q-grams).

    Built from each value's :func:`gram_ids`; each id is its :data:`GRAM_ID_BYTES` bytes as a
    little-endian 64-bit word (top byte zero), ready to be or-ed into a PRF block.
    """

    __slots__ = ("ids", "lengths", "starts")

    def __init__(self, value_ids: Sequence[bytes]) -> None:
        lengths = np.fromiter(
            (len(ids) // GRAM_ID_BYTES for ids in value_ids), np.intp, len(value_ids)
        )
        starts = np.zeros(len(value_ids), np.intp)
        np.cumsum(lengths[:-1], out=starts[1:])
        flat = b"".join(value_ids)
        raw = np.zeros((len(flat) // GRAM_ID_BYTES, 8), np.uint8)
        raw[:, :GRAM_ID_BYTES] = np.frombuffer(flat, np.uint8).reshape(-1, GRAM_ID_BYTES)
        self.ids: _U64 = raw.view(_LE64).reshape(-1)
        self.lengths: _Ints = lengths
        self.starts: _Ints = starts


def gram_ids(grams: set[str]) -> bytes:
    """The ids of a gram set, joined (order does not matter: a filter is a set)."""
    return b"".join(map(_gram_id, grams))


@functools.lru_cache(maxsize=1 << 16)
def _gram_id(gram: str) -> bytes:
    # A register has a few thousand distinct tagged q-grams: each is hashed once per process.
    return hashlib.blake2b(gram.encode("utf-8"), digest_size=GRAM_ID_BYTES).digest()


def _aes_prf(key: bytes, blocks: npt.NDArray[np.generic]) -> _U8:
    """AES-256 of each 16-byte block of ``blocks`` (C-contiguous): a PRF under ``key``, thousands
    of times faster than HMAC per call because one call encrypts every block of a chunk
    (AES-NI), straight from the array's memory into the returned one."""
    data = np.ascontiguousarray(blocks).view(np.uint8).reshape(-1)
    out = np.empty(len(data) + 15, np.uint8)  # update_into wants room for one more block
    if len(data):
        encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - a PRF
        written = encryptor.update_into(data.data, out.data)
        assert written == len(data)
    return out[: len(data)].reshape(-1, 16)


@numba.njit(nogil=True, cache=False)
def _set_bits(owners: Any, words: Any, k: int, mask: int, out: Any) -> None:  # pragma: no cover
    # Bit i of a row is bit 7 - i % 8 of its byte i // 8 (np.packbits' big-endian order).
    for i in range(owners.shape[0]):
        row = owners[i]
        for j in range(k):
            position = words[i, j] & mask
            out[row, position >> 3] |= np.uint8(0x80 >> (position & 7))


def compile_kernels() -> None:
    """Compile the bit-setting kernel now (about a second), e.g. in a pool worker at start-up
    while the parent still reads the export, instead of on the first chunk."""
    _set_bits(
        np.zeros(1, np.intp), np.zeros((1, 8), np.uint16), 1, 127, np.zeros((1, 16), np.uint8)
    )


class BlockedFilter:
    """One filter spec for one blocking pass: positions and pad keyed by the record's block.

    Positions of q-gram ``g`` for a record in block ``b`` are 16-bit words of
    ``AES(K_pos, b || id(g) || j)`` modulo the base length; the base filter is XORed with the
    pad ``AES(K_pad, b || i)`` and stored with its complement (``x || ~x``). ``b`` is 8 bytes
    of BLAKE2b of the pass's blocking-key material; both keys are HKDF subkeys of the filter
    subkey for this pass, so neither positions nor pad can be computed without the matching key.
    """

    def __init__(self, spec: BloomFilterSpec, filter_subkey: bytes, blocking_pass: str) -> None:
        self.spec = spec
        self.base_bits = spec.length_bits // 2
        if self.base_bits & (self.base_bits - 1) or not 128 <= self.base_bits <= 65536:
            raise ValueError("the base filter length must be a power of two from 128 to 65536")
        self.words = spec.length_bits // 64
        self._position_key = hkdf(filter_subkey, b"", f"crosscheck/v2/positions/{blocking_pass}")
        self._pad_key = hkdf(filter_subkey, b"", f"crosscheck/v2/pad/{blocking_pass}")
        self._rounds = -(-spec.hashes_per_qgram // _POSITIONS_PER_BLOCK)

    def encode(self, blocks: _U8, fields: Sequence[tuple[GramTable, _Ints]]) -> _U8:
        """Stored filters, ``(rows, length_bits // 8)`` bytes, of rows with block ids ``blocks``
        (``(rows, 8)`` bytes) and, per field, a gram table and each row's value index into it.

        The caller nulls rows without a block or without q-grams.
        """
        rows = len(blocks)
        block_words = np.ascontiguousarray(blocks).view(_LE64).reshape(rows)
        owners, grams = _row_grams(rows, fields)
        # One PRF block per (row, q-gram, round), all of a chunk in one AES call.
        rounds = np.arange(self._rounds, dtype=_LE64) << _ROUND_SHIFT
        inputs = np.empty((len(owners), self._rounds, 2), _LE64)
        inputs[:, :, 0] = block_words[owners][:, None]
        inputs[:, :, 1] = grams[:, None] | rounds
        words = _aes_prf(self._position_key, inputs).view("<u2").reshape(len(owners), -1)
        base_bytes = self.base_bits // 8
        stored = np.zeros((rows, 2 * base_bytes), np.uint8)
        base = np.zeros((rows, base_bytes), np.uint8)
        _set_bits(owners, words, self.spec.hashes_per_qgram, self.base_bits - 1, base)
        pad_rounds = np.arange(self.base_bits // 128, dtype=_LE64) << _ROUND_SHIFT
        pad_inputs = np.empty((rows, len(pad_rounds), 2), _LE64)
        pad_inputs[:, :, 0] = block_words[:, None]
        pad_inputs[:, :, 1] = pad_rounds
        pad = _aes_prf(self._pad_key, pad_inputs).reshape(rows, base_bytes)
        np.bitwise_xor(base, pad, out=stored[:, :base_bytes])
        np.invert(stored[:, :base_bytes], out=stored[:, base_bytes:])
        return stored


def _row_grams(rows: int, fields: Sequence[tuple[GramTable, _Ints]]) -> tuple[_Ints, _U64]:
    """Each q-gram occurrence of the rows, flat: its row (ascending per field) and its id."""
    owner_parts: list[_Ints] = []
    gram_parts: list[_U64] = []
    for table, index in fields:
        counts = table.lengths[index]
        owners = np.repeat(np.arange(rows, dtype=np.intp), counts)
        first = np.repeat(table.starts[index] - np.cumsum(counts) + counts, counts)
        owner_parts.append(owners)
        gram_parts.append(table.ids[first + np.arange(len(owners), dtype=np.intp)])
    if not owner_parts:
        return np.zeros(0, np.intp), np.zeros(0, _LE64)
    return np.concatenate(owner_parts), np.concatenate(gram_parts)


def dice(a: bytes, b: bytes) -> float:
    """Sørensen-Dice coefficient of two equally long filters (for tests and diagnostics)."""
    x = np.frombuffer(a, np.uint8)
    y = np.frombuffer(b, np.uint8)
    both = int(np.bitwise_count(x & y).sum())
    total = int(np.bitwise_count(x).sum() + np.bitwise_count(y).sum())
    return 0.0 if total == 0 else 2 * both / total
