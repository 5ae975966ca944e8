"""python -m xlnet: the same as the xlnet command."""

import sys

from .cli import main

sys.exit(main())
