"""The fake upstream speaks the OpenAI Responses API as the official SDKs expect it: the `openai` SDK's create, its
streams (raw and accumulated), parse and retrieve, and the OpenAI Agents SDK running a function tool, all against
the fake alone; its 400s in OpenAI's error shape, stored responses per fake, and the queued misbehaviours."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Literal

import httpx
import openai
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from pydantic import BaseModel

from tests.support.fake_upstream import RESPONSES_PATH, FakeUpstream
from tests.support.traffic import wait_until

TOOLS = [{"type": "function", "name": "lookup", "strict": True,
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                         "additionalProperties": False}}]
MESSAGE_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
                  "response.content_part.added", "response.output_text.delta", "response.output_text.done",
                  "response.content_part.done", "response.output_item.done", "response.completed"]
CALL_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
               "response.function_call_arguments.delta", "response.function_call_arguments.done",
               "response.output_item.done", "response.completed"]


def sdk(fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


def collapsed(types: list[str]) -> list[str]:
    """Event types with runs of one type (the deltas) folded into one."""
    return [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]


def test_create_answers_a_numbered_text_in_a_whole_response_object(fake_upstream) -> None:
    raw = httpx.post(f"{fake_upstream.base_url}/responses", json={
        "model": "gpt-4o-mini", "input": "How do I reset my password?", "instructions": "Be brief.",
        "temperature": 0.2, "metadata": {"team": "qa"}})
    body = raw.json()
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"
    number = int(re.fullmatch(r"resp_fake_(\d+)", body["id"]).group(1))
    assert body["object"] == "response" and body["status"] == "completed" and body["model"] == "gpt-4o-mini"
    assert "output_text" not in body  # the SDK computes it; it is no wire field
    assert body["output"] == [{"type": "message", "id": f"msg_fake_{number}", "status": "completed",
                               "role": "assistant", "content": [{
                                   "type": "output_text", "text": f"answer {number} to: How do I reset my password?",
                                   "annotations": [], "logprobs": []}]}]
    assert body["usage"] == {"input_tokens": 8, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 9,
                             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 17}
    assert (body["instructions"], body["temperature"], body["metadata"]) == ("Be brief.", 0.2, {"team": "qa"})
    assert body["text"]["format"] == {"type": "text"} and body["store"] is True and body["tools"] == []
    assert body["error"] is None and body["incomplete_details"] is None and body["previous_response_id"] is None
    with FakeUpstream() as other:  # the numbers are process-wide: no two fakes give the same answer
        second = sdk(other).responses.create(model="gpt-4o-mini", input="How do I reset my password?")
    assert second.output_text != body["output"][0]["content"][0]["text"]
    assert fake_upstream.calls(RESPONSES_PATH) == 1 and other.calls(RESPONSES_PATH) == 1


def test_a_stream_is_typed_numbered_events_without_done(fake_upstream) -> None:
    events = list(sdk(fake_upstream).responses.create(model="gpt-4o-mini", input="hi there", stream=True))
    assert collapsed([e.type for e in events]) == MESSAGE_EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.status == "in_progress" and events[0].response.output == []
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    final = events[-1].response
    assert len(deltas) == 5 and "".join(d.delta for d in deltas) == final.output_text
    assert all(d.item_id == final.output[0].id and d.logprobs == [] for d in deltas)
    assert final.output_text.endswith(" to: hi there") and final.usage.output_tokens == 5
    with httpx.stream("POST", f"{fake_upstream.base_url}/responses",
                      json={"model": "gpt-4o-mini", "input": "hi", "stream": True}) as raw:
        blocks = [b for b in raw.read().decode().split("\n\n") if b]
    assert raw.headers["content-type"] == "text/event-stream" and "[DONE]" not in blocks[-1]
    for block in blocks:
        event, data = block.split("\n")
        assert event == f"event: {json.loads(data.removeprefix('data: '))['type']}"
    assert wait_until(lambda: [s.finished for s in fake_upstream.streams] == [True, True], 5)


def test_a_client_hanging_up_mid_stream_is_recorded() -> None:
    with FakeUpstream(chunk_delay=0.05) as fake:
        with httpx.stream("POST", f"{fake.base_url}/responses",
                          json={"model": "gpt-4o-mini", "input": "a long story", "stream": True}) as raw:
            first = next(raw.iter_lines())
        assert first == "event: response.created"
        assert wait_until(lambda: fake.streams and fake.streams[0].ended is not None, 5)
        assert fake.streams[0].gone_early and not fake.streams[0].finished


def test_the_stream_helper_accumulates_the_final_response(fake_upstream) -> None:
    with sdk(fake_upstream).responses.stream(model="gpt-4o-mini", input="stream me") as stream:
        texts = [e.snapshot for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert texts[-1] == final.output_text and re.fullmatch(r"answer \d+ to: stream me", final.output_text)


def test_parse_gets_json_that_fits_the_schema(fake_upstream) -> None:
    class Place(BaseModel):
        name: str
        country: str

    class Trip(BaseModel):
        title: str
        days: int
        budget: float
        guided: bool
        kind: Literal["city", "beach"]
        note: str | None
        stops: list[Place]

    client = sdk(fake_upstream)
    parsed = client.responses.parse(model="gpt-4o-mini", input="Plan a trip", text_format=Trip)
    trip = parsed.output_parsed
    assert isinstance(trip, Trip) and trip.title.endswith(" to: Plan a trip")
    assert trip.days == trip.budget == len(trip.title.split())  # numbers count the words
    assert trip.stops[0].country == trip.note == trip.title and trip.kind == "city" and trip.guided
    sent = fake_upstream.last(RESPONSES_PATH).json["text"]["format"]
    assert sent["type"] == "json_schema" and parsed.text.format.name == sent["name"]
    loose = client.responses.create(model="gpt-4o-mini", input="Any JSON", text={"format": {"type": "json_object"}})
    assert re.fullmatch(r"answer \d+ to: Any JSON", json.loads(loose.output_text)["answer"])


def test_a_function_tool_is_called_then_answered_with_its_output(fake_upstream) -> None:
    client = sdk(fake_upstream)
    first = client.responses.create(model="gpt-4o-mini", input="Weather in Paris?", tools=TOOLS)
    (call,) = first.output
    assert (call.type, call.name, call.status) == ("function_call", "lookup", "completed")
    assert call.id.startswith("fc_") and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "Weather in Paris?"}  # what the tool's strict schema accepts
    reply = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"}
    second = client.responses.create(model="gpt-4o-mini", tools=TOOLS, input=[reply], previous_response_id=first.id)
    assert re.fullmatch(r"answer \d+ using sunny, 21C", second.output_text)
    events = list(client.responses.create(model="gpt-4o-mini", input="Rome?", tools=TOOLS, stream=True))
    assert collapsed([e.type for e in events]) == CALL_EVENTS
    pieces = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert pieces == events[-1].response.output[0].arguments == json.dumps({"city": "Rome?"})
    unasked = client.responses.create(model="gpt-4o-mini", input="Hi", tools=TOOLS, tool_choice="none")
    assert unasked.output[0].type == "message"
    plain = {"type": "function", "name": "search"}  # no schema: any arguments do
    chosen = client.responses.create(model="gpt-4o-mini", input="Hi", tools=[*TOOLS, plain],
                                     tool_choice={"type": "function", "name": "search"})
    assert chosen.output[0].name == "search" and json.loads(chosen.output[0].arguments) == {"query": "Hi"}


def test_previous_response_id_continues_a_stored_response(fake_upstream) -> None:
    client = sdk(fake_upstream)
    first = client.responses.create(model="gpt-4o-mini", input="My name is Ada.")
    second = client.responses.create(model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id)
    assert second.output_text.endswith(" to: What is my name? (turn 2)")
    assert second.previous_response_id == first.id and second.usage.input_tokens > 4 + 9  # the stored turn counts
    assert client.responses.retrieve(second.id).model_dump() == second.model_dump()
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(first.id)
    with pytest.raises(openai.BadRequestError) as gone:
        client.responses.create(model="gpt-4o-mini", input="Again?", previous_response_id=first.id)
    assert gone.value.body == {"message": f"Previous response with id '{first.id}' not found.",
                               "type": "invalid_request_error", "param": "previous_response_id",
                               "code": "previous_response_not_found"}
    unstored = client.responses.create(model="gpt-4o-mini", input="Forget me.", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)
    with FakeUpstream() as other, pytest.raises(openai.BadRequestError):  # stored per fake, as per account
        sdk(other).responses.create(model="gpt-4o-mini", input="Hi", previous_response_id=second.id)


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"input": "hi"}, "model", "missing_required_parameter"),
    ({"model": "gpt-4o-mini"}, "input", "missing_required_parameter"),
    ({"model": "gpt-4o-mini", "input": 42}, "input", "invalid_type"),
    ({"model": "gpt-4o-mini", "input": ["hi"]}, "input[0]", "invalid_type"),
    ({"model": "gpt-4o-mini", "input": [{"type": "photo"}]}, "input[0].type", "invalid_value"),
    ({"model": "gpt-4o-mini", "input": [{"role": "robot", "content": "hi"}]}, "input[0].role", "invalid_value"),
    ({"model": "gpt-4o-mini", "input": [{"type": "function_call_output", "call_id": {}, "output": "x"}]},
     "input[0].call_id", "invalid_type"),
    ({"model": "gpt-4o-mini", "input": [{"type": "function_call_output", "call_id": "call_x", "output": "x"}]},
     "input", None),
    ({"model": "gpt-4o-mini", "input": "hi", "tools": [{"type": "function"}]}, "tools[0].name",
     "missing_required_parameter"),
    ({"model": "gpt-4o-mini", "input": "hi", "tools": TOOLS, "tool_choice": {"type": "function", "name": "nope"}},
     "tool_choice", None),
    ({"model": "gpt-4o-mini", "input": "hi", "max_output_tokens": 5}, "max_output_tokens",
     "integer_below_min_value"),
    ({"model": "gpt-4o-mini", "input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
     "text.format.schema", "missing_required_parameter"),
    ({"model": "gpt-4o-mini", "input": "hi", "text": "plain"}, "text", "invalid_type"),
    ({"model": "gpt-4o-mini", "input": "hi", "previous_response_id": 7}, "previous_response_id", "invalid_type"),
])
def test_a_bad_request_is_a_400_in_openai_error_shape(fake_upstream, body: dict, param: str, code) -> None:
    answer = httpx.post(f"{fake_upstream.base_url}/responses", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


def test_the_sdk_sees_a_missing_model_and_a_body_that_is_no_json(fake_upstream) -> None:
    with pytest.raises(openai.BadRequestError) as missing:
        sdk(fake_upstream).responses.create(input="hi")
    assert missing.value.body["message"] == "Missing required parameter: 'model'."
    broken = httpx.post(f"{fake_upstream.base_url}/responses", content=b"{not json")
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    unknown = httpx.get(f"{fake_upstream.base_url}/responses/resp_x/y")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "Invalid URL (GET /v1/responses/resp_x/y)"


def test_max_output_tokens_cuts_the_answer_into_an_incomplete_response(fake_upstream) -> None:
    prompt = " ".join(f"word{n}" for n in range(20))
    client = sdk(fake_upstream)
    cut = client.responses.create(model="gpt-4o-mini", input=prompt, max_output_tokens=16)
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    assert len(cut.output_text.split()) == 16 == cut.usage.output_tokens and cut.output[0].status == "incomplete"
    events = list(client.responses.create(model="gpt-4o-mini", input=prompt, max_output_tokens=16, stream=True))
    assert events[-1].type == "response.incomplete" and events[-1].response.status == "incomplete"


def test_extra_words_lengthen_the_answer_and_its_stream() -> None:
    with FakeUpstream(extra_words=3) as fake:
        answer = sdk(fake).responses.create(model="gpt-4o-mini", input="hi")
    assert answer.output_text.endswith(" to: hi w0 w1 w2")


def test_queued_failures_apply_to_the_responses_path(fake_upstream) -> None:
    client = sdk(fake_upstream)
    fake_upstream.fail_next(429, path=RESPONSES_PATH)
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="gpt-4o-mini", input="hi")
    fake_upstream.break_stream_next(after_events=3, path=RESPONSES_PATH)
    seen: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for event in client.responses.create(model="gpt-4o-mini", input="cut me off", stream=True):
            seen.append(event.type)
    assert seen == MESSAGE_EVENTS[:3]
    fake_upstream.break_stream_next(path=RESPONSES_PATH)
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model="gpt-4o-mini", input="cut the body")
    fake_upstream.fail_response_next(after_events=5, path=RESPONSES_PATH)
    events = list(client.responses.create(model="gpt-4o-mini", input="fail me please", stream=True))
    assert [e.type for e in events] == [*MESSAGE_EVENTS[:5], "response.failed"]
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.code == "server_error" and failed.usage is None
    assert client.responses.retrieve(failed.id).status == "failed"
    fake_upstream.fail_response_next(path=RESPONSES_PATH)
    assert client.responses.create(model="gpt-4o-mini", input="fail whole").status == "failed"
    assert fake_upstream.calls(RESPONSES_PATH) == 5 and fake_upstream.pending() == 0  # a GET is on its own path


def test_the_agents_sdk_runs_a_function_tool_agent_through_the_fake(fake_upstream) -> None:
    set_tracing_disabled(True)
    cities: list[str] = []

    @function_tool
    def weather(city: str) -> str:
        """Today's weather in a city."""
        cities.append(city)
        return f"sunny in {city}"

    async def run() -> tuple[object, object]:
        model = OpenAIResponsesModel("gpt-4o-mini", openai.AsyncOpenAI(base_url=fake_upstream.base_url,
                                                                        api_key="sk-test", max_retries=0))
        agent = Agent(name="forecaster", instructions="Answer briefly.", tools=[weather], model=model)
        whole = await Runner.run(agent, "Weather in Paris?")
        streamed = Runner.run_streamed(agent, "Weather in Rome?")
        async for _ in streamed.stream_events():
            pass
        return whole.final_output, streamed.final_output

    whole, streamed = asyncio.run(run())
    assert cities == ["Weather in Paris?", "Weather in Rome?"]
    assert re.fullmatch(r"answer \d+ using sunny in Weather in Paris\?", whole)
    assert re.fullmatch(r"answer \d+ using sunny in Weather in Rome\?", streamed)
    assert fake_upstream.calls(RESPONSES_PATH) == 4  # a tool call and a final answer per run
