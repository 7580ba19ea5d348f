"""``python -m dgno``: the command line."""

import sys

from dgno.cli import main

sys.exit(main())
