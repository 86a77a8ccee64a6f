"""``python -m facepipe_tools.cli``: the ``facepipe`` command."""

import sys

from facepipe_tools.cli import main

sys.exit(main())
