"""`python -m harness` is the `callchain` command."""

import sys

from .cli import main

sys.exit(main())
