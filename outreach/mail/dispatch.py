"""Hands a send's jobs to its worker threads: the rate limit, retries with backoff, the pause.

Jobs go out in small batches (each worker claims a batch in one ledger transaction). Due retries
go first, then the queue in its order; `rate_per_second` spaces the starts of SMTP
transactions across all workers; `max_consecutive_failures` in a row pause the whole send (a
server refusing everything should not burn through the list).
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass, field


@dataclass(order=True)
class Job:
    """One delivery row to send, with what the message needs to know about its recipient."""

    due: float
    delivery_id: int = field(compare=False)
    subscriber_id: int = field(compare=False)
    email: str = field(default="", compare=False)
    name: str | None = field(default=None, compare=False)
    language: str | None = field(default=None, compare=False)
    tries: int = field(default=0, compare=False)
    slot: float = field(default=0.0, compare=False)


class Dispatcher:
    """Hands jobs to the workers: due retries first, then the queue; pauses on a failure streak."""

    def __init__(self, jobs: list[Job], rate: float, max_failures: int) -> None:
        self._queue = jobs[::-1]  # pop() from the end keeps the original order
        self._retries: list[Job] = []
        self._cond = threading.Condition()
        self._in_flight = 0
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next_slot = time.monotonic()
        self.max_failures = max_failures
        self.consecutive_failures = 0
        self.paused: str | None = None
        self.stopped = False
        self.finished = 0

    @property
    def halted(self) -> bool:
        """Paused or stopped: claimed jobs not yet sent go back to the queue."""
        return bool(self.paused or self.stopped)

    def next_batch(self, size: int) -> list[Job]:
        """Up to `size` jobs (due retries first), each with its rate-limit slot; [] when done."""
        with self._cond:
            while True:
                if self.halted:
                    return []
                now = time.monotonic()
                batch: list[Job] = []
                while self._retries and self._retries[0].due <= now and len(batch) < size:
                    batch.append(heapq.heappop(self._retries))
                while self._queue and len(batch) < size:
                    batch.append(self._queue.pop())
                if batch:
                    break
                if not self._retries and self._in_flight == 0:
                    return []
                wait = (self._retries[0].due - now) if self._retries else None
                self._cond.wait(timeout=wait)
            self._in_flight += len(batch)
            for job in batch:
                job.slot = max(self._next_slot, now) if self._interval else now
                self._next_slot = job.slot + self._interval
        return batch

    @staticmethod
    def wait_for_slot(job: Job) -> None:
        """Sleep until the job's start time under `rate_per_second`."""
        delay = job.slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def returned(self, job: Job) -> None:
        """A claimed job given back unsent (the send paused or stopped): no outcome to count."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def done(self, job: Job, outcome: str, detail: str, retry_at: float | None) -> None:
        with self._cond:
            self._in_flight -= 1
            if outcome in ("sent", "skipped"):
                if outcome == "sent":
                    self.consecutive_failures = 0
                self.finished += 1
            else:
                self.consecutive_failures += 1
                if retry_at is not None:
                    job.due = retry_at
                    heapq.heappush(self._retries, job)
                else:
                    self.finished += 1
                if self.consecutive_failures >= self.max_failures and not self.paused:
                    self.paused = (
                        f"{self.consecutive_failures} consecutive failures (last: {detail})"
                    )
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._cond.notify_all()
