"""The OpenAI Agents SDK (whose default model speaks the Responses API) running an agent with a function tool
through a served gateway: a second run of the same conversation makes no upstream call, and a paraphrased question
is answered from the cache up to where the conversations part."""

from __future__ import annotations

import asyncio

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

RESPONSES = "/v1/responses"
calls: list[str] = []


@function_tool
def weather_in(city: str) -> str:
    """The weather in a city."""
    calls.append(city)
    return f"Sunny and 21 degrees in {city}."


def run(gateway, question: str, *, streamed: bool = False) -> str:
    async def go() -> str:
        client = AsyncOpenAI(base_url=gateway.base_url, api_key="sk-agent", max_retries=0)
        agent = Agent(name="forecaster", instructions="Use the tool to answer.", tools=[weather_in],
                      model=OpenAIResponsesModel(model="gpt-4.1-mini", openai_client=client))
        if streamed:
            result = Runner.run_streamed(agent, question)
            async for _ in result.stream_events():
                pass
        else:
            result = await Runner.run(agent, question)
        await client.close()
        return str(result.final_output)

    set_tracing_disabled(True)
    answer = asyncio.run(go())
    gateway.drain()
    return answer


@pytest.mark.parametrize("streamed", [False, True])
def test_an_agent_run_again_makes_no_upstream_call(gateway, fake_upstream, streamed: bool) -> None:
    calls.clear()
    question = "What is the weather in Paris today?"
    first = run(gateway, question, streamed=streamed)
    assert fake_upstream.calls(RESPONSES) == 2 and len(calls) == 1  # the tool call, then the answer using it
    assert first.startswith("answer") and calls[0] in first
    again = run(gateway, question, streamed=streamed)
    assert again == first and fake_upstream.calls(RESPONSES) == 2
    assert calls == [calls[0]] * 2  # the agent's own tool still runs: only the model's answers are cached
    run(gateway, "What's the weather in Paris today?", streamed=streamed)
    assert fake_upstream.calls(RESPONSES) == 3  # the tool call was a semantic hit; the answer after it is new
