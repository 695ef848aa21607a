from algotrading.runtime.supervision import Escalate, Restart, RestartPolicy, RestartTracker

S = 10**9


def policy(**kw: int) -> RestartPolicy:
    base = dict(max_restarts=3, within_ns=60 * S, backoff_initial_ns=S // 10, backoff_max_ns=S)
    base.update(kw)
    return RestartPolicy(**base)


def test_restarts_with_exponential_backoff_capped():
    tracker = RestartTracker(policy(max_restarts=10))
    delays = [tracker.on_failure(i * S).delay_ns for i in range(6)]
    assert delays == [S // 10, S // 5, 2 * S // 5, 4 * S // 5, S, S]


def test_escalates_after_max_restarts_within_window():
    tracker = RestartTracker(policy())
    decisions = [tracker.on_failure(i * S) for i in range(4)]
    assert all(isinstance(d, Restart) for d in decisions[:3])
    assert decisions[3] == Escalate(failures=4, within_ns=60 * S)
    assert tracker.total_restarts == 3


def test_failures_outside_window_are_forgotten():
    tracker = RestartTracker(policy())
    for i in range(3):
        assert isinstance(tracker.on_failure(i * S), Restart)
    # 60.5 s after the first failure: the first has left the window, so this is attempt 3 again
    decision = tracker.on_failure(60 * S + S // 2)
    assert isinstance(decision, Restart)
    assert decision.attempt == 3


def test_zero_restarts_escalates_at_first_failure():
    assert isinstance(RestartTracker(policy(max_restarts=0)).on_failure(0), Escalate)
