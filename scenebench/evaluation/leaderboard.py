"""The leaderboard: one JSON file per scored submission, rendered as Markdown or HTML.

Layout::

    leaderboard/
        README.md
        entries/<family>.<preset>.<split>.<fingerprint[:8]>.<submission sha256[:16]>.json

An entry is the results dict of :func:`scenebench.evaluation.evaluate.evaluate`. It is
written to a unique temporary file, fsynced and renamed into place, so any
number of concurrent writers never lose or corrupt an entry; the same
submission scored again on the same dataset replaces its own entry.

:func:`render` groups entries by dataset (family, preset, split,
fingerprint), one table per group with a column per metric, best first,
and the papers' published numbers (:mod:`scenebench.evaluation.paper_numbers`) as extra
rows where the dataset and metric match. Every string that came from a
submission is escaped (HTML entities in the page; Markdown and HTML
metacharacters in the table).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Mapping

from ..atomic import write_text_atomic
from ..errors import ScenebenchError

ENTRIES = "entries"
_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_ENTRY_BYTES = 1 << 20


class LeaderboardError(ScenebenchError):
    """A leaderboard directory or entry that cannot be used."""


# ---------------------------------------------------------------- entries
def _check_results(r, where: str) -> dict:
    """Check the structure of a results dict (from evaluate() or an entry file)."""
    from .evaluate import RESULTS_FORMAT

    def bad(what):
        return LeaderboardError(f"{where}: {what}; expected the results of `scenebench evaluate`")

    if not isinstance(r, Mapping):
        raise bad("not a JSON object")
    if r.get("format") != RESULTS_FORMAT:
        raise bad(f"format {str(r.get('format'))[:40]!r} is not {RESULTS_FORMAT!r}")
    for sect, keys in (("dataset", ("fingerprint", "family", "preset", "split")), ("submission", ("sha256",)),
                       ("method", ("name",))):
        s = r.get(sect)
        if not isinstance(s, Mapping):
            raise bad(f"no {sect!r} section")
        for k in keys:
            if not isinstance(s.get(k), str) or not s[k] or len(s[k]) > 500:
                raise bad(f"{sect}.{k} missing or not text")
    for k in ("fingerprint",):
        if not _HEX.fullmatch(r["dataset"][k]):
            raise bad(f"dataset.{k} is not 64 hex digits")
    if not _HEX.fullmatch(r["submission"]["sha256"]):
        raise bad("submission.sha256 is not 64 hex digits")
    m = r.get("metrics")
    if not isinstance(m, Mapping) or not m:
        raise bad("no metrics")
    for name, v in m.items():
        if not isinstance(v, Mapping) or not isinstance(v.get("n"), int):
            raise bad(f"metrics.{str(name)[:40]} has no integer 'n'")
        for k in ("mean", "std"):
            if v.get(k) is not None and not isinstance(v[k], (int, float)):
                raise bad(f"metrics.{str(name)[:40]}.{k} is not a number")
    return dict(r)


def _slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return (s or "x")[:limit]


def entry_name(results: Mapping) -> str:
    """File name of a results dict's entry: one per (dataset split, submission bytes)."""
    d, s = results["dataset"], results["submission"]
    return (f"{_slug(d['family'])}.{_slug(d['preset'])}.{_slug(d['split'])}.{d['fingerprint'][:8]}."
            f"{s['sha256'][:16]}.json")


def add_entry(results: Mapping, directory) -> Path:
    """Add a results dict to the leaderboard in ``directory`` (atomic; safe with concurrent writers)."""
    r = _check_results(results, "results")
    try:
        text = json.dumps(r, indent=2, allow_nan=False, sort_keys=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise LeaderboardError(f"results: not JSON-serialisable ({exc})") from None
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise LeaderboardError(f"{d}: not a directory; expected a leaderboard directory")
    entries = d / ENTRIES
    try:
        entries.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LeaderboardError(f"{entries}: cannot create ({exc.strerror or exc})") from None
    final = entries / entry_name(r)
    try:
        return write_text_atomic(final, text)
    except OSError as exc:
        raise LeaderboardError(f"{final}: cannot write ({exc.strerror or exc})") from None


def load_entries(directory) -> list[dict]:
    """Every entry of the leaderboard in ``directory``, in file-name order (errors name the file)."""
    d = Path(directory)
    if not d.is_dir():
        raise LeaderboardError(f"{d}: no such leaderboard directory; expected a directory with {ENTRIES}/*.json")
    entries = d / ENTRIES
    out = []
    for p in sorted(entries.glob("*.json")) if entries.is_dir() else []:
        if p.name.startswith("."):
            continue
        try:
            if p.stat().st_size > _MAX_ENTRY_BYTES:
                raise LeaderboardError(f"{p}: larger than {_MAX_ENTRY_BYTES:,} bytes; expected a results JSON")
            r = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LeaderboardError(f"{p}: unreadable entry ({exc.__class__.__name__}); fix or remove it") from None
        r = _check_results(r, str(p))
        r["_file"] = p.name
        out.append(r)
    return out


# ---------------------------------------------------------------- grouping
def _groups(entries: list[dict]) -> list[dict]:
    """Entries grouped by dataset split, with their metric columns and paper rows."""
    from .evaluate import METRICS
    from .paper_numbers import numbers_for

    groups: dict = {}
    for e in entries:
        d = e["dataset"]
        key = (d["family"], d["preset"], d["split"], str(d.get("version")), d["fingerprint"])
        groups.setdefault(key, []).append(e)
    out = []
    for key in sorted(groups):
        rows = groups[key]
        names = {n for e in rows for n in e["metrics"]}
        cols = [n for n in METRICS if n in names] + sorted(n for n in names if n not in METRICS)
        primary = cols[0]
        lower = METRICS[primary].better == "lower" if primary in METRICS else False

        def rank_key(e):
            v = e["metrics"].get(primary, {}).get("mean")
            return (v is None, (v if lower else -v) if v is not None else 0, e["method"]["name"], e["_file"])

        rows = sorted(rows, key=rank_key)
        papers: dict = {}
        for p in numbers_for(key[0], key[1], key[2]):
            if p.metric in cols:
                papers.setdefault((p.method, p.source), {})[p.metric] = p
        out.append({"family": key[0], "preset": key[1], "split": key[2], "version": key[3], "fingerprint": key[4],
                    "seed": rows[0]["dataset"].get("seed"), "num_samples": rows[0]["dataset"].get("num_samples"),
                    "columns": cols, "rows": rows, "papers": papers})
    return out


def _cell(name: str, m: Mapping) -> str:
    from .evaluate import format_value

    return format_value(name, m)


def _paper_cell(p) -> str:
    if p.count is not None and p.total:
        text = f"{p.count}/{p.total}"
    elif p.metric == "count_accuracy":
        text = f"{100 * p.mean:.1f}%"
    elif p.spread:  # the paper's own spread, as printed (e.g. CIS's variance "6.4δ")
        text = f"{p.mean:.{p.decimals}f} ± {p.spread}"
    else:
        text = f"{p.mean:.{p.decimals}f}" + (f" ± {p.std:.{p.decimals}f}" if p.std is not None else "")
    if p.bound == ">=":
        text = "≥ " + text
    return text


def _paper_html(p) -> str:
    text = _paper_cell(p)
    if " ± " in text:
        mean, std = text.split(" ± ", 1)
        return f'{_e(mean)}<span class="sd">± {_e(std)}</span>'
    return _e(text)


def _sort_value(v) -> str:
    return "" if v is None else repr(float(v))


def _header(name: str) -> str:
    from .evaluate import METRICS

    info = METRICS.get(name)
    if info is None:
        return name
    return f"{info.label}\u00a0{'↑' if info.better == 'higher' else '↓'}"


# ---------------------------------------------------------------- Markdown
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def md_escape(text) -> str:
    """Untrusted text as inert Markdown table-cell content (one line, no HTML, no markup)."""
    s = " ".join(str(text).split())
    s = html.escape(s, quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s)


def _render_md(groups: list[dict]) -> str:
    lines = ["# scenebench leaderboard", "",
             "Measured entries: mean ± per-image standard deviation over the split (↑ higher is better, "
             "↓ lower). Rows marked *paper* quote the published numbers (their ± as published).", ""]
    if not groups:
        lines += ["No entries yet: `scenebench evaluate SUBMISSION --data DATA --leaderboard DIR`.", ""]
    for g in groups:
        lines.append(f"## {md_escape(g['family'])}/{md_escape(g['preset'])} · {md_escape(g['split'])}")
        lines.append("")
        lines.append(f"Dataset v{md_escape(g['version'])}, seed {md_escape(g['seed'])}, "
                     f"{md_escape(_int(g['num_samples']))} samples, fingerprint `{g['fingerprint'][:12]}`.")
        lines.append("")
        cols = g["columns"]
        lines.append("| # | Method | " + " | ".join(md_escape(_header(c)) for c in cols) + " | Submission | Date |")
        lines.append("|---|---|" + "---|" * len(cols) + "---|---|")
        for i, e in enumerate(g["rows"], 1):
            cells = [md_escape(_cell(c, e["metrics"][c])) if c in e["metrics"] else "" for c in cols]
            paper = e["method"].get("paper")
            method = md_escape(e["method"]["name"]) + (f" ({md_escape(paper)})" if paper else "")
            lines.append(f"| {i} | {method} | " + " | ".join(cells) +
                         f" | `{e['submission']['sha256'][:12]}` | {md_escape(str(e.get('time', ''))[:10])} |")
        for (method, source), nums in g["papers"].items():
            cells = [md_escape(_paper_cell(nums[c])) if c in nums else "" for c in cols]
            lines.append(f"| paper | *{md_escape(method)}* ({md_escape(source)}) | " + " | ".join(cells) + " | | |")
        notes = sorted({p.note for nums in g["papers"].values() for p in nums.values() if p.note})
        if notes:
            lines += ["", "Paper rows: " + "; ".join(md_escape(n) for n in notes) + "."]
        lines.append("")
    return "\n".join(lines)


def _int(v) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)


# ---------------------------------------------------------------- HTML
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px 32px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 2px}
p.sub,p.meta{color:#5b6475;margin:2px 0 10px}code{font-size:12px;background:#eef0f4;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08);margin-bottom:6px}
th,td{padding:5px 9px;border-bottom:1px solid #e6e8ee;text-align:right;white-space:nowrap}
th{background:#eef1f6;cursor:pointer;user-select:none;font-weight:600;white-space:normal;vertical-align:bottom}th:hover{background:#e1e6ef}
th.l,td.l{text-align:left;white-space:normal;min-width:180px;max-width:280px}
span.sd{display:block;font-size:11px;color:#7b8494;font-weight:400}div.wrap{overflow-x:auto}
th[data-dir=asc]::after{content:" \\25B4"}th[data-dir=desc]::after{content:" \\25BE"}
tr.paper td{color:#6a4c00;background:#fff8e6;font-style:italic}tr:hover td{background:#f4f7ff}
td.best{font-weight:700}
"""

_JS = """
document.querySelectorAll("table.board th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
    var dir = th.dataset.dir === "desc" ? "asc" : "desc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir;
    var key = function (row) {
      var c = row.cells[i], v = c.getAttribute("data-v");
      if (v === null) return c.textContent.toLowerCase();
      return v === "" ? null : parseFloat(v);
    };
    Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null) return y === null ? 0 : 1;
      if (y === null) return -1;
      var r = x < y ? -1 : x > y ? 1 : 0;
      return dir === "asc" ? r : -r;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _link(url) -> str:
    url = str(url)
    if re.fullmatch(r"https?://[^\s\"'<>]+", url):
        return f'<a href="{_e(url)}" rel="noopener noreferrer nofollow">{_e(url)}</a>'
    return _e(url)


def _html_value(name: str, m: Mapping) -> str:
    """Mean, with the std on a small second line."""
    from .evaluate import format_value

    mean = format_value(name, m, with_std=False)
    full = format_value(name, m)
    if full == mean or not full.startswith(mean + " ± "):
        return _e(full)
    return f'{_e(mean)}<span class="sd">± {_e(full[len(mean) + 3:])}</span>'


def _render_html(groups: list[dict]) -> str:
    from .evaluate import METRICS

    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
           'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'">',
           "<title>scenebench leaderboard</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>scenebench leaderboard</h1>",
           '<p class="sub">Measured entries: mean ± per-image standard deviation over the split '
           "(↑ higher is better, ↓ lower). Shaded rows quote the papers' published numbers (their ± as published). "
           "Click a column to sort.</p>"]
    if not groups:
        out.append("<p>No entries yet.</p>")
    for gi, g in enumerate(groups):
        cols = g["columns"]
        out.append(f'<h2 id="g{gi}">{_e(g["family"])}/{_e(g["preset"])} · {_e(g["split"])}</h2>')
        out.append(f'<p class="meta">Dataset v{_e(g["version"])}, seed {_e(g["seed"])}, '
                   f'{_e(_int(g["num_samples"]))} samples, fingerprint <code>{_e(g["fingerprint"][:12])}</code></p>')
        out.append('<div class="wrap"><table class="board"><thead><tr><th>#</th><th class="l">Method</th>' +
                   "".join(f'<th title="{_e(METRICS[c].doc if c in METRICS else c)}">{_e(_header(c))}</th>'
                           for c in cols) + "<th>N</th><th>Submission</th><th>Date</th></tr></thead><tbody>")
        best = {}
        for c in cols:
            vals = [e["metrics"][c]["mean"] for e in g["rows"] if c in e["metrics"] and e["metrics"][c].get("mean") is not None]
            if vals and c in METRICS:
                best[c] = min(vals) if METRICS[c].better == "lower" else max(vals)
        for i, e in enumerate(g["rows"], 1):
            m, meth = e["metrics"], e["method"]
            title = f' title="{_e(meth["notes"])}"' if meth.get("notes") else ""
            paper = f'<br><small>{_link(meth["paper"])}</small>' if meth.get("paper") else ""
            cells = []
            for c in cols:
                if c not in m:
                    cells.append('<td data-v=""></td>')
                    continue
                cls = ' class="best"' if c in best and m[c].get("mean") == best[c] else ""
                cells.append(f'<td data-v="{_sort_value(m[c].get("mean"))}"{cls}>{_html_value(c, m[c])}</td>')
            n = e["dataset"].get("num_samples", "")
            out.append(f'<tr><td data-v="{i}">{i}</td><td class="l"{title}>{_e(meth["name"])}{paper}</td>' + "".join(cells) +
                       f'<td data-v="{_e(n)}">{_e(_int(n))}</td>'
                       f'<td><code title="{_e(e["submission"]["sha256"])}">{_e(e["submission"]["sha256"][:12])}</code></td>'
                       f'<td>{_e(str(e.get("time", ""))[:10])}</td></tr>')
        for (method, source), nums in g["papers"].items():
            cells = "".join(f'<td data-v="{_sort_value(nums[c].mean)}" title="{_e(nums[c].note)}">'
                            f'{_paper_html(nums[c])}</td>' if c in nums else '<td data-v=""></td>' for c in cols)
            out.append(f'<tr class="paper"><td data-v="">paper</td><td class="l">{_e(method)}<br><small>{_e(source)}'
                       f'</small></td>{cells}<td data-v=""></td><td></td><td></td></tr>')
        out.append("</tbody></table></div>")
        notes = sorted({p.note for nums in g["papers"].values() for p in nums.values() if p.note})
        if notes:
            out.append(f'<p class="notes">Paper rows: {_e("; ".join(notes))}.</p>')
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"


def render(directory, fmt: str = "md") -> str:
    """The leaderboard in ``directory`` as Markdown (``"md"``) or a static HTML page (``"html"``)."""
    if fmt not in ("md", "html"):
        raise LeaderboardError(f"--format {fmt!r}: expected 'md' or 'html'")
    groups = _groups(load_entries(directory))
    return _render_md(groups) if fmt == "md" else _render_html(groups)


def write_text(path, text: str) -> Path:
    """Write a rendered board atomically (see :mod:`scenebench.atomic`)."""
    p = Path(path)
    if p.is_dir():
        raise LeaderboardError(f"-o {p}: is a directory; expected a file path")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(p, text)
    except OSError as exc:
        raise LeaderboardError(f"-o {p}: cannot write ({exc.strerror or exc})") from None
