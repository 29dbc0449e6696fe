"""A flight in one worker, in process: one that failed after its head is not followed (a follower goes upstream
instead), and a request arriving while an abandoned flight closes its upstream leads anew (single-flight between
served gateways: integration/test_single_flight.py)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import FlightFailed
from gateway.flight.flight import Head, LocalFlights


def test_a_flight_that_failed_after_its_head_is_not_followed() -> None:
    async def scenario() -> None:
        flight, _ = LocalFlights().join("k")
        flight.start(Head(200, [("content-type", "text/event-stream")]))
        flight.publish(b"data: first\n\n")
        flight.fail()
        with pytest.raises(FlightFailed):  # a follower relayed nothing yet: it goes upstream, not a 200 then a 504
            await flight.join(5).head()

    asyncio.run(scenario())


def test_a_request_arriving_while_an_abandoned_flight_closes_its_upstream_leads_anew() -> None:
    async def scenario() -> None:
        flights = LocalFlights()
        flight, _ = flights.join("k")
        flight.start(Head(200, []))
        leader = flight.join(5)

        async def producer() -> None:
            flight.publish(b"data: first\n\n")
            try:
                await asyncio.sleep(5)
            finally:
                await asyncio.sleep(0.01)  # closing the upstream request takes a moment
            flight.end()

        flight.feed(producer())
        await asyncio.sleep(0.01)
        leader.close()  # the leader's client hangs up: the producer is cancelled
        again, leading = flights.join("k")  # identical request in that very moment
        assert leading and again is not flight
        await flights.close()

    asyncio.run(scenario())
