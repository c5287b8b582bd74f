"""Attack 3, pattern mining on a name filter, with de-balancing (after Christen, Ranbaduge,
Vatsalan and Schnell, TKDE 2019).

1. *De-balancing.* A balanced filter stores a base filter and its complement, permuted. Two
   columns whose bits are complements in every row are such a pair; the bit that grows with the
   name's length (the length side channel, :mod:`benchmarks.privacy.lengths`) is the base bit.
   Without pairs, all columns are kept.
2. *Frequent values aligned with frequent names.* The most frequent distinct filter values are
   aligned by rank with the most probable public full names, within groups of equal
   (first, last) name byte length when the length channel speaks.
3. *Bigram -> positions.* Per bigram, the ``k`` positions (``hashes_per_qgram``) whose set
   rate rises most from filters believed to lack it to filters believed to hold it, pooled over
   every name that shares the bigram (a soft intersection, robust to wrong labels: a quarter of
   right labels is enough to start).
4. *Decoding.* Each distinct filter is explained by the candidate full name (first from the
   first-name list, last from the surname list) whose bigram positions cover its set bits best:
   fewest unexplained set bits, fewest predicted bits that are not set, a small prior.
5. Decoded names are fed back as a larger, noisier alignment, and steps 3-4 repeat.

Score: share of records whose first name and surname are both recovered; baseline: the most
frequent first name with the most frequent surname.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from benchmarks.privacy.finding import Finding, bit_matrix
from benchmarks.privacy.lengths import name_lengths
from benchmarks.privacy.packages import Extract
from benchmarks.privacy.public import NameList, bigrams, first_names, fold, surnames

__all__ = ["Decoded", "FilterData", "decode_names", "load_filter", "name_filters", "pattern_mining"]

_SAMPLE = 20_000  # distinct filters used to find complement pairs
_ROUNDS = 7  # decoded names feed the next round; 20k records: 2 %, 8 %, 28 %, 71 %, 96 %
_CLEAR = 1.0  # probability ratio to neighbouring ranks for a trusted alignment (1: all)
_TOP_FIRST, _TOP_LAST = 6, 10


@dataclass(frozen=True)
class FilterData:
    """One filter column of all extracts, pooled: distinct values and what each record holds."""

    column: str
    bits: np.ndarray  # distinct values x kept columns, bool
    counts: np.ndarray  # records per distinct value
    code: np.ndarray  # per record: index of its distinct value (-1: null)
    first_len: np.ndarray  # per distinct value: first-name byte length (-1: unknown)
    last_len: np.ndarray
    pairs: int  # complement pairs found
    k: int  # positions per q-gram (the manifest's hashes_per_qgram)


@dataclass(frozen=True)
class Decoded:
    first: np.ndarray  # per distinct value: index into first_names()
    last: np.ndarray  # per distinct value: index into surnames()


def name_filters(extract: Extract) -> list[str]:
    return [
        column
        for column, fields in extract.filter_fields.items()
        if {"first_name_key", "last_name_key"} & set(fields)
    ]


def _mode_per(code: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    frame = pl.DataFrame({"c": code, "v": values}).filter((pl.col("c") >= 0) & (pl.col("v") >= 0))
    modes = frame.group_by("c").agg(pl.col("v").mode().first())
    out = np.full(size, -1, np.int64)
    out[modes["c"].to_numpy()] = modes["v"].to_numpy()
    return out


def _complement_pairs(sample: np.ndarray) -> list[tuple[int, int]]:
    packed = np.packbits(sample.T, axis=1)
    flipped = np.packbits(~sample.T, axis=1)
    where = {packed[j].tobytes(): j for j in range(packed.shape[0])}
    pairs, used = [], set()
    for j in range(packed.shape[0]):
        k = where.get(flipped[j].tobytes())
        if k is not None and j not in used and k not in used and j != k:
            pairs.append((j, k))
            used.update((j, k))
    return pairs


def load_filter(extracts: Sequence[Extract], column: str, *, debalance: bool = True) -> FilterData:
    values = pl.concat([e.records[column] for e in extracts])
    frame = pl.DataFrame({"v": values}).with_row_index("i")
    distinct = frame.filter(pl.col("v").is_not_null()).unique("v", maintain_order=True)
    distinct = distinct.with_row_index("d")
    code_frame = frame.join(distinct.select("v", "d"), on="v", how="left", maintain_order="left")
    code = code_frame["d"].fill_null(-1).to_numpy().astype(np.int64)
    size = distinct.height
    counts = np.bincount(code[code >= 0], minlength=size)
    bits = bit_matrix(distinct["v"].to_list())

    lens = {}
    for sealed, names in (("sealed_first_name", first_names()), ("sealed_last_name", surnames())):
        channels = [name_lengths(e, sealed, names) for e in extracts]
        if all(c is not None and c.informative for c in channels):
            per_record = np.concatenate([c.lengths for c in channels if c is not None])
            lens[sealed] = _mode_per(code, per_record, size)
        else:
            lens[sealed] = np.full(size, -1, np.int64)

    pairs: list[tuple[int, int]] = []
    if debalance:
        rng = np.random.default_rng(0)
        sample = bits[rng.permutation(size)[:_SAMPLE]]
        pairs = _complement_pairs(sample)
    if pairs and len(pairs) * 2 >= bits.shape[1] * 0.9:
        total = (lens["sealed_first_name"] + lens["sealed_last_name"]).astype(float)
        known = (lens["sealed_first_name"] >= 0) & (lens["sealed_last_name"] >= 0)
        keep = []
        for j, k in pairs:
            if known.sum() > 100 and np.std(total[known]) > 0:
                corr = np.corrcoef(bits[known, j], total[known])[0, 1]
                keep.append(j if corr > 0 else k)
            else:  # no length signal: the base filter is the sparser half
                keep.append(j if bits[:, j].mean() < bits[:, k].mean() else k)
        bits = bits[:, np.array(sorted(keep))]
    else:
        pairs = []
    k = 15
    for spec in extracts[0].manifest["encoding"]["filters"]:
        if column.removeprefix("filter_").split("__")[0] == spec["name"]:
            k = int(spec["hashes_per_qgram"])
    return FilterData(
        column,
        bits,
        counts,
        code,
        lens["sealed_first_name"],
        lens["sealed_last_name"],
        len(pairs),
        k,
    )


# ------------------------------------------------------------------------------- learning


class _Candidates:
    """The public names as bigram sets, and their masks under the learnt bigram positions."""

    def __init__(self, names: NameList) -> None:
        self.names = names
        self.grams = [bigrams(key) for key in names.keys]
        self.log_p = np.log(names.probability)
        self.lengths = names.byte_lengths


def _per_name_rates(
    bits: np.ndarray, weight: np.ndarray, label: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    acc = np.zeros((size, bits.shape[1]))
    total = np.zeros(size)
    for start in range(0, len(label), 20_000):
        part = slice(start, start + 20_000)
        chosen = label[part] >= 0
        rows = bits[part][chosen].astype(np.float32) * weight[part][chosen, None]
        np.add.at(acc, label[part][chosen], rows)
        np.add.at(total, label[part][chosen], weight[part][chosen])
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = acc / total[:, None]
    return np.nan_to_num(rate), total


def _learn(
    data: FilterData, label: Decoded, weight: np.ndarray, first: _Candidates, last: _Candidates
) -> dict[str, np.ndarray]:
    """Bigram -> bool mask of its positions, from names believed to be held by filters.

    A bigram's positions are the ``k`` (positions per q-gram, from the manifest) whose set rate
    rises most between filters believed to lack it and filters believed to hold it: a soft
    intersection over all names sharing the bigram, robust to wrongly labelled filters.
    """
    sums, totals = [], []
    for cands, labels in ((first, label.first), (last, label.last)):
        rate, total = _per_name_rates(data.bits, weight, labels, len(cands.grams))
        sums.append(rate * total[:, None])
        totals.append(total)
    overall = sums[0].sum(0)
    overall_total = totals[0].sum()
    grams = sorted({g for c in (first, last) for gs in c.grams for g in gs})
    masks = {}
    for gram in grams:
        with_f = np.array([gram in g for g in first.grams])
        with_l = np.array([gram in g for g in last.grams])
        in_sum = sums[0][with_f].sum(0) + sums[1][with_l].sum(0)
        in_total = totals[0][with_f].sum() + totals[1][with_l].sum()
        out_total = overall_total - in_total
        if in_total <= 0 or out_total <= 0:
            continue
        lift = in_sum / in_total - np.clip(overall - in_sum, 0, None) / out_total
        top = np.argsort(-lift)[: data.k]
        mask = np.zeros(data.bits.shape[1], bool)
        mask[top[lift[top] > 0.2]] = True
        masks[gram] = mask
    return masks


def _name_masks(cands: _Candidates, masks: dict[str, np.ndarray], width: int) -> np.ndarray:
    out = np.zeros((len(cands.grams), width), bool)
    for i, grams in enumerate(cands.grams):
        for gram in grams:
            if gram in masks:
                out[i] |= masks[gram]
    return out


def _decode(
    data: FilterData, masks: dict[str, np.ndarray], first: _Candidates, last: _Candidates
) -> Decoded:
    width = data.bits.shape[1]
    mf = _name_masks(first, masks, width)
    ml = _name_masks(last, masks, width)
    mf32, ml32 = mf.astype(np.float32), ml.astype(np.float32)
    size_f, size_l = mf.sum(1), ml.sum(1)
    out_f = np.zeros(len(data.counts), np.int64)
    out_l = np.zeros(len(data.counts), np.int64)
    for start in range(0, len(data.counts), 4_000):
        part = slice(start, start + 4_000)
        b = data.bits[part]
        b32 = b.astype(np.float32)
        # cover = |mask & b| by a matrix product; miss = |mask| - cover
        cover_f, cover_l = b32 @ mf32.T, b32 @ ml32.T
        score_f = 1.0 * cover_f - 2.0 * (size_f - cover_f) + 0.3 * first.log_p
        score_l = 1.0 * cover_l - 2.0 * (size_l - cover_l) + 0.3 * last.log_p
        fl, ll = data.first_len[part], data.last_len[part]
        score_f -= 1e4 * ((fl[:, None] >= 0) & (first.lengths[None, :] != fl[:, None]))
        score_l -= 1e4 * ((ll[:, None] >= 0) & (last.lengths[None, :] != ll[:, None]))
        top_f = np.argsort(-score_f, axis=1)[:, :_TOP_FIRST]
        top_l = np.argsort(-score_l, axis=1)[:, :_TOP_LAST]
        union = mf[top_f][:, :, None, :] | ml[top_l][:, None, :, :]
        unexplained = (b[:, None, None, :] & ~union).sum(-1)
        missing = (union & ~b[:, None, None, :]).sum(-1)
        prior = first.log_p[top_f][:, :, None] + last.log_p[top_l][:, None, :]
        length_penalty = (np.take_along_axis(score_f, top_f, 1)[:, :, None] < -1e3) | (
            np.take_along_axis(score_l, top_l, 1)[:, None, :] < -1e3
        )
        pair = -(unexplained + 2.0 * missing) + 0.3 * prior - 1e4 * length_penalty
        best = pair.reshape(len(b), -1).argmax(1)
        out_f[part] = top_f[np.arange(len(b)), best // _TOP_LAST]
        out_l[part] = top_l[np.arange(len(b)), best % _TOP_LAST]
    return Decoded(out_f, out_l)


def _initial_alignment(data: FilterData, first: _Candidates, last: _Candidates) -> Decoded:
    """Rank-align frequent filters with probable full names, per (first, last) length group."""
    frequent = np.flatnonzero(data.counts >= 3)
    frequent = frequent[np.argsort(-data.counts[frequent], kind="stable")][:1500]
    joint = first.log_p[:, None] + last.log_p[None, :]
    order = np.argsort(-joint, axis=None)[:200_000]
    pf, pl_ = np.unravel_index(order, joint.shape)
    queues: dict[tuple[int, int], list[int]] = {}
    for rank, (f, s) in enumerate(zip(pf.tolist(), pl_.tolist(), strict=True)):
        key = (int(first.lengths[f]), int(last.lengths[s]))
        queues.setdefault(key, []).append(rank)
    global_queue = list(range(len(order)))
    joint_p = np.exp(joint.ravel()[order])
    label_f = np.full(len(data.counts), -1, np.int64)
    label_l = np.full(len(data.counts), -1, np.int64)
    groups: dict[tuple[int, int], list[int]] = {}
    for value in frequent.tolist():
        key = (int(data.first_len[value]), int(data.last_len[value]))
        groups.setdefault(key if min(key) >= 0 else (-1, -1), []).append(value)
    for key, values in groups.items():
        queue = global_queue if key == (-1, -1) else queues.get(key, [])
        # Keep only ranks whose name is clearly more probable than the next one: there the
        # observed order is likely the true order (a few right labels beat many wrong ones).
        for at, value in enumerate(values[: len(queue)]):
            nxt = joint_p[queue[at + 1]] if at + 1 < len(queue) else 0.0
            prv = joint_p[queue[at - 1]] if at > 0 else np.inf
            here = joint_p[queue[at]]
            if here >= _CLEAR * nxt and prv >= _CLEAR * here:
                label_f[value], label_l[value] = pf[queue[at]], pl_[queue[at]]
    return Decoded(label_f, label_l)


def decode_names(data: FilterData) -> Decoded:
    first, last = _Candidates(first_names()), _Candidates(surnames())
    label = _initial_alignment(data, first, last)
    weight = data.counts.astype(np.float64)
    for _ in range(_ROUNDS):
        masks = _learn(data, label, weight, first, last)
        label = _decode(data, masks, first, last)
    return label


def _truth_keys(extracts: Sequence[Extract]) -> tuple[list[str], list[str]]:
    rows = pl.concat([e.truth_by_row().select("first_name_key", "last_name_key") for e in extracts])
    return (
        [fold(v or "") for v in rows["first_name_key"].to_list()],
        [fold(v or "") for v in rows["last_name_key"].to_list()],
    )


def score_names(
    code: np.ndarray, guess_first: list[str], guess_last: list[str], extracts: Sequence[Extract]
) -> tuple[float, float]:
    """Share of records whose (first, last) is guessed; baseline: the commonest pair."""
    true_first, true_last = _truth_keys(extracts)
    top_f, top_l = first_names().most_frequent_key(), surnames().most_frequent_key()
    hits = base = 0
    for c, f, s in zip(code.tolist(), true_first, true_last, strict=True):
        base += f == top_f and s == top_l
        if c >= 0:
            hits += guess_first[c] == f and guess_last[c] == s
    return hits / len(code), base / len(code)


def pattern_mining(extracts: Sequence[Extract]) -> list[Finding]:
    findings = []
    for column in name_filters(extracts[0]):
        data = load_filter(extracts, column)
        decoded = decode_names(data)
        keys_f, keys_l = first_names().keys, surnames().keys
        rate, baseline = score_names(
            data.code,
            [keys_f[i] for i in decoded.first],
            [keys_l[i] for i in decoded.last],
            extracts,
        )
        note = f"{data.pairs} complement pairs, {data.bits.shape[1]} bits kept"
        findings.append(Finding("pattern-mining", column, rate, baseline, note=note))
    return findings
