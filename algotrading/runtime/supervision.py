"""Restart policy, in the manner of Erlang/OTP's one-for-one supervisor: a failed actor is
restarted after a backoff, at most ``max_restarts`` times within ``within_ns``; one more failure
inside the window escalates. Pure: it is told the time, so it is tested without a loop."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 3
    within_ns: int = 60 * 10**9
    backoff_initial_ns: int = 200 * 10**6
    backoff_max_ns: int = 5 * 10**9


@dataclass(frozen=True)
class Restart:
    delay_ns: int
    attempt: int  # 1 for the first restart in the window


@dataclass(frozen=True)
class Escalate:
    failures: int
    within_ns: int


class RestartTracker:
    """Remembers the recent failures of one actor and decides what the next one means."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._failures: deque[int] = deque()
        self.total_restarts = 0

    def on_failure(self, now_ns: int) -> Restart | Escalate:
        window_start = now_ns - self.policy.within_ns
        while self._failures and self._failures[0] <= window_start:
            self._failures.popleft()
        self._failures.append(now_ns)
        attempt = len(self._failures)
        if attempt > self.policy.max_restarts:
            return Escalate(failures=attempt, within_ns=self.policy.within_ns)
        self.total_restarts += 1
        delay = min(self.policy.backoff_initial_ns * 2 ** (attempt - 1), self.policy.backoff_max_ns)
        return Restart(delay_ns=delay, attempt=attempt)
