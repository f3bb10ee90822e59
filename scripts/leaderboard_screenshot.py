"""Render a leaderboard as a static HTML page and take a headless Chromium screenshot of it.

    python scripts/leaderboard_screenshot.py                        # demo board in a temp dir -> /tmp/leaderboard.png
    python scripts/leaderboard_screenshot.py --dir leaderboard -o board.png --height 1400

Without ``--dir`` it builds a demo board (in ``--work``, default a temporary
directory; nothing is written into the repository's ``leaderboard/``) from
reference submissions of simple non-learned methods that really run:

* multi_dsprites/cis test: the ground truth itself, connected components of
  the non-background pixels (scikit-image), exact-color clustering, and
  "everything is background";
* multi_dsprites/lavae test: connected components for segmentation and
  counts, plus an independent-pixel categorical model fitted on the train
  split, whose exact log p(x) is submitted as one importance log-weight
  (S = 1) -- the LAVAE paper rows appear beside it;
* multi_texture/cis-sequences test: ground-truth masks with object ids
  re-assigned every frame by x position (so ids swap when objects cross) --
  the CIS paper rows appear beside it.

Needs Chromium (``chromium --headless --screenshot``; Debian package
``chromium``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from scenebench.evaluation import submission  # noqa: E402
from scenebench.datasets.build import generate  # noqa: E402
from scenebench.evaluation.evaluate import evaluate  # noqa: E402
from scenebench.evaluation.leaderboard import add_entry, render  # noqa: E402
from scenebench.datasets.reader import SplitReader  # noqa: E402


# ---------------------------------------------------------------- reference methods (numpy / scikit-image)
def background_mask(images: np.ndarray) -> np.ndarray:
    """(N,H,W) bool: pixels of each image's most frequent color."""
    n = len(images)
    flat = images.reshape(n, -1, images.shape[-1]).astype(np.int32)
    code = (flat[..., 0] << 16) | (flat[..., 1] << 8) | flat[..., 2] if flat.shape[-1] == 3 else flat[..., 0]
    out = np.empty(code.shape, bool)
    for i in range(n):
        vals, counts = np.unique(code[i], return_counts=True)
        out[i] = code[i] == vals[np.argmax(counts)]
    return out.reshape(images.shape[:-1])


def connected_components(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (N,H,W) uint8 and counts (N,): 8-connected components of the non-background pixels."""
    from skimage.measure import label

    fg = ~background_mask(images)
    labels = np.zeros(fg.shape, np.uint8)
    counts = np.zeros(len(fg), np.int64)
    for i in range(len(fg)):
        lab, k = label(fg[i], connectivity=2, return_num=True)
        labels[i] = np.minimum(lab, 255)
        counts[i] = k
    return labels, counts


def color_clusters(images: np.ndarray) -> np.ndarray:
    """Labels (N,H,W) uint8: one segment per exact RGB color, the most frequent color = 0."""
    n = len(images)
    flat = images.reshape(n, -1, images.shape[-1]).astype(np.int32)
    code = (flat[..., 0] << 16) | (flat[..., 1] << 8) | flat[..., 2]
    out = np.zeros(code.shape, np.uint8)
    for i in range(n):
        vals, inv, counts = np.unique(code[i], return_inverse=True, return_counts=True)
        rank = np.empty(len(vals), np.int64)
        rank[np.argsort(-counts, kind="stable")] = np.arange(len(vals))
        out[i] = np.minimum(rank[inv], 255)
    return out.reshape(images.shape[:-1])


def pixel_categorical_log_prob(train: np.ndarray, test: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """log p(x) (nats) of each test image under independent per-pixel categoricals over the 8 colors.

    Fitted on ``train`` with add-``alpha`` smoothing; images must use only
    channel values 0 and 255 (multi-dSprites lavae).
    """
    def codes(x):
        b = (x > 127).astype(np.int64)
        return b[..., 0] * 4 + b[..., 1] * 2 + b[..., 2]

    c = codes(train).reshape(len(train), -1)
    counts = np.stack([(c == k).sum(axis=0) for k in range(8)], axis=-1) + alpha
    logp = np.log(counts / counts.sum(axis=-1, keepdims=True))  # (pixels, 8)
    t = codes(test).reshape(len(test), -1)
    return np.take_along_axis(logp[None], t[..., None], axis=-1)[..., 0].sum(axis=1)


def x_ordered_ids(seg: np.ndarray) -> np.ndarray:
    """Sequences (N,T,H,W): each frame's objects relabelled 1..k by the x of their centroid."""
    out = np.zeros_like(seg)
    cols = np.arange(seg.shape[-1])
    for idx in np.ndindex(seg.shape[:2]):
        s = seg[idx]
        ids = [k for k in np.unique(s) if k]
        cx = [cols[None, :].repeat(s.shape[0], 0)[s == k].mean() for k in ids]
        for rank, j in enumerate(np.argsort(cx, kind="stable")):
            out[idx][s == ids[j]] = rank + 1
    return out


# ---------------------------------------------------------------- the demo board
def build_demo(work: Path, log=print) -> Path:
    """Generate small datasets, write and score reference submissions, add them to ``work/leaderboard``."""
    board = work / "leaderboard"
    data = work / "data"
    subs = work / "submissions"

    def score(path):
        res = evaluate(path, data, workers=1)
        add_entry(res, board)
        log(f"  {res['method']['name']}: " + ", ".join(f"{k} {v['mean']:.3f}" for k, v in res["metrics"].items()
                                                          if v["mean"] is not None))

    log("multi_dsprites/cis ...")
    d = generate("multi_dsprites", "cis", data, num=200, splits=["test"], workers=1)
    gt = SplitReader(d, "test").read(0, 200)
    cc, cc_count = connected_components(gt["image"])
    kw = dict(dataset=d, split="test")
    score(submission.write(subs / "cis-gt.h5", method="ground truth (upper bound)", notes="the dataset's own labels",
                           segmentation=gt["segmentation"], num_objects=gt["num_objects"], **kw))
    score(submission.write(subs / "cis-cc.h5", method="connected components", paper="https://scikit-image.org",
                           notes="skimage.measure.label on pixels unlike the most frequent color",
                           segmentation=cc, num_objects=cc_count, **kw))
    score(submission.write(subs / "cis-color.h5", method="exact-color clustering", segmentation=color_clusters(gt["image"]),
                           **kw))
    score(submission.write(subs / "cis-bg.h5", method="all background", segmentation=np.zeros_like(gt["segmentation"]),
                           num_objects=np.zeros(200, np.int64), **kw))

    log("multi_dsprites/lavae ...")
    d = generate("multi_dsprites", "lavae", data, num=2000, splits=["train", "test"], workers=1,
                 overrides={"splits.test": 500})
    train = SplitReader(d, "train").read(0, 2000)["image"]
    test = SplitReader(d, "test").read(0, 500)
    lp = pixel_categorical_log_prob(train, test["image"])
    cc, cc_count = connected_components(test["image"])
    score(submission.write(subs / "lavae-pix.h5", dataset=d, split="test", method="independent-pixel categorical",
                           notes="per-pixel distribution over the 8 colors fitted on train; exact log p(x) as S=1",
                           log_weights=lp[:, None], num_objects=cc_count, segmentation=cc))

    log("multi_texture/cis-sequences ...")
    d = generate("multi_texture", "cis-sequences", data, num=16, splits=["test"], workers=1)
    seg = SplitReader(d, "test").read(0, 16)["segmentation"]
    score(submission.write(subs / "seq-gt.h5", dataset=d, split="test", method="ground truth (upper bound)",
                           segmentation=seg))
    score(submission.write(subs / "seq-x.h5", dataset=d, split="test", method="GT masks, ids by x position",
                           notes="identities re-assigned every frame from left to right", segmentation=x_ordered_ids(seg)))
    return board


def screenshot(html_path: Path, png: Path, width: int, height: int, chromium: str | None = None) -> Path:
    exe = chromium or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        raise SystemExit("no Chromium found: install the `chromium` package or pass --chromium PATH")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
               f"--screenshot={png.resolve()}", f"--window-size={width},{height}", html_path.resolve().as_uri()]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if res.returncode != 0 or not png.is_file():
        raise SystemExit(f"chromium failed ({res.returncode}): {res.stderr.strip()[-500:]}")
    return png


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="leaderboard directory (default: build a demo board)")
    ap.add_argument("--work", default=None, help="where the demo board and its data go (default: a temp dir)")
    ap.add_argument("-o", "--output", default="/tmp/leaderboard.png")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--chromium", default=None, help="Chromium executable")
    args = ap.parse_args(argv)

    tmp = None
    if args.dir:
        board = Path(args.dir)
    else:
        work = Path(args.work) if args.work else Path(tmp := tempfile.mkdtemp(prefix="scenebench-board-"))
        board = build_demo(work)
    html_path = Path(args.output).with_suffix(".html")
    html_path.write_text(render(board, "html"), encoding="utf-8")
    png = screenshot(html_path, Path(args.output), args.width, args.height, args.chromium)
    print(f"{png}  (page: {html_path}{', board: ' + str(board) if tmp else ''})")


if __name__ == "__main__":
    main()
