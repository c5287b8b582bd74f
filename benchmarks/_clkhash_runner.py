"""Run clkhash on a CSV of the benchmark's identity columns; print seconds and count as JSON.

Executed with .venv-clkhash/bin/python: clkhash pins cryptography < 41, which conflicts with
the project's cryptography, so it lives in its own virtualenv. The schema mirrors
connectors.pseudonymise.FILTER_SPECS: 1024-bit CLK, bigrams, 15 bits per name q-gram,
10 per date and address q-gram.
"""

from __future__ import annotations

import csv
import json
import sys
import time

from clkhash import clk
from clkhash.schema import from_json_dict

__all__: list[str] = []


def _feature(identifier: str, bits: int) -> dict[str, object]:
    return {
        "identifier": identifier,
        "format": {"type": "string", "encoding": "utf-8"},
        "hashing": {
            "comparison": {"type": "ngram", "n": 2},
            "strategy": {"bitsPerToken": bits},
            "hash": {"type": "blakeHash"},
        },
    }


SCHEMA = {
    "version": 3,
    "clkConfig": {
        "l": 1024,
        "kdf": {"type": "HKDF", "hash": "SHA256", "keySize": 64, "salt": "", "info": ""},
    },
    "features": [
        _feature("first_name", 15),
        _feature("last_name", 15),
        _feature("birth_date", 10),
        _feature("street", 10),
        _feature("number", 10),
        _feature("postal_code", 10),
    ],
}


def main() -> None:
    path, workers = sys.argv[1], int(sys.argv[2])
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    schema = from_json_dict(SCHEMA)
    start = time.perf_counter()
    clks = clk.generate_clks(rows, schema, "benchmark secret", validate=False, max_workers=workers)
    seconds = time.perf_counter() - start
    print(json.dumps({"records": len(clks), "seconds": seconds}))


if __name__ == "__main__":
    main()
