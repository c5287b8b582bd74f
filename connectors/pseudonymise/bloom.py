"""Per-block salted, balanced Bloom filters (CLK-style): their specs, q-grams and encoding.

:data:`FILTER_SPECS` fixes each filter's fields, length and positions per q-gram;
:class:`BlockedFilter` encodes one filter for one blocking pass, salted with each record's
block of that pass; :func:`dice` compares two filters. Why per-block salting, why this
balancing, and the bit layout are in the package docstring (:mod:`connectors.pseudonymise`).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from typing import Final

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
_Ints = npt.NDArray[np.intp]


class GramTable:
    """The q-gram ids of a column's distinct values, flat: value ``v`` has
    ``ids[starts[v] : starts[v] + lengths[v]]`` (value 0 is null: no q-grams)."""

    __slots__ = ("ids", "lengths", "starts")

    def __init__(self, gram_sets: Sequence[set[str]]) -> None:
        lengths = np.fromiter((len(g) for g in gram_sets), np.intp, len(gram_sets))
        starts = np.zeros(len(gram_sets), np.intp)
        np.cumsum(lengths[:-1], out=starts[1:])
        flat = b"".join(gram_ids(grams) for grams in gram_sets)
        self.ids: _U8 = np.frombuffer(flat, np.uint8).reshape(-1, GRAM_ID_BYTES)
        self.lengths: _Ints = lengths
        self.starts: _Ints = starts


def gram_ids(grams: set[str]) -> bytes:
    """The ids of a gram set, joined (order does not matter: a filter is a set)."""
    return b"".join(
        hashlib.blake2b(g.encode("utf-8"), digest_size=GRAM_ID_BYTES).digest() for g in grams
    )


def _aes_prf(key: bytes, blocks: _U8) -> _U8:
    """AES-256 of each 16-byte row: a PRF under ``key``, thousands of times faster than HMAC
    per call because one call encrypts every block of a chunk (AES-NI)."""
    if not len(blocks):
        return np.zeros((0, 16), np.uint8)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - a PRF
    out = encryptor.update(np.ascontiguousarray(blocks).tobytes()) + encryptor.finalize()
    return np.frombuffer(out, np.uint8).reshape(-1, 16)


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
        k = self.spec.hashes_per_qgram
        owner_parts: list[_Ints] = []
        gram_parts: list[_U8] = []
        for table, index in fields:
            counts = table.lengths[index]
            owners = np.repeat(np.arange(rows, dtype=np.intp), counts)
            first = np.repeat(table.starts[index] - np.cumsum(counts) + counts, counts)
            owner_parts.append(owners)
            gram_parts.append(table.ids[first + np.arange(len(owners), dtype=np.intp)])
        owners = np.concatenate(owner_parts) if owner_parts else np.zeros(0, np.intp)
        grams = np.concatenate(gram_parts) if gram_parts else np.zeros((0, 7), np.uint8)
        inputs = np.zeros((len(owners), self._rounds, 16), np.uint8)
        inputs[:, :, :8] = blocks[owners][:, None, :]
        inputs[:, :, 8:15] = grams[:, None, :]
        inputs[:, :, 15] = np.arange(self._rounds, dtype=np.uint8)
        words = _aes_prf(self._position_key, inputs.reshape(-1, 16)).view(np.uint16)
        positions = words.reshape(len(owners), -1)[:, :k] & np.uint16(self.base_bits - 1)
        # Flat indices instead of 2-D fancy indexing: no repeated owner array, half the time.
        base = np.zeros(rows * self.base_bits, np.bool_)
        flat = (owners * self.base_bits)[:, None] + positions.astype(np.intp)
        base[flat.ravel()] = True
        packed = np.packbits(base.reshape(rows, self.base_bits), axis=1, bitorder="big")
        pad_inputs = np.zeros((rows, self.base_bits // 128, 16), np.uint8)
        pad_inputs[:, :, :8] = blocks[:, None, :]
        pad_inputs[:, :, 15] = np.arange(self.base_bits // 128, dtype=np.uint8)
        pad = _aes_prf(self._pad_key, pad_inputs.reshape(-1, 16)).reshape(rows, -1)
        masked = packed ^ pad
        return np.ascontiguousarray(np.concatenate([masked, ~masked], axis=1))


def dice(a: bytes, b: bytes) -> float:
    """Sørensen-Dice coefficient of two equally long filters (for tests and diagnostics)."""
    x = np.frombuffer(a, np.uint8)
    y = np.frombuffer(b, np.uint8)
    both = int(np.bitwise_count(x & y).sum())
    total = int(np.bitwise_count(x).sum() + np.bitwise_count(y).sum())
    return 0.0 if total == 0 else 2 * both / total
