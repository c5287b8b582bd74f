"""The :class:`Encoder`: normalised tenancy rows to the columns of ``records.parquet``.

Refs, tokens, blocking keys, Bloom filters and sealed columns for one extract, serially or in
chunks across an :class:`~connectors.pseudonymise.pool.EncodingPool`. Subkeys, the blocking-key
material and the column order are documented in the package docstring
(:mod:`connectors.pseudonymise`) and :mod:`contract`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Final
from uuid import UUID

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connectors.pseudonymise.blocking import BLOCKING_KEYS, block_material
from connectors.pseudonymise.bloom import FILTER_SPECS, POOLED_FILTERS, BloomFilter, qgrams
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
    FILTER_PREFIX,
    REF_COLUMN,
    SEALED_FIELDS,
    TOKEN_FIELDS,
    BloomFilterSpec,
    EncodingParameters,
    sealed_column,
    token_column,
)

__all__ = [
    "Encoder",
]

_REF_BYTES: Final = 16
_LOCAL_SALT: Final = b"crosscheck/v1/local"
_CHUNK_ROWS: Final = 100_000  # rows per parallel work item
_TMP: Final = ".crosscheck-tmp-encode-"


_PARAMETERS: Final = EncodingParameters(
    blocking_keys=BLOCKING_KEYS,
    filters=FILTER_SPECS,
)


class Encoder:
    """Turns normalised rows into the pseudonymised columns of one extract.

    Built once per extract from the matching key (shared) and the company-local key. Holds
    per-field subkeys and caches of q-gram positions; never holds a data key.
    """

    def __init__(self, matching_key: MatchingKey, local_key: bytes) -> None:
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
        self._filters = {
            spec.name: BloomFilter(
                spec, hkdf(matching_key.secret, salt, f"crosscheck/v1/filter/{spec.name}")
            )
            for spec in FILTER_SPECS
        }
        self._ref_key = Hmac(hkdf(local_key, _LOCAL_SALT, "crosscheck/v1/ref"))

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
        return self._ref_key.digest(record_id.encode("utf-8"))[:_REF_BYTES].hex()

    def block_for(self, name: str, key_material: str) -> bytes:
        """A blocking key from its composed material (see :meth:`block_material`)."""
        block_bytes = self.parameters.block_bytes
        return self._block_keys[name].digest(key_material.encode("utf-8"))[:block_bytes]

    def filter_for(self, name: str, values: Sequence[str | None]) -> bytes | None:
        """The stored filter of one record from its values of the filter's fields, in order.

        Dates are given as ``YYYYMMDD``. Null when every value is null or empty.
        """
        bloom = self._filters[name]
        spec = bloom.spec
        tags = self._tags(spec)
        grams = [
            qgrams(value, spec.q, tag) if value else set()
            for tag, value in zip(tags, values, strict=True)
        ]
        if not any(grams):
            return None
        positive, negative = bloom.table(grams)
        stored = np.bitwise_or.reduce(positive) | np.bitwise_and.reduce(negative)
        return bytes(stored.tobytes())

    @staticmethod
    def _tags(spec: BloomFilterSpec) -> list[str]:
        pooled = spec.name in POOLED_FILTERS
        return ["" if pooled else f"{name}:" for name in spec.fields]

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

        ``first_row`` is the absolute index of the frame's first row in the extract (nonces
        derive from it). Chunks are encoded in parallel processes when ``pool`` is given (see
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
        # Blocking keys, birth dates and e-mail addresses repeat across the whole extract (1.8M
        # of 5.4M values per 1M rows are repeats that a 100k-row chunk does not see): their
        # MACs are computed once per distinct value of the whole frame and gathered here.
        keyed = self._keyed_inputs()
        text = frame.select(keyed[column][1].alias(column) for column in SHARED_KEYED)
        shared: dict[str, tuple[Future[bytes], int, npt.NDArray[np.intp]]] = {}
        for column in SHARED_KEYED:
            distinct, index = dictionary_encode(text[column])
            values = distinct.cast(pa.large_binary()).to_pylist()
            task = pool.executor.submit(
                macs_in_worker, self._matching_key, self._local_key, column, values
            )
            shared[column] = (task, len(values), index)
        del text
        inputs = _encoded_inputs()
        needed = [name for name in frame.columns if name in inputs]
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
        height = frame.height
        record_ids = frame["record_id"].cast(pl.Binary).to_list()
        ref_digests = b"".join(self._ref_key.many(record_ids, _REF_BYTES))
        ref_column = hex_column(REF_COLUMN, ref_digests, _REF_BYTES)
        columns: list[pl.Series] = [ref_column]

        keyed = {name: spec for name, spec in self._keyed_inputs().items() if name not in skip}
        text = frame.select(expr.alias(name) for name, (_, expr, _) in keyed.items())
        for name, (key, _, width) in keyed.items():
            columns.append(_keyed_column(name, text[name], key, width))

        filter_inputs = frame.select(
            pl.col("birth_date").dt.to_string("%Y%m%d"),
            *(
                pl.col(name)
                for spec in FILTER_SPECS
                for name in spec.fields
                if name != "birth_date"
            ),
        )
        for spec in FILTER_SPECS:
            columns.append(self._filter_column(spec, filter_inputs, height))

        columns.extend(
            frame[name].cast(getattr(pl, dtype)) for name, dtype in CONTRACT_COLUMNS.items()
        )
        refs = ref_column.cast(pl.Binary).to_list()
        columns.extend(self._sealed_columns(frame, extract_id, data_key, first_row, refs))
        return pl.DataFrame(columns)

    def _filter_column(self, spec: BloomFilterSpec, inputs: pl.DataFrame, height: int) -> pl.Series:
        bloom = self._filters[spec.name]
        positive = np.zeros((height, bloom.words), np.uint64)
        negative = ~np.zeros((height, bloom.words), np.uint64)
        present = np.zeros(height, np.bool_)
        for field_name, tag in zip(spec.fields, self._tags(spec), strict=True):
            # Distinct values are few (names, dates, streets): build each one's component once
            # and gather by dictionary index (0 = null, which contributes nothing).
            distinct, index = dictionary_encode(inputs[field_name])
            gram_sets = [set(), *(qgrams(value, spec.q, tag) for value in distinct.to_pylist())]
            table_p, table_n = bloom.table(gram_sets)
            has_grams = np.array([bool(grams) for grams in gram_sets])
            positive |= table_p[index]
            negative &= table_n[index]
            present |= has_grams[index]
        stored = (positive | negative).view(np.uint8)
        return fixed_binary(FILTER_PREFIX + spec.name, stored, present)

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
        row_bytes = [row.to_bytes(8, "big") for row in range(first_row, first_row + height)]
        out: list[pl.Series] = []
        for field_index, name in enumerate(SEALED_FIELDS):
            field_bytes = field_index.to_bytes(4, "big")
            suffix = name.encode("ascii") + b'"]'
            values = display[name]
            valid = values.is_not_null().to_numpy()
            # map() over prepared lists keeps the per-value Python overhead near the cost of
            # the AES-GCM call itself (the dominant cost of pseudonymising).
            if values.null_count():
                present = np.flatnonzero(valid).tolist()
                nonces = [row_bytes[i] + field_bytes for i in present]
                associated = [prefixes[i] + suffix for i in present]
            else:
                nonces = [rb + field_bytes for rb in row_bytes]
                associated = [prefix + suffix for prefix in prefixes]
            plain = values.drop_nulls().to_list()
            sealed = list(map(encrypt, nonces, plain, associated))
            pieces: list[bytes] = [b""] * (2 * len(sealed))
            pieces[0::2] = nonces
            pieces[1::2] = sealed
            lengths = np.zeros(height, np.int64)
            lengths[valid] = (
                np.fromiter(map(len, sealed), np.int64, len(sealed)) + len(field_bytes) + 8
            )
            out.append(joined_binary(sealed_column(name), b"".join(pieces), lengths, valid))
        return out


def _encoded_inputs() -> frozenset[str]:
    """The input columns :meth:`Encoder._encode_chunk` reads: only these are sent to workers."""
    blocks = {root for expr in block_material().values() for root in expr.meta.root_names()}
    filters = {name for spec in FILTER_SPECS for name in spec.fields}
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
