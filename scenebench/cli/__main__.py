"""``python -m scenebench.cli``."""

from .main import main

main()
