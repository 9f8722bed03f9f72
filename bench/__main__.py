"""``python -m bench [--quick] [--only A,B,C,M,D,E] [--db sqlite|postgresql|both] [--profile]``."""

import sys

from bench.runner import main

sys.exit(main())
