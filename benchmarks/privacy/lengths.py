"""Attack 2, the length side channel: AES-GCM keeps the plaintext's length, so the byte length
of ``sealed_first_name`` / ``sealed_last_name`` tells how long the name is.

The attacker does not need to know the sealing overhead: it is the offset that best fits the
observed length histogram to the public name-length distribution (maximum likelihood over
offsets 0-255). Each record is then guessed to hold the most frequent public name of its
length. Padding to a fixed length leaves one length, and the guess falls back to the baseline
(the most frequent name overall).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.privacy.finding import Finding
from benchmarks.privacy.packages import Extract
from benchmarks.privacy.public import NameList, first_names, fold, surnames

__all__ = ["LengthChannel", "length_channel", "name_lengths"]

# (sealed column, truth key column, public list)
TARGETS = (
    ("sealed_first_name", "first_name_key", first_names),
    ("sealed_last_name", "last_name_key", surnames),
)


@dataclass(frozen=True)
class LengthChannel:
    """What the sealed lengths of one column say: the plaintext byte length per record."""

    offset: int
    lengths: np.ndarray  # plaintext byte length per record (-1: no value or no fit)
    informative: bool  # more than one length seen


def _fit(sealed_lengths: np.ndarray, names: NameList) -> LengthChannel:
    present = sealed_lengths > 0
    public = np.bincount(names.byte_lengths, weights=names.probability, minlength=256)
    observed = np.bincount(sealed_lengths[present], minlength=512)
    best, best_score = 0, -np.inf
    shortest = int(sealed_lengths[present].min()) if present.any() else 0
    for offset in range(min(shortest, 255) + 1):  # no plaintext is shorter than 0 bytes
        shifted = observed[offset : offset + 256]
        p = public[: len(shifted)]
        score = float((shifted * np.log(p + 1e-9)).sum())
        if score > best_score:
            best, best_score = offset, score
    lengths = np.where(present, sealed_lengths - best, -1)
    informative = len(np.unique(sealed_lengths[present])) > 1
    return LengthChannel(best, lengths, informative)


def name_lengths(extract: Extract, column: str, names: NameList) -> LengthChannel | None:
    if column not in extract.records.columns:
        return None
    sealed = extract.records[column].bin.size().fill_null(0).to_numpy().astype(np.int64)
    return _fit(sealed, names)


def _guess_by_length(names: NameList) -> dict[int, str]:
    guess: dict[int, str] = {}
    for key, length in zip(names.keys, names.byte_lengths, strict=True):
        guess.setdefault(int(length), key)  # keys are sorted by probability
    return guess


def length_channel(extracts: Sequence[Extract]) -> list[Finding]:
    findings = []
    for column, truth_column, names_of in TARGETS:
        names = names_of()
        by_length = _guess_by_length(names)
        hits = total = base = 0
        for extract in extracts:
            channel = name_lengths(extract, column, names)
            if channel is None:
                continue
            truth = extract.truth_by_row()[truth_column].fill_null("").to_list()
            fallback = names.most_frequent_key()
            for length, key in zip(channel.lengths.tolist(), truth, strict=True):
                guess = by_length.get(length, fallback)
                hits += guess == fold(key)
                base += fallback == fold(key)
                total += 1
        if total:
            findings.append(Finding("length", column, hits / total, base / total))
    return findings
