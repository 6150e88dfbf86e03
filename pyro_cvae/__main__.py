"""``python -m pyro_cvae``: the same as the ``pyro-cvae`` command."""

import sys

from .cli import main

sys.exit(main())
