"""Entry point of the packaged app: the same CLI, which opens the window when given no command."""

import sys

from studio.cli.main import main

sys.exit(main())
