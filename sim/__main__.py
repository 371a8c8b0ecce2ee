"""``python -m sim``: the rescuesim command line."""

import sys

from sim.cli import main

sys.exit(main())
