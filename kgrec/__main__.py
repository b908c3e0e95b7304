"""`python -m kgrec`: the same command as the installed `kgrec` script, for a checkout that is not installed."""

import sys

from kgrec.cli import main

sys.exit(main())
