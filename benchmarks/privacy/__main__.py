"""``python -m benchmarks.privacy``: see :mod:`benchmarks.privacy.run`."""

from benchmarks.privacy.run import main

raise SystemExit(main())
