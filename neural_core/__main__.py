"""``python -m neural_core <command> ...``: see docs/worker-protocol.md."""

import sys

from .cli import main

sys.exit(main())
