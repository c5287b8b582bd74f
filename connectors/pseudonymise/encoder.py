"""The :class:`Encoder`: normalised tenancy rows to the columns of ``records.parquet``.

Refs, tokens, blocking keys, Bloom filters and sealed columns for one extract, serially or in
chunks across an :class:`~connectors.pseudonymise.pool.EncodingPool`. Subkeys, the blocking-key
material and the column order are documented in the package docstring
(:mod:`connectors.pseudonymise`) and :mod:`contract`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Final
from uuid import UUID

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.pseudonymise.blocking import BLOCKING_KEYS, block_material, names_swapped
from connectors.pseudonymise.bloom import (
    FILTER_SPECS,
    BlockedFilter,
    GramTable,
    gram_ids,
    qgrams,
)
from connectors.pseudonymise.columns import (
    dictionary_encode,
    fixed_binary,
    hex_column,
    joined_binary,
    map_ipc,
)
from connectors.pseudonymise.keys import KEY_BYTES, Hmac, MatchingKey, hkdf
from connectors.pseudonymise.pool import (
    SHARED_KEYED,
    EncodingPool,
    encode_in_worker,
    macs_in_worker,
    start_encoding_pool,
)
from contract import (
    BLOCK_PREFIX,
    CONTRACT_COLUMNS,
    REF_COLUMN,
    SEALED_FIELDS,
    SEALED_SIZE_CLASSES,
    TOKEN_FIELDS,
    BloomFilterSpec,
    EncodingParameters,
    filter_column,
    sealed_column,
    token_column,
)

__all__ = [
    "Encoder",
    "shuffled",
]

_REF_BYTES: Final = 16
_LOCAL_SALT: Final = b"crosscheck/v1/local"
_CHUNK_ROWS: Final = 100_000  # rows per parallel work item
_TMP: Final = ".crosscheck-tmp-encode-"
_NONCE_BYTES: Final = 12
# Distinct (value, tag) q-gram id lists kept per process; a register has far fewer names.
_GRAM_CACHE_VALUES: Final = 1_000_000
_BLOCK_ID_BYTES: Final = 8
# The two names of the name filter, tagged by their place in the pass's order (names_swapped).
_NAME_TAGS: Final = ("a:", "b:")


_PARAMETERS: Final = EncodingParameters(
    blocking_keys=BLOCKING_KEYS,
    filters=FILTER_SPECS,
)


class Encoder:
    """Turns normalised rows into the pseudonymised columns of one extract.

    Built once per extract from the matching key (shared) and the company-local key. Holds
    per-field subkeys and caches of q-gram positions; never holds a data key.
    """

    def __init__(
        self,
        matching_key: MatchingKey,
        local_key: bytes,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if len(matching_key.secret) != KEY_BYTES or len(local_key) != KEY_BYTES:
            raise ValueError("matching and local keys are 32 bytes")
        self._matching_key = matching_key
        self._local_key = local_key
        self.parameters: EncodingParameters = _PARAMETERS
        salt = matching_key.epoch.encode("ascii")
        self._salt = salt
        self._token_keys: dict[str, Hmac] = {}
        self._block_keys = {
            name: Hmac(hkdf(matching_key.secret, salt, f"crosscheck/v1/block/{name}"))
            for name in BLOCKING_KEYS
        }
        self._filters: dict[tuple[str, str], BlockedFilter] = {}
        for spec in FILTER_SPECS:
            subkey = hkdf(matching_key.secret, salt, f"crosscheck/v2/filter/{spec.name}")
            for blocking_pass in BLOCKING_KEYS:
                self._filters[spec.name, blocking_pass] = BlockedFilter(spec, subkey, blocking_pass)
        self._ref_key = Hmac(hkdf(local_key, _LOCAL_SALT, "crosscheck/v1/ref"))
        # The ref binds the epoch: a new matching key gives every record a new ref.
        self._ref_prefix = b"crosscheck/v2/ref\n" + salt + b"\n"
        self._random_bytes = random_bytes
        self._gram_cache: dict[tuple[str, int, str], bytes] = {}

    def __repr__(self) -> str:
        return f"Encoder(epoch={self._matching_key.epoch!r})"

    def _token_key(self, field_name: str) -> Hmac:
        key = self._token_keys.get(field_name)
        if key is None:
            secret = hkdf(
                self._matching_key.secret, self._salt, f"crosscheck/v1/token/{field_name}"
            )
            key = self._token_keys[field_name] = Hmac(secret)
        return key

    def token_for(self, field: str, canonical_value: str) -> bytes:
        """HMAC-SHA256 of a canonical value under the field's own subkey."""
        return self._token_key(field).digest(canonical_value.encode("utf-8"))

    def ref_for(self, record_id: str) -> str:
        """``HMAC(ref key, epoch || record id)``: stable within an epoch, unlinkable across."""
        message = self._ref_prefix + record_id.encode("utf-8")
        return self._ref_key.digest(message)[:_REF_BYTES].hex()

    def block_for(self, name: str, key_material: str) -> bytes:
        """A blocking key from its composed material (see :meth:`block_material`)."""
        block_bytes = self.parameters.block_bytes
        return self._block_keys[name].digest(key_material.encode("utf-8"))[:block_bytes]

    def filter_for(
        self,
        name: str,
        blocking_pass: str,
        block_key_material: str,
        values: Sequence[str | None],
        *,
        swapped: bool = False,
    ) -> bytes | None:
        """The stored filter of one record for one pass, from the pass's blocking-key material
        and the record's values of the filter's fields, in order (dates as ``YYYYMMDD``).

        ``swapped`` exchanges the name tags (see ``blocking.names_swapped``). Null when every
        value is null or empty.
        """
        bloom = self._filters[name, blocking_pass]
        tags = _tags(bloom.spec)
        if swapped:
            tags = tags[::-1]
        grams = [
            qgrams(value, bloom.spec.q, tag) if value else set()
            for tag, value in zip(tags, values, strict=True)
        ]
        if not any(grams):
            return None
        fields = [(GramTable([gram_ids(g)]), np.zeros(1, np.intp)) for g in grams]
        block = np.frombuffer(_block_ids([block_key_material]), np.uint8).reshape(1, -1)
        return bytes(bloom.encode(block, fields)[0].tobytes())

    def _gram_ids(self, value: str, q: int, tag: str) -> bytes:
        """The joined q-gram ids of one value, cached: names and dates repeat across chunks."""
        key = (value, q, tag)
        found = self._gram_cache.get(key)
        if found is None:
            if len(self._gram_cache) >= _GRAM_CACHE_VALUES:
                self._gram_cache.clear()
            found = self._gram_cache[key] = gram_ids(qgrams(value, q, tag))
        return found

    # ----------------------------------------------------------------- whole-frame encoding

    def encode(
        self,
        frame: pl.DataFrame,
        extract_id: UUID,
        data_key: bytes,
        *,
        first_row: int = 0,
        workers: int = 1,
        pool: EncodingPool | None = None,
        scratch: Path | None = None,
    ) -> pl.DataFrame:
        """The records.parquet columns for ``frame``'s rows, in the same order.

        ``first_row`` is the absolute index of the frame's first row in the extract (only for
        naming chunks; nonces are random). Chunks are encoded in parallel processes when
        ``pool`` is given (see
        :func:`start_encoding_pool`; started early, its workers import while the caller is
        still normalising) or ``workers > 1``. Workers hand their chunks back as Arrow IPC
        files in ``scratch``, which must then outlive the returned frame (it may map the
        files); without ``scratch`` a temporary folder is used and the chunks are copied in.
        """
        if len(data_key) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        if pool is None and (workers <= 1 or frame.height < 2 * workers):
            return self._encode_chunk(frame, extract_id, data_key, first_row)
        with contextlib.ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(start_encoding_pool(workers))
            if scratch is None:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=_TMP)))
                return self._encode_parallel(
                    frame, extract_id, data_key, first_row, pool, folder, mapped=False
                )
            return self._encode_parallel(
                frame, extract_id, data_key, first_row, pool, scratch, mapped=True
            )

    def _encode_parallel(
        self,
        frame: pl.DataFrame,
        extract_id: UUID,
        data_key: bytes,
        first_row: int,
        pool: EncodingPool,
        scratch: Path,
        *,
        mapped: bool,
    ) -> pl.DataFrame:
        # Chunks of bounded size keep each worker's memory flat and let the pool balance load
        # when another process takes a core. Results come back as IPC files, not through the
        # pipe: pickling ~1 GB of encoded columns cost the parent more than encoding saved.
        size = max(1, min(_CHUNK_ROWS, -(-frame.height // pool.workers)))
        folder = Path(tempfile.mkdtemp(prefix=_TMP, dir=scratch))
        inputs = _encoded_inputs()
        needed = [name for name in frame.columns if name in inputs]
        # Chunks first, so the workers start while this process prepares the shared columns.
        futures = [
            pool.executor.submit(
                encode_in_worker,
                self._matching_key,
                self._local_key,
                frame.slice(offset, size).select(needed),
                extract_id,
                data_key,
                first_row + offset,
                str(folder / f"chunk-{offset:012d}.arrow"),
            )
            for offset in range(0, frame.height, size)
        ]
        # Blocking keys, birth dates and e-mail addresses repeat across the whole extract (1.8M
        # of 5.4M values per 1M rows are repeats that a 100k-row chunk does not see): their
        # MACs are computed once per distinct value of the whole frame and gathered here. The
        # distinct values travel as Arrow arrays (buffers, not a million pickled bytes objects).
        keyed = self._keyed_inputs()
        text = frame.select(keyed[column][1].alias(column) for column in SHARED_KEYED)
        shared: dict[str, tuple[Future[bytes], int, npt.NDArray[np.intp]]] = {}
        for column in SHARED_KEYED:
            distinct, index = dictionary_encode(text[column])
            values = distinct.cast(pa.large_binary())
            task = pool.executor.submit(
                macs_in_worker, self._matching_key, self._local_key, column, values
            )
            shared[column] = (task, len(values), index)
        del text
        # Mapped chunk files cost no copy (1.3 GB per 1M rows); the caller keeps them.
        read = map_ipc if mapped else pl.read_ipc
        chunks = [read(future.result()) for future in futures]
        if not chunks:
            return self._encode_chunk(frame, extract_id, data_key, first_row)
        records = pl.concat(chunks, how="vertical", rechunk=False)
        gathered = []
        for column, (task, count, index) in shared.items():
            width = keyed[column][2]
            table = np.zeros((count + 1, width), np.uint8)  # row 0: null
            table[1:] = np.frombuffer(task.result(), np.uint8).reshape(count, width)
            gathered.append(fixed_binary(column, table[index], index > 0))
        # The serial column order: ref, tokens, blocking keys, then the rest.
        rest = (name for name in records.columns if name not in keyed and name != REF_COLUMN)
        order = [REF_COLUMN, *keyed, *rest]
        return records.with_columns(gathered).select(order)

    def _keyed_inputs(self) -> dict[str, tuple[Hmac, pl.Expr, int]]:
        """Each token and blocking-key column in output order: its key, input text and width."""
        token_inputs = {
            "national_id": pl.col("national_id"),
            "birth_date": pl.col("birth_date").dt.to_string("%Y-%m-%d"),
            "phone": pl.col("phone"),
            "email": pl.col("email").str.strip_chars().str.to_lowercase(),
        }
        block_inputs = block_material()
        return {
            **{
                token_column(name): (self._token_key(name), token_inputs[name], 32)
                for name in TOKEN_FIELDS
            },
            **{
                BLOCK_PREFIX + name: (self._block_keys[name], block_inputs[name], 16)
                for name in BLOCKING_KEYS
            },
        }

    def _encode_chunk(
        self,
        frame: pl.DataFrame,
        extract_id: UUID,
        data_key: bytes,
        first_row: int,
        skip: frozenset[str] = frozenset(),
    ) -> pl.DataFrame:
        """All output columns for ``frame``, except the token and block columns in ``skip``."""
        prefix = self._ref_prefix
        record_ids = [prefix + r for r in frame["record_id"].cast(pl.Binary).to_list()]
        ref_digests = b"".join(self._ref_key.many(record_ids, _REF_BYTES))
        ref_column = hex_column(REF_COLUMN, ref_digests, _REF_BYTES)
        columns: list[pl.Series] = [ref_column]

        keyed = {name: spec for name, spec in self._keyed_inputs().items() if name not in skip}
        text = frame.select(expr.alias(name) for name, (_, expr, _) in keyed.items())
        for name, (key, _, width) in keyed.items():
            columns.append(_keyed_column(name, text[name], key, width))

        columns.extend(self._filter_columns(frame))

        columns.extend(
            frame[name].cast(getattr(pl, dtype)) for name, dtype in CONTRACT_COLUMNS.items()
        )
        refs = ref_column.cast(pl.Binary).to_list()
        columns.extend(self._sealed_columns(frame, extract_id, data_key, first_row, refs))
        return pl.DataFrame(columns)

    def _filter_columns(self, frame: pl.DataFrame) -> list[pl.Series]:
        """Every ``filter_<name>__<pass>`` column, in the contract's order."""
        materials = block_material()
        inputs = frame.select(
            pl.col("birth_date").dt.to_string("%Y%m%d"),
            *(pl.col(n) for spec in FILTER_SPECS for n in spec.fields if n != "birth_date"),
            *(materials[p].alias(f"block:{p}") for p in BLOCKING_KEYS),
            *(names_swapped(p).alias(f"swap:{p}") for p in BLOCKING_KEYS),
        )
        # Distinct values are few (names, dates): q-grams and their ids once per distinct value
        # and tag; the per-record work is then vectorised over the chunk.
        encoded = {n: dictionary_encode(inputs[n]) for s in FILTER_SPECS for n in s.fields}
        tables: dict[tuple[str, str], GramTable] = {}

        def table(field_name: str, tag: str, q: int) -> GramTable:
            found = tables.get((field_name, tag))
            if found is None:
                distinct = encoded[field_name][0].to_pylist()
                found = GramTable([b"", *(self._gram_ids(v, q, tag) for v in distinct)])
                tables[field_name, tag] = found
            return found

        blocks: dict[str, tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]] = {}
        for blocking_pass in BLOCKING_KEYS:
            distinct, index = dictionary_encode(inputs[f"block:{blocking_pass}"])
            ids = np.zeros((len(distinct) + 1, _BLOCK_ID_BYTES), np.uint8)
            if len(distinct):
                raw = _block_ids(distinct.to_pylist())
                ids[1:] = np.frombuffer(raw, np.uint8).reshape(-1, _BLOCK_ID_BYTES)
            blocks[blocking_pass] = (ids[index], index > 0)
        out: list[pl.Series] = []
        for spec in FILTER_SPECS:
            tags = _tags(spec)
            for blocking_pass in BLOCKING_KEYS:
                block_ids, has_block = blocks[blocking_pass]
                swap = inputs[f"swap:{blocking_pass}"].to_numpy()
                fields: list[tuple[GramTable, npt.NDArray[np.intp]]] = []
                grams = np.zeros(frame.height, np.intp)
                for place, field_name in enumerate(spec.fields):
                    index = encoded[field_name][1]
                    if len(spec.fields) == 2:
                        # Each name goes in with the tag of its place in this pass's order.
                        kept = np.where(swap, 0, index)
                        moved = np.where(swap, index, 0)
                        fields.append((table(field_name, tags[place], spec.q), kept))
                        fields.append((table(field_name, tags[1 - place], spec.q), moved))
                    else:
                        fields.append((table(field_name, tags[place], spec.q), index))
                    grams += table(field_name, tags[place], spec.q).lengths[index]
                stored = self._filters[spec.name, blocking_pass].encode(block_ids, fields)
                present = has_block & (grams > 0)
                out.append(fixed_binary(filter_column(spec.name, blocking_pass), stored, present))
        return out

    def _sealed_columns(
        self,
        frame: pl.DataFrame,
        extract_id: UUID,
        data_key: bytes,
        first_row: int,
        refs: list[bytes],
    ) -> list[pl.Series]:
        encrypt = AESGCM(data_key).encrypt
        head = b'["' + str(extract_id).encode("ascii") + b'","'
        # Equal to keys._associated_prefix(extract_id, ref), with the ref already ASCII bytes.
        prefixes = [head + ref + b'","' for ref in refs]
        height = frame.height
        display = frame.select(
            (
                pl.col(name).dt.to_string("%Y-%m-%d")
                if frame.schema[name] == pl.Date
                else pl.col(name).cast(pl.String)
            )
            .cast(pl.Binary)
            .alias(name)
            for name in SEALED_FIELDS
        )
        out: list[pl.Series] = []
        for name in SEALED_FIELDS:
            suffix = name.encode("ascii") + b'"]'
            values = display[name]
            valid = values.is_not_null().to_numpy()
            if values.null_count():
                associated = [prefixes[i] + suffix for i in np.flatnonzero(valid).tolist()]
            else:
                associated = [prefix + suffix for prefix in prefixes]
            plain, sizes = _padded(values.drop_nulls())
            count = len(sizes)
            ends = np.cumsum(sizes).tolist()
            joined = plain.tobytes()
            # Bytes slices of one padded buffer: no per-value padding in Python.
            texts = [joined[start:end] for start, end in zip([0, *ends], ends, strict=False)]
            # Random 96-bit nonces under a fresh per-extract key: 11 fields x 1M rows is far
            # below the 2^32 values NIST SP 800-38D allows, and they say nothing about the row.
            pool = self._random_bytes(_NONCE_BYTES * count)
            nonces = [pool[i : i + _NONCE_BYTES] for i in range(0, len(pool), _NONCE_BYTES)]
            # map() keeps the per-value Python overhead near the cost of the AES-GCM call.
            pieces: list[bytes] = [b""] * (2 * count)
            pieces[0::2] = nonces
            pieces[1::2] = map(encrypt, nonces, texts, associated)
            lengths = np.zeros(height, np.int64)
            lengths[valid] = sizes + _SEAL_OVERHEAD
            sealed = b"".join(pieces)
            out.append(joined_binary(sealed_column(name), sealed, lengths, valid))
        return out


def _encoded_inputs() -> frozenset[str]:
    """The input columns :meth:`Encoder._encode_chunk` reads: only these are sent to workers."""
    blocks = {root for expr in block_material().values() for root in expr.meta.root_names()}
    filters = {name for spec in FILTER_SPECS for name in spec.fields}
    filters |= {root for p in BLOCKING_KEYS for root in names_swapped(p).meta.root_names()}
    return frozenset(
        {"record_id", *TOKEN_FIELDS, *blocks, *filters, *CONTRACT_COLUMNS, *SEALED_FIELDS}
    )


def _keyed_column(name: str, values: pl.Series, key: Hmac, size: int) -> pl.Series:
    """HMAC of every non-null value, computed once per distinct value."""
    distinct, index = dictionary_encode(values)
    table = np.zeros((len(distinct) + 1, size), np.uint8)
    if len(distinct):
        macs = key.many(distinct.cast(pa.large_binary()).to_pylist(), size)
        table[1:] = np.frombuffer(b"".join(macs), np.uint8).reshape(-1, size)
    return fixed_binary(name, table[index], index > 0)


def _tags(spec: BloomFilterSpec) -> tuple[str, ...]:
    """Field tags of a filter's q-grams: a first name's q-grams differ from the same letters in
    a last name, so the name filter is not one pooled set of both names."""
    return _NAME_TAGS if len(spec.fields) == 2 else tuple("" for _ in spec.fields)


def _block_ids(materials: Sequence[str]) -> bytes:
    """8 bytes of BLAKE2b per blocking-key material: the block's input to the filter PRF.

    Unkeyed on purpose: it never leaves the connector, and the PRF key is the secret.
    """
    return b"".join(
        hashlib.blake2b(m.encode("utf-8"), digest_size=_BLOCK_ID_BYTES).digest() for m in materials
    )


_CLASSES: Final = np.array(SEALED_SIZE_CLASSES, np.int64)
_SEAL_OVERHEAD: Final = _NONCE_BYTES + 16  # nonce and GCM tag
_MAX_SEALED: Final = 0xFFFF


def _padded(values: pl.Series) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """contract.pad_sealed of every (UTF-8, non-null) value, joined end to end, and the padded
    size of each: built in bulk from the Arrow buffers (a test compares it with pad_sealed)."""
    array = values.to_arrow().cast(pa.large_binary())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    count = len(array)
    if not count:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64)
    _, offset_buffer, data_buffer = array.buffers()
    assert offset_buffer is not None and data_buffer is not None
    offsets = np.frombuffer(offset_buffer, np.int64)[array.offset : array.offset + count + 1]
    data = np.frombuffer(data_buffer, np.uint8)[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    if count and int(lengths.max()) > _MAX_SEALED:
        raise ValueError("a sealed value is at most 65535 bytes")
    framed = lengths + 2
    slot = np.searchsorted(_CLASSES, framed)
    last = _CLASSES[-1]
    sizes = np.where(
        slot < len(_CLASSES),
        _CLASSES[np.minimum(slot, len(_CLASSES) - 1)],
        -(-framed // last) * last,
    )
    starts = np.cumsum(sizes) - sizes
    plain = np.zeros(int(sizes.sum()), np.uint8)
    plain[starts] = lengths >> 8  # 2-byte big-endian length, then the value, then zeros
    plain[starts + 1] = lengths & 0xFF
    shift = np.repeat(starts + 2 - (offsets[:-1] - offsets[0]), lengths)
    plain[shift + np.arange(len(data), dtype=np.int64)] = data
    return plain, sizes


def shuffled(
    frame: pl.DataFrame, random_bytes: Callable[[int], bytes] = os.urandom
) -> pl.DataFrame:
    """``frame``'s rows in a uniformly random order: a package keeps no trace of the export's.

    Sorting by random 64-bit keys; ties (2^-64 per pair) keep export order, which is harmless.
    """
    keys = np.frombuffer(random_bytes(8 * frame.height), np.uint64)
    # Rechunked first: a gather across the reader's many chunks cost 8 s per 1M rows, not 1.
    return frame.rechunk()[np.argsort(keys, kind="stable")]
