"""Leaderboard: entries store (atomic, concurrent), Markdown/HTML rendering, paper numbers, escaping."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import read_split
from scenebench.evaluation import submission
from scenebench.evaluation.leaderboard import LeaderboardError, add_entry, load_entries, render


def _results(method="m", family="multi_dsprites", preset="cis", split="test", sha="ab", fp="cd", **metrics):
    metrics = metrics or {"miou": {"mean": 0.5, "std": 0.1, "n": 10}}
    return {"format": "scenebench-results/1",
            "dataset": {"fingerprint": (fp * 64)[:64], "family": family, "preset": preset, "version": "1.0.0",
                        "seed": 0, "split": split, "num_samples": 10},
            "submission": {"file": "s.h5", "sha256": (sha * 64)[:64], "bytes": 1, "format": "hdf5", "fields": []},
            "method": {"name": method, "paper": None, "notes": None}, "metrics": metrics,
            "scenebench": "0.1.0", "time": "2025-01-02T03:04:05Z", "elapsed_s": 0.1}


def test_add_load_render_markdown(tmp_path):
    add_entry(_results("worse", sha="01", miou={"mean": 0.5, "std": 0.1, "n": 10}), tmp_path)
    add_entry(_results("better", sha="02", miou={"mean": 0.9, "std": 0.05, "n": 10}), tmp_path)
    add_entry(_results("other data", sha="03", preset="lavae", count_accuracy={"mean": 0.25, "std": 0.4, "n": 10}),
              tmp_path)
    assert len(load_entries(tmp_path)) == 3
    md = render(tmp_path, "md")
    assert md.index("## multi\\_dsprites/cis · test") < md.index("## multi\\_dsprites/lavae · test")
    rows = [l for l in md.splitlines() if l.startswith("| 1 ") or l.startswith("| 2 ")]
    assert rows[0].startswith("| 1 | better | 0.900 ± 0.050") and rows[1].startswith("| 2 | worse | 0.500 ± 0.100")
    assert "| 1 | other data | 25.00% |" in md
    assert render(tmp_path, "md") == md  # deterministic
    # the same submission on the same data replaces its entry instead of adding one
    add_entry(_results("better", sha="02", miou={"mean": 0.9, "std": 0.05, "n": 10}), tmp_path)
    assert len(load_entries(tmp_path)) == 3


def test_paper_numbers_beside_measured(tmp_path):
    add_entry(_results("ours", family="multi_mnist", preset="lavae-1k", iw_nll={"mean": 80.0, "std": 3.0, "n": 10},
                       count_accuracy={"mean": 0.9, "std": 0.3, "n": 10}), tmp_path)
    add_entry(_results("seq", family="multi_texture", preset="cis-sequences", sha="05",
                       sequences_with_switch={"mean": 0.25, "std": 0.4, "n": 8, "count": 2, "fraction": "2/8"}),
              tmp_path)
    add_entry(_results("no paper metric", family="multi_dsprites", preset="lavae", sha="06"), tmp_path)
    md = render(tmp_path, "md")
    src = "Dittadi &amp; Winther, LAVAE (2019), Table 1"
    assert f"| paper | *LAVAE* ({src}) | ≥ 99.9% | 42.2 ± 1.1 |" in md
    assert f"| paper | *conv β-VAE baseline* ({src}) |  | 51.6 ± 0.6 |" in md
    assert "| 1 | seq | 2/8 |" in md and "21/255" in md and "0/255" in md
    start = md.index("## multi\\_dsprites/lavae")
    section = md[start:md.index("\n## ", start)]
    assert "| 1 | no paper metric |" in section and "paper |" not in section  # LAVAE reports no mIoU
    html = render(tmp_path, "html")
    assert html.count('<tr class="paper">') == 4 and "42.2<span class=\"sd\">± 1.1</span>" in html
    # CIS's denominators are explained under the paper rows, in both formats (not x/256 silently beside 21/255)
    for text in (md, html):
        assert "out of 255, while the paper" in text and "256 test sequences" in text and "cis-grid" in text


def test_untrusted_strings_are_escaped(tmp_path):
    evil = _results('<script>alert("x")</script>', sha="07")
    evil["method"]["paper"] = "javascript:alert(1)"
    evil["method"]["notes"] = '"><img src=x onerror=alert(1)>'
    evil["dataset"]["split"] = "te<b>st"
    evil["metrics"]["sequences_with_switch"] = {"mean": 0.1, "std": 0.0, "n": 1, "fraction": "<i>1</i>/9"}
    add_entry(evil, tmp_path)
    nice = _results("nice", sha="08")
    nice["method"]["paper"] = "https://arxiv.org/abs/1234?a=1&b=2"
    add_entry(nice, tmp_path)
    html = render(tmp_path, "html")
    for bad in ("<script>alert", "<img", "<b>", "<i>1", 'href="javascript'):
        assert bad not in html, bad
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert '<a href="https://arxiv.org/abs/1234?a=1&amp;b=2" rel="noopener noreferrer nofollow">' in html
    assert html.count("<script>") == 1  # only the page's own sorting script
    md = render(tmp_path, "md")
    assert "<script>" not in md and "<b>" not in md and "&lt;script&gt;" in md
    pipes = _results("a | b | c", sha="09")
    add_entry(pipes, tmp_path)
    line = next(l for l in render(tmp_path, "md").splitlines() if "a \\| b" in l)
    assert line.count(" | ") == 4  # # | method | mIoU | submission | date: the method's pipes are escaped


def test_bad_entries_and_results(tmp_path):
    with pytest.raises(LeaderboardError, match="no such leaderboard directory"):
        render(tmp_path / "none", "md")
    with pytest.raises(LeaderboardError, match="expected 'md' or 'html'"):
        render(tmp_path, "pdf")
    bad = _results()
    del bad["submission"]
    with pytest.raises(LeaderboardError, match="no 'submission' section"):
        add_entry(bad, tmp_path)
    nan = _results(miou={"mean": float("nan"), "std": 0.0, "n": 1})
    with pytest.raises(LeaderboardError, match="not JSON-serialisable"):
        add_entry(nan, tmp_path)
    assert not (tmp_path / "entries").exists() or not list((tmp_path / "entries").iterdir())
    p = add_entry(_results(), tmp_path)
    p.with_name("broken.json").write_text('{"format": ')
    with pytest.raises(LeaderboardError, match="broken.json: unreadable entry"):
        render(tmp_path, "md")


def test_cli_leaderboard(tmp_path, cli):
    add_entry(_results("one"), tmp_path)
    res = cli("leaderboard", "--dir", tmp_path)
    assert res.exit_code == 0 and "| 1 | one |" in res.output
    res = cli("leaderboard", "--dir", tmp_path, "-o", tmp_path / "board.html")
    assert res.exit_code == 0 and (tmp_path / "board.html").read_text().startswith("<!DOCTYPE html>")
    res = cli("leaderboard", "--dir", tmp_path / "missing")
    assert res.exit_code == 2 and res.output.startswith("error: ") and "no such leaderboard directory" in res.output


def _eight_submissions(small_lavae, tmp_path):
    gt = read_split(small_lavae, "test")
    subs = []
    for i in range(8):
        counts = gt["num_objects"].astype(np.int64).copy()
        counts[: i * 10] += 1  # a different score for each
        subs.append(submission.write(tmp_path / f"s{i}.h5", dataset=small_lavae, split="test", method=f"method {i}",
                                     num_objects=counts))
    return subs


def _check_eight(board):
    entries = load_entries(board)
    assert len(entries) == 8
    acc = {e["method"]["name"]: e["metrics"]["count_accuracy"]["mean"] for e in entries}
    assert acc == {f"method {i}": pytest.approx(1 - i * 10 / 120) for i in range(8)}
    assert sorted(p.name for p in (board / "entries").iterdir()) == sorted(e["_file"] for e in entries)  # no temps


def _cli_in_process(args):
    from scenebench.cli import main

    try:
        main(args, standalone_mode=False)
    except SystemExit as exc:  # click exits 0 after a command in some modes
        return int(exc.code or 0)
    return 0


def test_eight_concurrent_evaluate_processes_lose_nothing(small_lavae, tmp_path):
    """8 processes run `scenebench evaluate --leaderboard` at once (forked, so no import cost): 8 intact entries."""
    import multiprocessing as mp

    import scenebench.evaluation.evaluate  # noqa: F401  (imported once here, not in every child)
    import scenebench.evaluation.metrics  # noqa: F401

    board = tmp_path / "board"
    subs = _eight_submissions(small_lavae, tmp_path)
    args = [["evaluate", str(p), "--data", str(small_lavae), "--leaderboard", str(board), "-j", "1"] for p in subs]
    procs = [mp.get_context("fork").Process(target=_cli_in_process, args=(a,)) for a in args + args[:2]]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    _check_eight(board)  # the two repeated submissions replaced their own entries


@pytest.mark.slow
def test_eight_concurrent_cli_subprocesses(small_lavae, tmp_path):
    """The same with 8 fresh `python -m scenebench.cli` processes (slow on 2 cores: each imports scipy/h5py)."""
    board = tmp_path / "board"
    subs = _eight_submissions(small_lavae, tmp_path)
    procs = [subprocess.Popen([sys.executable, "-m", "scenebench.cli", "evaluate", str(p), "--data", str(small_lavae),
                               "--leaderboard", str(board), "-j", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for p in subs + subs[:2]]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    _check_eight(board)


def test_concurrent_add_entry_stress(tmp_path):
    """Many writers adding distinct and identical entries at once through multiprocessing."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    jobs = [(i % 40, tmp_path) for i in range(160)]  # 40 distinct entries, each written 4 times
    with ctx.Pool(8) as pool:
        pool.map(_add_one, jobs)
    entries = load_entries(tmp_path)
    assert len(entries) == 40
    assert sorted(e["method"]["name"] for e in entries) == sorted(f"m{i}" for i in range(40))
    assert not [p for p in (tmp_path / "entries").iterdir() if p.name.startswith(".")]


def _add_one(args):
    i, d = args
    r = _results(f"m{i}", sha=f"{i:02x}")
    r["metrics"] = copy.deepcopy(r["metrics"])
    add_entry(r, Path(d))
    return json.dumps(i)
