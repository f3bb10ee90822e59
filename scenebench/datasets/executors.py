"""Run shard tasks in-process, on local worker processes or on a Dask cluster.

Every executor runs the same picklable tasks through the same function, so
the bytes written do not depend on where or in what order tasks run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Sequence

from ..errors import ScenebenchError


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def progress_bar(total: int, enabled: bool | None, desc: str = "samples"):
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, unit=" " + desc, disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def run_tasks(fn: Callable, tasks: Sequence, *, workers: int | None = None, scheduler=None,
              progress: bool | None = None, on_result: Callable | None = None) -> list:
    """Run ``fn(task)`` for every task; call ``on_result`` in the parent as each finishes."""
    if not tasks:
        return []
    results = []
    total = sum(getattr(t, "num_samples", 1) for t in tasks)
    with progress_bar(total, progress) as bar:
        def done(task, result):
            results.append(result)
            if on_result:
                on_result(result)
            bar.update(getattr(task, "num_samples", 1))

        if scheduler is not None:
            _run_dask(fn, tasks, scheduler, done)
        else:
            n = default_workers() if workers is None else int(workers)
            if n < 1:
                raise ScenebenchError(f"--workers must be >= 1, got {workers}")
            if n == 1 or len(tasks) == 1:
                for t in tasks:
                    done(t, fn(t))
            else:
                ctx = mp.get_context("forkserver" if sys.platform != "win32" else "spawn")
                with ProcessPoolExecutor(max_workers=min(n, len(tasks)), mp_context=ctx) as pool:
                    futures = {pool.submit(fn, t): t for t in tasks}
                    for fut in as_completed(futures):
                        done(futures[fut], fut.result())
    return results


def _run_dask(fn, tasks, scheduler, done) -> None:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise ScenebenchError("--scheduler needs Dask: pip install 'scenebench[dask]'") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout="20s") if own else scheduler
    except OSError as exc:
        raise ScenebenchError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    try:
        futures = client.map(fn, tasks, pure=False)
        index = {f.key: t for f, t in zip(futures, tasks)}
        for fut in dask_completed(futures):
            done(index[fut.key], fut.result())
    finally:
        if own:
            client.close()
