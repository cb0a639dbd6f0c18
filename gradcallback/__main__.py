"""`python -m gradcallback ...`: the same as the `gradcallback` command."""

import sys

from .cli.main import main

sys.exit(main())
