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
``bloom``     per-block salted, balanced Bloom filters: specs, q-grams, encoding, :func:`dice`.
``blocking``  which blocking keys there are and the plaintext material of each.
``columns``   Arrow-backed column building (no cryptography).
``encoder``   :class:`Encoder`: refs, tokens, blocking keys, filters and sealed columns.
``pool``      :func:`start_encoding_pool` and the functions its spawned workers run.

Keys and subkeys
    Every token, blocking key and Bloom filter has its own 256-bit subkey,
    ``HKDF-SHA256(matching key, salt = epoch id, info = "crosscheck/v1/<kind>/<name>")`` with
    kind ``token`` or ``block`` (filters: ``crosscheck/v2/filter/<name>``, then per pass
    ``crosscheck/v2/positions/<pass>`` and ``crosscheck/v2/pad/<pass>``), so equal strings in
    different fields never give equal outputs. Tokens are HMAC-SHA256 (32 bytes); blocking keys
    HMAC-SHA256 truncated to ``block_bytes`` (16). ``ref`` is
    ``HMAC(HKDF(local key, "crosscheck/v1/local", "crosscheck/v1/ref"), "crosscheck/v2/ref\n"
    || epoch || "\n" || record id)`` truncated to 16 bytes, as 32 lower-case hex: only the
    company can link a ref to its record, and a new matching-key epoch gives every record a new
    ref. HMAC is computed from precomputed inner/outer SHA-256 states (RFC 2104 exactly; the
    tests compare it with :func:`hmac.digest`), 2.5x faster than ``hmac.digest`` per call.

Why contract version 2 (issue 9)
    The matcher's operator holds every upload, but not the key. With version 1 an attack using
    public name lists recovered 98 % of full names from ``filter_name``: (1) one keyed
    permutation for every record, so each bit's complement partner was found from 20,000 rows
    and balancing undone; (2) unpadded sealed values gave name lengths and told which column of
    a pair was real; (3) first and last name pooled into one deterministic filter, so frequent
    filters factored into names; (4) global keyed positions let each bigram's positions be
    learnt from frequent names. Rows also kept the export's order, and nonces were row indices.

Bloom filters: salted per blocking pass and block
    One column per (filter, blocking pass): ``filter_<name>__<pass>``
    (:func:`contract.filter_column`), 2 filters x 4 passes. A record's filter for pass ``p``
    is keyed with its block of ``p``: ``b`` = 8 bytes of BLAKE2b of the pass's blocking-key
    material (never published; the PRF key is the secret). The positions of q-gram ``g`` are
    16-bit words of ``AES-256(K_pos(p), b || id(g) || j)`` modulo the base length (AES as a
    PRF in one bulk ECB call per chunk: cheap per record, vectorised, no per-block key
    schedule), ``id(g)`` 7 bytes of BLAKE2b of the tagged q-gram. So filters of different
    blocks, and of different passes, share no hash function: a frequency or pattern-mining
    attack can only pool statistics within one block (birth date + initial etc., a handful
    of records), where they are what matching computes anyway. A record without a pass's key
    has a null filter for that pass. The matcher compares a pair found in pass ``p`` with
    ``p``'s columns and keeps the best pass (``matcher/core/matching/find.py``).

    ``name``       q-grams of first_name_key and last_name_key, tagged ``a:`` / ``b:`` by the
                   names' place in the pass's order (``blocking.names_swapped``): first name
                   first in ``dob_first``/``dob_last``; by initial in ``dob_initials``; by
                   3-letter prefix in ``names_yob``. Swapped first/last names are therefore
                   equal in the passes whose key brings them together, and no filter is one
                   pooled set of both names. Base 512 bits, 15 positions per q-gram.
    ``birth_date`` q-grams of the 8 digits YYYYMMDD; base 128 bits, 10 positions.
    The version-1 address filter is gone: no rule used it, so the matcher does not get it.
    q = 2, each word padded with ``_`` (``"asa"`` -> ``_a as sa a_``); values folded once more
    (NFKD, marks dropped, case-folded, punctuation to spaces) so "Åsa Öberg" = "Asa Oberg".

    Balancing, not reversible from the data: the base filter is XORed with a per-block pad
    ``AES-256(K_pad(p), b || i)`` and stored with its complement, ``x || ~x``. Every stored
    filter has exactly half its bits set (the weight says nothing about name length), and
    although anybody can see that bit ``i`` and ``i + m`` are partners, which of them is the
    q-gram bit is hidden by the pad, which differs per block. XOR with a common pad keeps
    Hamming distances within a block, so ``Dice = 1 - Hamming(base a, base b) / m`` as in
    version 1: unrelated values score about 0.5, thresholds are unchanged. (A keyed
    permutation per block would be as good, but costs a permutation per distinct block.)
    Bits are packed big-endian (bit i of the filter is bit ``7 - i % 8`` of byte ``i // 8``).

    Measured (same seeds, before -> after): identity-variant recall on synthetic registers
    29/30 -> 29/30 (0.967; pair precision 1.000 -> 0.987; tests/matcher/test_quality.py);
    FEBRL4 pair F1 at the shipped thresholds 0.9903 -> 0.9902 (precision 1.0;
    ``python -m benchmarks.quality_febrl``).
    Cost (measured 2026-12-03 on the shared 2-core machine, other jobs running;
    ``pytest benchmarks/bench_pipeline.py --benchmark-only -s``): 11,896 records/s at 1M
    (v1: 51,500), peak 4.3 GiB; 8 filter columns instead of 3, 13 padded sealed values. The
    per-record work is vectorised (one AES call per chunk and column, bits set by a numba
    kernel); the encoder alone is as fast as v1's, see benchmarks/README.md for what is left.

Blocking keys (keyed HMAC, truncated; null when an input is missing)
    ``block_dob_first``    birth date + first letter of first_name_key: new surname.
    ``block_dob_last``     birth date + first letter of last_name_key: new or misspelt first name.
    ``block_dob_initials`` birth date + the two initials sorted: swapped first and last name.
    ``block_names_yob``    both names' 3-letter prefixes sorted + birth year: a typo in the
                           month or day of the birth date (a personnummer typo).

Sealed fields
    ``sealed_<field>`` for every :data:`~contract.SEALED_FIELDS`: AES-256-GCM under the
    extract's fresh data key, associated data :func:`~contract.sealed_associated_data`, over
    :func:`contract.pad_sealed` of the value (2-byte length, UTF-8, zeros to 32/64/128/256
    bytes), so a ciphertext is 28 + class bytes long whatever the name. The nonce is 12 random
    bytes (``os.urandom``, injectable): 11 fields x 1M rows is far below the 2^32 random nonces
    NIST SP 800-38D allows per key, and a nonce no longer tells the row.

Row order and what stays linkable
    The pipeline shuffles the accepted rows (:func:`shuffled`, random 64-bit sort keys) before
    encoding, so a package's order says nothing about the export's. Within one epoch tokens,
    blocking keys, filters and refs are deterministic (matching and the identity of hits across
    runs need them), so two extracts of one company can be linked row by row by the matcher;
    a new epoch (new matching key) unlinks all of them. Sealed values share nothing between
    extracts. ``contract_start``/``contract_end``/``contract_type`` stay plain (overlap);
    ``tenant_role`` and ``sublet_approved``, which no rule uses, are sealed like the names
    (``sublet_approved`` as ``"true"``/``"false"``).

Parallel encoding
    :func:`start_encoding_pool` starts spawned worker processes (polars does not survive
    fork), ideally before the data is ready. Each worker encodes row chunks and writes them as
    Arrow IPC files into a scratch folder, which the parent maps instead of unpickling;
    blocking keys, birth-date and e-mail tokens are hashed once per distinct value of the
    whole extract. The output equals serial encoding except for the random nonces.
"""

from __future__ import annotations

from connectors.pseudonymise.blocking import BLOCKING_KEYS
from connectors.pseudonymise.bloom import FILTER_SPECS, dice
from connectors.pseudonymise.encoder import Encoder, shuffled
from connectors.pseudonymise.keys import (
    KEY_BYTES,
    LogVerifier,
    MatchingKey,
    SigningKey,
    cosign_checkpoint,
    load_local_key,
    load_log_verifier,
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
    "LogVerifier",
    "MatchingKey",
    "SigningKey",
    "cosign_checkpoint",
    "dice",
    "load_local_key",
    "load_log_verifier",
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
