"""``python -m pytest_tmuxorch`` is the ``tmuxorch`` console script."""

from .cli import main

raise SystemExit(main())
