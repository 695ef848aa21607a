import asyncio

from algotrading.messages import Quote
from algotrading.runtime.clock import WallClock
from algotrading.runtime.live import EXIT_ESCALATED, EXIT_OK, LiveRuntime, Source
from algotrading.runtime.supervision import RestartPolicy

FAST = RestartPolicy(
    max_restarts=2, within_ns=60 * 10**9, backoff_initial_ns=1_000_000, backoff_max_ns=5_000_000
)


def source_of(quotes):
    async def gen():
        for q in quotes:
            yield q

    return gen


async def test_each_actor_runs_as_a_task_and_a_finite_source_drains_before_stop(toy, make_quote):
    runtime = LiveRuntime(toy.graph, WallClock(), FAST, queue_size=2)
    runtime.add_source(
        Source("data", source_of([make_quote(i) for i in range(1, 51)]), "feed", stops_runtime=True)
    )
    code = await asyncio.wait_for(runtime.run(), 5)
    assert code == EXIT_OK
    bids = [s[1] for s in toy.seen if s[0] == "quote"]
    assert bids == [2.0 * i for i in range(1, 51)]  # nothing lost with tiny bounded inboxes
    assert runtime.queue_depths() == {"feed": 0, "doubler": 0, "sink": 0}


async def test_failed_actor_restarts_after_backoff(toy, make_quote):
    toy.fail_on.add(3.0)
    runtime = LiveRuntime(toy.graph, WallClock(), FAST)
    runtime.add_source(
        Source("data", source_of([make_quote(i) for i in range(1, 6)]), "feed", stops_runtime=True)
    )
    assert await asyncio.wait_for(runtime.run(), 5) == EXIT_OK
    assert [s[1] for s in toy.seen if s[0] == "quote"] == [2.0, 4.0, 8.0, 10.0]
    assert ("failed", "restart") in toy.seen
    assert runtime.supervisor.restarts("doubler") == 1
    assert toy.starts == ["doubler", "doubler"]


async def test_actor_that_keeps_failing_escalates_to_a_safe_stop(toy, make_quote):
    toy.fail_on.update(float(i) for i in range(1, 100))

    async def endless():
        i = 0
        while True:
            i += 1
            yield make_quote(i)
            await asyncio.sleep(0.001)

    runtime = LiveRuntime(toy.graph, WallClock(), FAST, escalation_commands=(("sink", "halt"),))
    runtime.add_source(Source("data", endless, "feed"))
    code = await asyncio.wait_for(runtime.run(), 5)
    assert code == EXIT_ESCALATED
    assert "doubler escalated" in runtime.stop_reason
    assert ("command", "halt") in toy.seen  # the safe state was commanded before stopping
    assert ("failed", "escalate") in toy.seen


async def test_duration_stops_an_endless_source(toy, make_quote):
    async def endless():
        while True:
            yield make_quote(1)
            await asyncio.sleep(0.01)

    runtime = LiveRuntime(toy.graph, WallClock(), FAST)
    runtime.add_source(Source("data", endless, "feed"))
    code = await asyncio.wait_for(runtime.run(duration_s=0.2), 5)
    assert code == EXIT_OK
    assert "duration" in runtime.stop_reason


async def test_failing_source_stops_the_runtime_with_an_error(toy):
    async def broken():
        yield Quote(ts_event=1, instrument="EUR_USD", bid=1.0, ask=1.1)
        raise ConnectionError("vendor went away")

    runtime = LiveRuntime(toy.graph, WallClock(), FAST)
    runtime.add_source(Source("data", broken, "feed"))
    assert await asyncio.wait_for(runtime.run(), 5) == 1
    assert "vendor went away" in runtime.stop_reason
