"""``python -m memalloc_py``: the memalloc command."""
import sys

from .cli import main

sys.exit(main())
