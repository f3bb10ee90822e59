"""Every command and option given bad values: one `error:` line (or click's usage error), never a traceback,
and nothing written by a command that failed."""

import os
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import read_split
from scenebench.cli import main
from scenebench.evaluation import submission

BAD = {
    "int": ["-1", "0", "abc", "99999999999999999999", "1.5"],
    "path": ["", "{file}/sub", "/proc/forbidden/x", "{long}", "a\x00b"],
    "str": ["", "nope", "{long}", "a\x00b", "../../etc"],
}


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


@pytest.fixture(scope="module")
def sub_file(small_lavae, tmp_path_factory):
    ref = read_split(small_lavae, "test")
    p = tmp_path_factory.mktemp("sub") / "gt.h5"
    return submission.write(p, dataset=small_lavae, split="test", method="gt", segmentation=ref["segmentation"],
                            num_objects=ref["num_objects"])


def _bases(small_lavae, sub_file, out):
    """A quick invocation of each command (valid, or failing fast on purpose) that the fuzz mutates."""
    return {
        ("generate",): ["generate", "multi_dsprites", "--num", "3", "--workers", "1", "--split", "test",
                        "--out", str(out / "data")],
        ("list",): ["list"],
        ("verify",): ["verify", str(small_lavae)],
        ("show",): ["show", str(small_lavae), "-n", "2", "-o", str(out / "sheet.png")],
        ("evaluate",): ["evaluate", str(sub_file), "--data", str(small_lavae), "-j", "1"],
        ("leaderboard",): ["leaderboard", "--dir", str(out / "board"), "-o", str(out / "board.md")],
        ("baseline", "list"): ["baseline", "list"],
        ("baseline", "train"): ["baseline", "train", "lavae", "--data", str(out / "no-such-data"),
                                "--out", str(out / "run")],
        ("baseline", "predict"): ["baseline", "predict", "lavae", "-k", str(out / "no-such-run"),
                                  "-d", str(small_lavae), "-o", str(out / "p.h5")],
        ("baseline", "sheets"): ["baseline", "sheets", "lavae", "-k", str(out / "no-such-run"),
                                 "-d", str(small_lavae), "-o", str(out / "sheets")],
        ("reproduce",): ["reproduce", "lavae-table1", "--only", "no-such-column", "--data-root", str(out / "d"),
                         "--runs", str(out / "r"), "--no-leaderboard"],
    }


def _kind(param) -> str:
    if isinstance(param.type, click.types.IntParamType):
        return "int"
    if isinstance(param.type, click.Path):
        return "path"
    return "str"


def _snapshot(d: Path) -> set:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


def test_every_option_with_bad_values(small_lavae, sub_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    fill = {"{file}": str(blocker), "{long}": "x" * 5000}
    bases = _bases(small_lavae, sub_file, out)
    runner = CliRunner()
    seen = set()
    tried = 0
    for path, cmd in _commands(main):
        assert path in bases, f"add a base invocation for `scenebench {' '.join(path)}`"
        base = bases[path]
        for param in cmd.params:
            if isinstance(param, click.Option) and (param.is_flag or param.count):
                continue
            for raw in BAD[_kind(param)]:
                value = raw
                for k, v in fill.items():
                    value = value.replace(k, v)
                if isinstance(param, click.Argument):
                    pos = len(path) + [p for p in cmd.params if isinstance(p, click.Argument)].index(param)
                    args = base[:pos] + [value] + base[pos + 1:]
                else:
                    opt = param.opts[0]
                    args = list(base)
                    if opt in args:
                        args[args.index(opt) + 1] = value
                    else:
                        args += [opt, value]
                before = _snapshot(tmp_path)
                res = runner.invoke(main, args, catch_exceptions=True)
                tried += 1
                text = res.output
                where = f"scenebench {' '.join(repr(a) if len(a) < 60 else '<long>' for a in args)}"
                assert res.exception is None or isinstance(res.exception, SystemExit), \
                    f"{where}: {type(res.exception).__name__}: {str(res.exception)[:300]}"
                assert "Traceback" not in text, where
                if res.exit_code != 0:
                    last = [line for line in text.splitlines() if line.strip()][-1]
                    assert last.startswith("error: ") or "Error:" in text, (where, text[-500:])
                    new = _snapshot(tmp_path) - before
                    assert not {n for n in new if not n.endswith(".lock")}, (where, sorted(new)[:5])
                seen.add(path)
    assert tried > 150 and len(seen) >= 6
