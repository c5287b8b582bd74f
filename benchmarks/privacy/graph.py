"""Attack 4, graph matching on similarity graphs (a simple, honest version of Vidanage,
Ranbaduge, Christen and Schnell, CIKM 2020).

Encoded side: the most frequent distinct values of a name filter, Dice similarity between
every two. Plaintext side: as many of the most probable public full names, Dice similarity of
their bigram sets. The two similarity scales differ (balancing, collisions), so each side's
similarities are first turned into quantiles of that side's own similarity distribution. Node
features: degree at the 90/95/99 % quantile thresholds and the sorted top-10 neighbour
quantiles; nodes are matched by minimum-cost assignment on standardised features. What the
paper adds and this does not: node2vec embeddings, iterative re-matching with seed pairs.
Score: share of records whose filter's matched name is their (first, last); baseline as for
pattern mining.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.privacy.finding import Finding
from benchmarks.privacy.packages import Extract
from benchmarks.privacy.patterns import load_filter, name_filters, score_names
from benchmarks.privacy.public import bigrams, first_names, surnames

__all__ = ["graph_matching"]

_NODES = 400


def _quantiles(sim: np.ndarray) -> np.ndarray:
    upper = sim[np.triu_indices_from(sim, 1)]
    ranks = np.searchsorted(np.sort(upper), sim, side="right") / max(1, upper.size)
    np.fill_diagonal(ranks, 0.0)
    return ranks


def _features(sim: np.ndarray) -> np.ndarray:
    q = _quantiles(sim)
    degrees = [(q >= t).sum(1) for t in (0.9, 0.95, 0.99)]
    top = -np.sort(-q, axis=1)[:, :10]
    features = np.column_stack([*degrees, top])
    return (features - features.mean(0)) / (features.std(0) + 1e-9)


def _dice_bits(bits: np.ndarray) -> np.ndarray:
    b = bits.astype(np.float32)
    both = b @ b.T
    size = b.sum(1)
    return 2 * both / (size[:, None] + size[None, :] + 1e-9)


def _assign(cost: np.ndarray) -> np.ndarray:
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # greedy: each encoded node takes its cheapest free name
        taken: set[int] = set()
        out = np.zeros(cost.shape[0], np.int64)
        for i in np.argsort(cost.min(1)):
            j = next(int(j) for j in np.argsort(cost[i]) if int(j) not in taken)
            taken.add(j)
            out[i] = j
        return out
    rows, cols = linear_sum_assignment(cost)
    out = np.zeros(cost.shape[0], np.int64)
    out[rows] = cols
    return out


def graph_matching(extracts: Sequence[Extract]) -> list[Finding]:
    findings = []
    first, last = first_names(), surnames()
    joint = np.log(first.probability)[:, None] + np.log(last.probability)[None, :]
    for column in name_filters(extracts[0]):
        data = load_filter(extracts, column, debalance=False)
        nodes = np.argsort(-data.counts, kind="stable")[:_NODES]
        order = np.argsort(-joint, axis=None)[: len(nodes)]
        pf, pl_ = np.unravel_index(order, joint.shape)
        grams = [bigrams(first.keys[f] + " " + last.keys[s]) for f, s in zip(pf, pl_, strict=True)]
        plain = np.array(
            [[2 * len(a & b) / (len(a) + len(b)) for b in grams] for a in grams], np.float32
        )
        enc_features = _features(_dice_bits(data.bits[nodes]))
        plain_features = _features(plain)
        cost = ((enc_features[:, None, :] - plain_features[None, :, :]) ** 2).sum(-1)
        match = _assign(cost)
        guess_first = [""] * len(data.counts)
        guess_last = [""] * len(data.counts)
        for node, name in zip(nodes.tolist(), match.tolist(), strict=True):
            guess_first[node], guess_last[node] = first.keys[pf[name]], last.keys[pl_[name]]
        rate, baseline = score_names(data.code, guess_first, guess_last, extracts)
        findings.append(
            Finding("graph-matching", column, rate, baseline, note=f"{len(nodes)} nodes")
        )
    return findings
