"""Admission, slots and cancellation of ``pipeline serve`` jobs.

A request is *admitted* (or refused with a fast 503 when ``max_running + max_waiting`` jobs
are already admitted), then *waits* for one of ``max_running`` slots, then *runs*. Whatever
happens, its :class:`Ticket` is finished exactly once with an outcome that the counters in
``/api/status`` report: ``completed``, ``cancelled`` (the client went away: while queued the
slot is never taken, while running the synthesis stops at its next piece) or ``failed``.
Example::

    ticket = gate.admit()                       # ServiceError 503 when full
    cancel = threading.Event()                  # checked by the synthesis thread
    try:
        audio = await run_unless_gone(lambda: wait_disconnect(receive), job(ticket, cancel), cancel)
        ticket.finish("completed")
    except ClientGone:
        ticket.finish("cancelled")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["completed", "cancelled", "failed"]
COUNTERS = ("jobs_admitted", "jobs_rejected", "jobs_completed", "jobs_cancelled", "jobs_failed")


class ClientGone(Exception):
    """The client disconnected before its job finished; the job was cancelled."""


class JobCancelled(Exception):
    """Raised in a synthesis thread that found its cancel event set."""


@dataclass
class JobGate:
    """At most ``max_running`` jobs run; at most ``max_waiting`` more wait; beyond that: 503."""

    max_running: int
    max_waiting: int
    busy_error: Callable[[], Exception]
    admitted: int = 0
    running: int = 0
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    _sem: asyncio.Semaphore | None = field(default=None, repr=False)

    @property
    def waiting(self) -> int:
        return self.admitted - self.running

    def admit(self) -> Ticket:
        if self.admitted >= self.max_running + self.max_waiting:
            self.counters["jobs_rejected"] += 1
            raise self.busy_error()
        self.admitted += 1
        self.counters["jobs_admitted"] += 1
        return Ticket(self)

    def semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:  # created lazily: it belongs to the server's event loop
            self._sem = asyncio.Semaphore(self.max_running)
        return self._sem


class Ticket:
    """One admitted job: ``await start()`` takes a running slot (cancellable while waiting),
    ``finish(outcome)`` gives everything back; it is idempotent and must run however the
    request ends."""

    def __init__(self, gate: JobGate) -> None:
        self.gate = gate
        self.started = False
        self.finished = False

    async def start(self) -> None:
        await self.gate.semaphore().acquire()
        self.started = True
        self.gate.running += 1

    def finish(self, outcome: Outcome) -> None:
        if self.finished:
            return
        self.finished = True
        gate = self.gate
        if self.started:
            gate.running -= 1
            gate.semaphore().release()
        gate.admitted -= 1
        gate.counters[f"jobs_{outcome}"] += 1


async def wait_disconnect(receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
    """Return when the HTTP client disconnects (the request body must be read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def run_unless_gone(gone: Callable[[], Awaitable[Any]], work: Awaitable[Any], cancel: threading.Event) -> Any:
    """``await work``, unless ``gone()`` returns first: then set ``cancel``, cancel the work,
    wait for it to wind down and raise :class:`ClientGone`."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(gone())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        cancel.set()
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    cancel.set()
    task.cancel()
    await asyncio.wait({task})
    raise ClientGone()


async def run_in_thread_exclusively(
    lock: asyncio.Lock, cancel: threading.Event, func: Callable[..., Any], *args: Any
) -> Any:
    """``func(*args)`` in a worker thread while holding ``lock``. Cancelling the caller sets
    ``cancel`` (``func`` checks it between pieces of work) and keeps the lock until the thread
    has really stopped, so two calls never run in the engine at once."""
    async with lock:
        task = asyncio.ensure_future(asyncio.to_thread(func, *args))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            cancel.set()
            while not task.done():
                try:
                    await asyncio.wait({task})
                except asyncio.CancelledError:
                    continue
            if not task.cancelled():
                task.exception()  # retrieved: JobCancelled is the expected end here
            raise
