"""Privacy harness (issue 9): attacks on our own packages, run the way an attacker would.

The attacker is the matcher's operator. It holds every company's uploaded packages
(records.parquet + manifest.json), not the matching key, plus the public first-name, surname
and street frequency lists (:mod:`synthetic.namelists`; the attacker knows the distribution
exactly, the strongest case) and an independent population from the same generator (its
knowledge of the joint distribution of birth dates, blocking material and addresses). The
connector's local ref table (ref -> record id) is used only to score guesses.

Columns are discovered by prefix from the parquet schema (``token_``, ``block_``, ``filter_``
incl. per-pass ``filter_<name>__<pass>``, ``sealed_``) and filters are resolved to their
fields through the manifest's specs, so the harness runs unchanged on contract version 1
(today) and on the hardened version 2.

Attacks (each returns a rate beside its baseline, the blind guess of the most frequent value):

1. :mod:`~benchmarks.privacy.frequency`  frequency alignment of every token, blocking-key and
   whole-filter column.
2. :mod:`~benchmarks.privacy.lengths`    the sealed-length side channel on first and last names.
3. :mod:`~benchmarks.privacy.patterns`   pattern mining on name filters, with de-balancing via
   complement column pairs and the length channel; recovers first name + surname.
4. :mod:`~benchmarks.privacy.graph`      similarity-graph matching (a simple version).
5. :mod:`~benchmarks.privacy.linkage`    linking two extracts of one company by any stable
   handle (ref, tokens, blocking keys, filters, row position, sealed-value prefix).
6. :mod:`~benchmarks.privacy.singling`   singling out on the plain contract columns.

Pass or fail: attacks 1-4 are *re-identification* (they recover a person's attribute from the
package) and fail the run (exit 1) when their rate exceeds baseline + 1 percentage point.
Linkage across extracts and singling out are reported on their own lines and do not gate:
within one key epoch, tokens, blocking keys and filters must link (that is what matching is),
and the plain contract columns are needed for the overlap rule; a unique contract row is
isolated, not named. Both are measured so that a change (random nonces, shuffled rows,
epoch-bound refs) shows, and the reader judges the incidental handles (row position, nonce).

References
    P. Christen, T. Ranbaduge, D. Vatsalan, R. Schnell. "Precise and fast cryptanalysis for
    Bloom filter based privacy-preserving record linkage". IEEE TKDE 31(11), 2019.
    P. Christen, R. Schnell, D. Vatsalan, T. Ranbaduge. "Efficient cryptanalysis of Bloom
    filters for privacy-preserving record linkage". PAKDD 2017.
    A. Vidanage, T. Ranbaduge, P. Christen, R. Schnell. "A graph matching attack on
    privacy-preserving record linkage". CIKM 2020.
    R. Schnell, A. Borgs, J. Encheva. "Balanced Bloom filters" (2016), the hardening attacked
    by de-balancing here.

Run: ``python -m benchmarks.privacy --records 100000 --companies 3 --seed 1``.
"""
