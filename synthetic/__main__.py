"""`python -m synthetic`: the same as the `crosscheck-synth` command."""

import sys

from synthetic.cli import main

sys.exit(main())
