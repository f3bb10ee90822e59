"""Run shard tasks in-process, on local worker processes or on a Dask cluster.

Every executor runs the same picklable tasks through the same function, so
the bytes written do not depend on where or in what order tasks run.
"""

from __future__ import annotations

import gc
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


def check_workers(workers) -> int:
    """The number of local worker processes ``workers`` asks for (``None``: all cores), or a one-line error."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ScenebenchError(f"--workers must be an integer >= 1, got {workers!r}")
    return workers


def _shown(address: str) -> str:
    return repr(address if len(address) <= 80 else address[:77] + "...")


def check_address(scheduler: str) -> str:
    """``scheduler`` if Dask can parse it as a scheduler address (``tcp://HOST:PORT``, ``HOST:PORT``, ...), else a one-line error.

    Checked before any ``Client`` is made: a Client whose construction fails
    is only finalized by the garbage collector, and when that happens inside a
    later Client's start-up it deadlocks on distributed's loop lock.
    """
    from distributed.comm.addressing import get_address_host_port, parse_address

    expected = "expected a Dask scheduler address such as tcp://HOST:8786"
    if not isinstance(scheduler, str) or not scheduler.strip() or "\x00" in scheduler:
        raise ScenebenchError(f"--scheduler {_shown(str(scheduler))}: {expected}")
    try:
        scheme, _ = parse_address(scheduler)
        if scheme != "inproc":
            _, port = get_address_host_port(scheduler)
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is out of range 1-65535")
    except (ValueError, TypeError) as exc:
        text = str(exc).strip().splitlines()
        detail = text[0][:120] if text else type(exc).__name__
        raise ScenebenchError(f"cannot reach the Dask scheduler at {_shown(scheduler)} ({detail}); {expected}") from None
    return scheduler


def connect(scheduler, timeout: str = "20s"):
    """A ``distributed.Client`` for a scheduler address (or the given client); a one-line error if unreachable.

    Returns ``(client, own)``: ``own`` is true when this call opened the
    client (the caller closes it). Called before anything is written, so a
    wrong address leaves no trace.
    """
    try:
        from distributed import Client
    except ImportError:
        raise ScenebenchError("--scheduler needs Dask: pip install 'scenebench[dask]'") from None
    if isinstance(scheduler, Client):
        return scheduler, False
    address = check_address(scheduler)
    failure = None
    try:
        return Client(address, timeout=timeout), True
    except (OSError, ValueError, TypeError, AssertionError) as exc:  # unreachable, or not a scheduler
        text = str(exc).strip().splitlines()
        failure = text[0][:160] if text else type(exc).__name__
    # Raised outside the except block, with the failed Client finalized first: the exception's
    # context would keep it alive, and its __del__, run later by the garbage collector inside
    # another Client's start-up, deadlocks on distributed's loop lock (seen as a hung CI run).
    gc.collect()
    raise ScenebenchError(f"cannot reach the Dask scheduler at {_shown(address)} ({failure}); "
                          "expected an address such as tcp://HOST:8786")


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
            n = check_workers(workers)
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
    from distributed import as_completed as dask_completed

    client, own = connect(scheduler)
    try:
        futures = client.map(fn, tasks, pure=False)
        index = {f.key: t for f, t in zip(futures, tasks)}
        for fut in dask_completed(futures):
            done(index[fut.key], fut.result())
    finally:
        if own:
            client.close()
