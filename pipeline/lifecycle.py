"""Process lifecycle of the long commands (``generate``, ``validate``): workers that die with
their parent, clean stops on SIGTERM/SIGINT, and ``runs`` rows that never stay ``running``
after their process is gone.

* Worker processes call :func:`guard_worker` first: the kernel sends them SIGKILL when the
  parent dies (``prctl(PR_SET_PDEATHSIG)``, Linux), and a watchdog thread exits them when the
  parent pid changes (any POSIX system; also covers the race where the parent died before the
  prctl call).
* :func:`stop_signals` turns SIGTERM/SIGINT into :class:`Stopped` in the main thread, so
  ``finally`` blocks run; :func:`guarded_run` then kills the worker processes, marks the run
  ``failed`` with the signal's name and exits with ``128 + signal``.
* Each run row records its owner (``host:pid:start-time``); :func:`mark_stale_runs` (at the
  next start) marks ``failed`` the ``running`` rows of this host whose process is gone.
  Example::

    mark_stale_runs(store)
    run_id = store.start_run("generate", args, versions, dataset, owner=process_identity())
    with guarded_run(store, run_id):
        ...   # the work; a SIGTERM ends it here, cleanly
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
WATCHDOG_INTERVAL_S = 1.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """SIGTERM or SIGINT arrived; raised in the main thread (a BaseException, so no
    ``except Exception`` in a stage swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


# --- workers ------------------------------------------------------------------------------------


def set_parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent exits (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval_s: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # orphaned: nobody will read what this worker produces
        time.sleep(interval_s)


def guard_worker(parent_pid: int, interval_s: float = WATCHDOG_INTERVAL_S) -> None:
    """Make this (worker) process die with its parent; call first in a worker initializer.
    ``parent_pid`` comes from the parent itself (``os.getpid()`` there): read here with
    ``os.getppid()`` it would already be init's pid if the parent died while this started."""
    set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, interval_s), daemon=True, name="parent-watch").start()
    for signum in STOP_SIGNALS:  # the parent decides when work stops; a Ctrl-C reaches the whole group
        signal.signal(signum, signal.SIG_IGN if signum == signal.SIGINT else signal.SIG_DFL)


def stop_children(timeout_s: float = 5.0) -> None:
    """Terminate this process's multiprocessing children (pool workers) and reap them."""
    children = mp.active_children()
    for child in children:
        child.terminate()
    deadline = time.monotonic() + timeout_s
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join(1.0)


# --- the main process ---------------------------------------------------------------------------


@contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM/SIGINT raise :class:`Stopped` in the main thread. Outside the
    main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_stopped(signum: int, frame: Any) -> None:
        for sig in STOP_SIGNALS:  # a second signal while stopping must not interrupt the cleanup
            signal.signal(sig, signal.SIG_IGN)
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, raise_stopped) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def guarded_run(store: Any | None, run_id: int | None) -> Iterator[None]:
    """Run the block with :func:`stop_signals`; on a stop, kill the workers, mark the run
    ``failed`` (best effort) and exit with ``128 + signal``."""
    try:
        with stop_signals():
            yield
    except Stopped as stop:
        stop_children()
        log.error("stopped by %s: finished clips are kept; rerun the same command to resume", stop.name)
        fail_run(store, run_id, f"stopped by {stop.name}")
        raise SystemExit(128 + stop.signum) from None


def fail_run(store: Any | None, run_id: int | None, error: str) -> None:
    """Mark a run ``failed``, without raising when the database is gone."""
    if store is None or run_id is None:
        return
    from pipeline.store.connection import StoreUnavailable

    try:
        store.finish_run(run_id, status="failed", counts={}, error=error)
    except StoreUnavailable as exc:
        log.error("could not mark run %s failed: %s", run_id, exc)


# --- run ownership ------------------------------------------------------------------------------


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 overall; pid reuse changes it


def process_identity(pid: int | None = None) -> str:
    """``host:pid:start`` for a run's ``owner`` column."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or '?'}"


def owner_alive(owner: str) -> bool | None:
    """Is the process named by ``owner`` still running? None when it is on another host (or the
    owner string cannot be read): then nobody here can tell."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    current = _start_ticks(int(pid_text))
    return current is not None and (start == "?" or current == start)


def mark_stale_runs(store: Any) -> list[int]:
    """Mark ``failed`` every ``running`` run of this host whose process is gone; returns their ids."""
    stale = [run_id for run_id, owner in store.running_runs() if owner and owner_alive(owner) is False]
    for run_id in stale:
        store.finish_run(run_id, status="failed", counts={}, error="stale: its process ended without closing the run")
    if stale:
        log.warning("marked %d stale run(s) failed: %s", len(stale), ", ".join(map(str, stale)))
    return stale
