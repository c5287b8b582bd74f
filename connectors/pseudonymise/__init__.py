"""Pseudonymisation: every piece of cryptography the connector does, and nothing else.

This package is the only place on the connector side that imports ``cryptography``: no module
outside ``connectors/pseudonymise/`` may (a test parses every connector module to check). It
holds the keys (matching key, company-local key, Ed25519 signing key, the matcher's HPKE reveal
key), the per-extract data key, and the :class:`Encoder` that turns normalised tenancy rows into
the columns of ``records.parquet`` (see :mod:`contract`). A sealed value or wrapped key
that does not open raises the one opaque :class:`~connectors.errors.SealError`. Callers use the
names re-exported here; the submodules split it by concept:

``keys``      key files, manifest signatures, reveal key pairs, HPKE wrap of the data key,
              :func:`seal` / :func:`open_sealed`, and the HMAC and HKDF primitives.
``bloom``     the keyed, balanced Bloom filters: specs, q-grams, hardening, :func:`dice`.
``blocking``  which blocking keys there are and the plaintext material of each.
``columns``   Arrow-backed column building (no cryptography).
``encoder``   :class:`Encoder`: refs, tokens, blocking keys, filters and sealed columns.
``pool``      :func:`start_encoding_pool` and the functions its spawned workers run.

Keys and subkeys
    Every token, blocking key and Bloom filter has its own 256-bit subkey,
    ``HKDF-SHA256(matching key, salt = epoch id, info = "crosscheck/v1/<kind>/<name>")`` with
    kind ``token``, ``block`` or ``filter``, so equal strings in different fields never give
    equal outputs. ``ref`` uses ``HKDF-SHA256(local key, salt = "crosscheck/v1/local",
    info = "crosscheck/v1/ref")``: only the company can link a ref to its record id.
    Tokens are HMAC-SHA256 (32 bytes); blocking keys HMAC-SHA256 truncated to
    ``block_bytes`` (16); ``ref`` is HMAC-SHA256 truncated to 16 bytes, as 32 lower-case hex.
    HMAC is computed from precomputed inner/outer SHA-256 states (RFC 2104 exactly; the tests
    compare it with :func:`hmac.digest`) because that is 2.5x faster than ``hmac.digest`` per call.

Bloom filters (CLK-style, field level)
    ``filter_name``     q-grams of first_name_key and last_name_key pooled in one set, so
                        swapped first/last names give the same filter; base 512 bits,
                        15 positions per q-gram.
    ``filter_birth_date`` q-grams of the 8 digits YYYYMMDD; base 128 bits, 10 positions.
    ``filter_address``  q-grams of street_name_key, street_number, street_letter and
                        postal_code, each tagged with its field so that "12" as a number and
                        as part of a postal code are different q-grams; base 512 bits,
                        10 positions.
    q = 2 (bigrams) everywhere. Each word is padded with one ``_`` on both sides (``"asa"`` ->
    ``_a as sa a_``) so first and last letters weigh as much as inner ones; q-grams form a set.
    Before q-gramming a value is folded once more (NFKD, combining marks dropped, case-folded,
    punctuation to spaces): idempotent on the normaliser's ``*_key`` columns, and it keeps lost
    diacritics ("Åsa Öberg" / "Asa Oberg") at Dice 1 even for keys from another normaliser.
    The base lengths and positions per q-gram put a typical value at 30-50 % fill, where
    similarity stays informative without saturating.

    Hardening, two layers:

    1. Keyed random hashing. The positions of a q-gram are the first ``k`` 16-bit words of
       ``HMAC-SHA256(filter subkey, block index || q-gram)`` modulo the (power of two) base
       length, not double hashing: Kroll and Steinmetzer (2015) and Niedermeyer et al. (2014)
       recover q-grams from double-hashed CLKs because double hashing's positions are an
       arithmetic progression; independent keyed positions leave no such structure, and
       without the matching key nobody (the matcher included) can compute any position.
    2. Balancing (Schnell, Borgs and Encheva 2016): the stored filter is the base filter
       concatenated with its complement, then permuted by a keyed permutation (positions
       sorted by HMAC of their index). Every stored filter has exactly half its bits set, so
       the Hamming weight no longer reveals name length or q-gram count, which the
       frequency and pattern-mining attacks of Christen, Ranbaduge, Vatsalan and Schnell
       (PAKDD 2017; TKDE 2018) use to align filters with frequent names. Balancing was picked
       over salting with a stable attribute (salting by birth year would break the
       birth-date-typo variant, whose names must still match) and over XOR-folding or BLIP
       (both flip or merge bits and cost recall on one-letter typos). Balancing is lossless:
       for base length m, ``Dice(balanced a, balanced b) = 1 - Hamming(a, b) / m``, so the
       ranking of candidate pairs equals the Hamming ranking of the base filters; unrelated
       values score about 0.5-0.6 instead of about 0.1, which the matcher's thresholds use.
    Stored lengths are twice the base: 1024, 256 and 1024 bits (``length_bits`` in
    :class:`~contract.BloomFilterSpec`). Bits are packed big-endian (bit i of the filter
    is bit ``7 - i % 8`` of byte ``i // 8``), as anonlink does. A filter is null when every
    input field is null or empty, so two records without names never compare as equal.

Blocking keys (keyed HMAC, truncated; null when an input is missing)
    ``block_dob_first``    birth date + first letter of first_name_key: new surname.
    ``block_dob_last``     birth date + first letter of last_name_key: new or misspelt first name.
    ``block_dob_initials`` birth date + the two initials sorted: swapped first and last name.
    ``block_names_yob``    both names' 3-letter prefixes sorted + birth year: a typo in the
                           month or day of the birth date (a personnummer typo).

Sealed fields
    ``sealed_<field>`` for every :data:`~contract.SEALED_FIELDS`: AES-256-GCM
    under the extract's data key, associated data :func:`~contract.sealed_associated_data`,
    nonce = absolute row index (8 bytes, big-endian) || field index (4 bytes). A nonce never
    repeats under one data key because the data key is fresh per extract and (row, field) is
    unique in it; chunks encoded in parallel take their absolute first row.

Parallel encoding
    :func:`start_encoding_pool` starts spawned worker processes (polars does not survive
    fork), ideally before the data is ready. Each worker encodes row chunks and writes them as
    Arrow IPC files into a scratch folder, which the parent maps instead of unpickling;
    blocking keys, birth-date and e-mail tokens are hashed once per distinct value of the
    whole extract. The output is byte-identical to serial encoding.
"""

from __future__ import annotations

from connectors.pseudonymise.blocking import BLOCKING_KEYS
from connectors.pseudonymise.bloom import FILTER_SPECS, dice
from connectors.pseudonymise.encoder import Encoder, shuffled
from connectors.pseudonymise.keys import (
    KEY_BYTES,
    MatchingKey,
    SigningKey,
    load_local_key,
    load_matching_key,
    load_signing_key,
    new_data_key,
    new_local_key,
    new_matching_key,
    new_reveal_key_pair,
    new_signing_key,
    open_sealed,
    reveal_kem_of,
    seal,
    sign_manifest,
    signing_public_pem,
    unwrap_data_key,
    verify_manifest,
    wrap_data_key,
    write_local_key,
    write_matching_key,
    write_secret_file,
)
from connectors.pseudonymise.pool import EncodingPool, start_encoding_pool

__all__ = [
    "BLOCKING_KEYS",
    "FILTER_SPECS",
    "KEY_BYTES",
    "Encoder",
    "EncodingPool",
    "MatchingKey",
    "SigningKey",
    "dice",
    "load_local_key",
    "load_matching_key",
    "load_signing_key",
    "new_data_key",
    "new_local_key",
    "new_matching_key",
    "new_reveal_key_pair",
    "new_signing_key",
    "open_sealed",
    "reveal_kem_of",
    "seal",
    "shuffled",
    "sign_manifest",
    "signing_public_pem",
    "start_encoding_pool",
    "unwrap_data_key",
    "verify_manifest",
    "wrap_data_key",
    "write_local_key",
    "write_matching_key",
    "write_secret_file",
]
