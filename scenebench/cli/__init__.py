"""The ``scenebench`` command line (click): thin skins over the library."""

from .main import main

__all__ = ["main"]
