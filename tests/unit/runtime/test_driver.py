import pytest

from algotrading.messages import Quote
from algotrading.runtime.actor import Actor
from algotrading.runtime.clock import VirtualClock
from algotrading.runtime.driver import Driver
from algotrading.runtime.graph import ActorSpec, Graph, GraphError, Route
from algotrading.runtime.supervision import RestartPolicy
from algotrading.runtime.supervisor import Escalated


async def test_each_input_and_its_consequences_complete_before_the_next(toy, make_quote):
    driver = Driver(toy.graph, VirtualClock(), RestartPolicy())
    await driver.start()
    await driver.run([make_quote(1), make_quote(2)])
    assert toy.seen == [("quote", 2.0), ("hb", 1000), ("quote", 4.0), ("hb", 2000)]
    assert driver.clock.now_ns() == 2000


async def test_a_failing_actor_is_restarted_and_the_stream_goes_on(toy, make_quote):
    toy.fail_on.add(2.0)
    driver = Driver(toy.graph, VirtualClock(), RestartPolicy(max_restarts=3))
    await driver.start()
    await driver.run([make_quote(1), make_quote(2), make_quote(3)])
    assert ("failed", "restart") in toy.seen
    assert [s for s in toy.seen if s[0] == "quote"] == [("quote", 2.0), ("quote", 6.0)]
    assert toy.starts == ["doubler", "doubler"]  # a fresh instance after the failure
    assert driver.supervisor.restarts("doubler") == 1


async def test_an_actor_that_keeps_failing_escalates(toy, make_quote):
    toy.fail_on.update({1.0, 2.0, 3.0})
    driver = Driver(toy.graph, VirtualClock(), RestartPolicy(max_restarts=2))
    await driver.start()
    with pytest.raises(Escalated) as info:
        await driver.run([make_quote(1), make_quote(2), make_quote(3), make_quote(4)])
    assert info.value.actor == "doubler"
    assert info.value.failures == 3


async def test_graph_refuses_a_route_to_an_actor_without_the_handler():
    class Mute(Actor):
        pass

    graph = Graph(
        [ActorSpec("a", lambda: Mute("a")), ActorSpec("b", lambda: Mute("b"))],
        [Route("a", Quote, ("b",))],
    )
    with pytest.raises(GraphError, match="has no on_quote"):
        Driver(graph, VirtualClock(), RestartPolicy())


async def test_sending_an_unrouted_message_is_a_wiring_bug(make_quote):
    class Loud(Actor):
        async def on_quote(self, msg: Quote) -> None:
            await self.send(msg)

    graph = Graph([ActorSpec("feed", lambda: Loud("feed"))], [])
    driver = Driver(graph, VirtualClock(), RestartPolicy(max_restarts=0))
    await driver.start()
    with pytest.raises(Escalated, match="has no route"):
        await driver.deliver(make_quote(1))
