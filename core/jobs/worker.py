"""Who runs a job, whether that process still lives, and the sweeper every Celery worker runs.

A running job records the process that runs it (`Job.worker`: host, boot, process id and the
process's start time). On the same machine Concord can then tell at once that the process is gone
(killed with SIGKILL, out of memory), without waiting for its heartbeat to go stale; on another
machine only the heartbeat tells.

`JobSweeper` is a step of the Celery worker's consumer: it sweeps (core.jobs.services.jobs_sweep)
when the worker has connected to the broker, again after every reconnection (so jobs queued while
the broker was down are sent as soon as it is back), and every CONCORD_JOB_SWEEP_SECONDS. Every
worker sweeps; the sweep locks the rows it acts on, so several workers never act twice on a job.
"""

from __future__ import annotations

import logging
import os
import socket
from functools import cache

from celery import bootsteps
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

_SEPARATOR = "/"  # never in a host name


@cache
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process, from /proc; None if there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the command name may hold spaces and brackets
    return (fields[0], fields[19]) if len(fields) > 19 else None


def process_identity() -> str:
    """This process, as recorded in `Job.worker`."""
    pid = os.getpid()
    started = _process_start(pid)
    return _SEPARATOR.join([socket.gethostname(), _boot_id(), str(pid), started[1] if started else ""])


def process_alive(identity: str) -> bool | None:
    """Whether the process `identity` names still runs: True or False when it ran on this machine
    since its last boot, None when this machine cannot tell (another host, or no /proc)."""
    parts = identity.split(_SEPARATOR)
    if len(parts) != 4 or not parts[1] or not parts[3].isdigit() or not parts[2].isdigit():
        return None
    host, boot, pid, started = parts
    if host != socket.gethostname() or boot != _boot_id():
        return None
    found = _process_start(int(pid))
    if found is None or found[0] in ("Z", "X"):  # gone, or dead and not yet reaped
        return False
    return found[1] == started  # a different start time: the id was reused by another process


def sweep_safely() -> None:
    """One sweep that never takes the worker down with it: a failure is logged and the next sweep
    tries again."""
    from core.jobs.services import jobs_sweep

    try:
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
        summary = jobs_sweep()
    except Exception:
        logger.exception("the job sweep failed; the next one tries again")
        return
    done = [
        f"{kind}: " + ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        for kind, counts in summary.items()
        if any(counts.values())
    ]
    if done:
        logger.info("job sweep: %s", "; ".join(done))


class JobSweeper(bootsteps.StartStopStep):
    """Sweeps when the consumer (re)connects to the broker, then every CONCORD_JOB_SWEEP_SECONDS."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        self.timer_entry = None
        super().__init__(c, **kwargs)

    def start(self, c):
        sweep_safely()
        self.timer_entry = c.timer.call_repeatedly(settings.CONCORD_JOB_SWEEP_SECONDS, sweep_safely)

    def stop(self, c):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    shutdown = stop
