"""`make demo`: the whole Crosscheck story on synthetic data, as the real commands people type.

Not part of the installed packages: it is glue that drives both sides (a housing company's
connector and the central matcher) the way their operators would, from this repository.
"""

__all__: list[str] = []
