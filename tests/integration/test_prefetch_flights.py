"""A prefetch leads the flight an identical client request joins: what its followers are sent must be what their
own request would have been answered, and a prefetch that never goes upstream must not hold them. On both stores,
through a served gateway."""

from __future__ import annotations

import orjson
import pytest

from gateway.cache.asks import Ask, Miss
from gateway.errors import CacheUnavailable
from gateway.wire.canonical import tenant_digest
from gateway.wire.chat import read_chat
from tests.integration.test_prefetch import BRIEF, FOLLOW_UP, OPENING, PREFETCH, settled, taught
from tests.support.clients import ask

KEY = "sk-client-one"


def follow_up_ask(history: list[dict], **params) -> Ask:
    """The follow-up as the gateway reads it from the client: a prefetch's and the client's ask alike."""
    body = {"model": "gpt-4o-mini", "messages": [*history, {"role": "user", "content": FOLLOW_UP}], **params}
    request = read_chat(orjson.dumps(body), {}, default_model="gpt-4o-mini")
    tenant = tenant_digest(KEY)
    return Ask(request.key(tenant), request.controls, tenant, KEY, request.temperature, False, request.variant)


async def _down(guard) -> None:
    async def failing() -> None:
        raise OSError("the store went away")

    with pytest.raises(CacheUnavailable):
        await guard.call(failing)


def test_a_prefetch_whose_budget_cannot_be_read_does_not_hold_the_client_asking_it(make_gateway, store_kind,
                                                                                   fake_upstream) -> None:
    """Its flight is led before the budget is asked: a store failure then must end it, or the client asking the
    question follows a flight nobody flies (for the upstream's timeout, twice, each time it asks)."""
    gateway = make_gateway(store_kind, **PREFETCH | {"UPSTREAM_TIMEOUT_SECS": "1", "STORE_RETRY_SECS": "60"})
    history = taught(gateway, [FOLLOW_UP, FOLLOW_UP])
    policy = gateway.gateway.policy
    gateway.run(_down(policy.layers.write_guard))  # what the budget is counted through; lookups still work
    with pytest.raises(CacheUnavailable):
        gateway.run(policy.background.prefetch(follow_up_ask(history), tokens=10))

    async def client_asks() -> Miss:
        decision = await policy.decide(follow_up_ask(history))
        assert isinstance(decision, Miss)
        with decision:
            return decision

    miss = gateway.run(client_asks())
    assert miss.flight is not None and miss.flight.key is not None  # it leads the shared flight, not a private one


def test_a_conversation_asked_at_a_temperature_not_stored_is_not_prefetched(make_gateway, store_kind,
                                                                            fake_upstream) -> None:
    """Its answer could not be stored, and while on its way a client asking the question at a temperature the
    cache stores would be sent it (temperature is no part of the key)."""
    gateway = make_gateway(store_kind, **PREFETCH)
    history = taught(gateway, [FOLLOW_UP, FOLLOW_UP])
    calls = fake_upstream.calls()
    assert ask(gateway, OPENING, temperature=1.8)[0] == "hit"
    settled(gateway)
    assert fake_upstream.calls() == calls
    state, _, _ = ask(gateway, FOLLOW_UP, history=history, temperature=0, headers=BRIEF)
    assert state == "miss" and fake_upstream.last().json["temperature"] == 0
