"""What every click command module shares: the error-handling group and ``--set`` parsing.

Imports only click, so ``scenebench --help`` and ``scenebench list`` stay fast.
"""

from __future__ import annotations

import sys

import click

from ..errors import ConfigError, ScenebenchError


class Group(click.Group):
    """Turn user errors into one ``error:`` line on stderr and a non-zero exit (no traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ScenebenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; re-run the same command to resume", err=True)
            sys.exit(130)
        except OSError as exc:  # the file system refused a path the user gave (too long, not a folder, no permission)
            name = "" if exc.filename is None else str(exc.filename)
            name = name if len(name) <= 160 else name[:80] + "..." + name[-40:]
            click.echo(f"error: {name + ': ' if name else ''}{exc.strerror or exc}; expected a path that can be "
                       "read or written", err=True)
            sys.exit(2)
        except ValueError as exc:
            if "null byte" not in str(exc):
                raise
            click.echo("error: an argument contains a NUL byte; expected plain text", err=True)
            sys.exit(2)


def parse_sets(values) -> dict:
    """``("a=1", "b.c=x")`` → ``{"a": "1", "b.c": "x"}``; an item without ``=`` is a one-line error."""
    out = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out
