"""Hands a send's jobs to its worker threads: the rate limit, retries with backoff, the pause.

Due retries go first, then the queue in its order; `rate_per_second` spaces the starts of SMTP
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

    def next_job(self) -> Job | None:
        with self._cond:
            while True:
                if self.paused or self.stopped:
                    return None
                now = time.monotonic()
                if self._retries and self._retries[0].due <= now:
                    job = heapq.heappop(self._retries)
                    break
                if self._queue:
                    job = self._queue.pop()
                    break
                if not self._retries and self._in_flight == 0:
                    return None
                wait = (self._retries[0].due - now) if self._retries else None
                self._cond.wait(timeout=wait)
            self._in_flight += 1
            if self._interval:
                slot = max(self._next_slot, now)
                self._next_slot = slot + self._interval
            else:
                slot = now
        if slot > now:
            time.sleep(slot - now)
        return job

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
