"""Per-provider timeouts from the routing table (`UPSTREAMS_FILE`, `timeout_secs`): a provider slower than its own
timeout is a 504 in the gateway's timeout shape (OpenAI's, or Anthropic's on `/v1/messages`), in time, while another
provider with a longer timeout still answers; a provider's timeout replaces `UPSTREAM_TIMEOUT_SECS`, either way."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.flights import shared_gateways, together

SLOW_SECS = 0.5  # the hasty provider's timeout
TAKES_SECS = 1.2  # what both providers take: past the hasty one's timeout, within the patient one's


def _upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as upstream:
        upstream.latency = TAKES_SECS
        yield upstream


hasty = pytest.fixture(_upstream)
patient = pytest.fixture(_upstream)


@pytest.fixture
def table(tmp_path, hasty, patient):
    path = tmp_path / "upstreams.toml"
    path.write_text(f"""
[[upstream]]
name = "hasty"
base_url = "{hasty.base_url}"
models = ["hasty-*"]
timeout_secs = {SLOW_SECS}

[[upstream]]
name = "patient"
base_url = "{patient.base_url}"
models = ["patient-*"]
timeout_secs = 10

[[upstream]]
name = "hasty-claude"
api = "anthropic"
base_url = "{hasty.origin}"
models = ["claude-hasty-*"]
timeout_secs = {SLOW_SECS}

[[upstream]]
name = "patient-claude"
api = "anthropic"
base_url = "{patient.origin}"
models = ["claude-patient-*"]
timeout_secs = 10
""")
    return str(path)


def sdk(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="sk-client-one", max_retries=0)


def chat(gateway, model: str, *, stream: bool = False) -> str:
    messages = [{"role": "user", "content": "Hi?"}]
    if stream:
        chunks = list(sdk(gateway).chat.completions.create(model=model, messages=messages, stream=True))
        return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    return sdk(gateway).chat.completions.create(model=model, messages=messages).choices[0].message.content


def timed_out(call) -> openai.APIStatusError:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    assert time.monotonic() - started < TAKES_SECS  # the provider's timeout, not its answer, ended it
    return caught.value


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_slow_provider_times_out_while_a_patient_one_answers(make_gateway, store_kind, table, hasty, patient,
                                                               stream: bool) -> None:
    gateway = make_gateway(store_kind, UPSTREAMS_FILE=table)
    error = timed_out(lambda: chat(gateway, "hasty-1", stream=stream))
    assert error.status_code == 504 and error.body["code"] == "upstream_timeout"
    assert error.body["type"] == "server_error"
    assert chat(gateway, "patient-1", stream=stream)
    assert hasty.calls() == 1 and patient.calls() == 1


def test_the_responses_api_times_out_per_provider(make_gateway, table, hasty, patient) -> None:
    gateway = make_gateway("memory", UPSTREAMS_FILE=table)
    error = timed_out(lambda: sdk(gateway).responses.create(model="hasty-1", input="Hi?"))
    assert error.status_code == 504 and error.body["code"] == "upstream_timeout"
    assert sdk(gateway).responses.create(model="patient-1", input="Hi?").output_text


def test_messages_time_out_per_provider_in_anthropics_shape(make_gateway, table, hasty, patient) -> None:
    gateway = make_gateway("memory", UPSTREAMS_FILE=table)
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="sk-ant-client", max_retries=0)
    ask = {"max_tokens": 64, "messages": [{"role": "user", "content": "Hi?"}]}
    started = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as caught:
        claude.messages.create(model="claude-hasty-1", **ask)
    assert time.monotonic() - started < TAKES_SECS
    assert caught.value.status_code == 504 and caught.value.body["error"]["type"] == "timeout_error"
    assert claude.messages.create(model="claude-patient-1", **ask).content


def test_a_providers_timeout_overrides_a_shorter_default(make_gateway, table, hasty, patient) -> None:
    """`UPSTREAM_TIMEOUT_SECS` is for providers without their own; the patient one's 10 s holds, for its callers
    that follow another's call too (single-flight's followers wait as long as the provider may take)."""
    gateway = make_gateway("memory", UPSTREAMS_FILE=table, UPSTREAM_TIMEOUT_SECS=str(SLOW_SECS))
    results = together([lambda: chat(gateway, "patient-1")] * 3)
    assert all(isinstance(result, str) and result for result in results), results
    assert patient.calls() == 1


def test_followers_in_other_workers_wait_as_long_as_the_provider_may_take(make_gateway, table, patient) -> None:
    one, two = shared_gateways(make_gateway, 2, UPSTREAMS_FILE=table, UPSTREAM_TIMEOUT_SECS=str(SLOW_SECS))
    results = together([lambda: chat(one, "patient-1"), lambda: chat(two, "patient-1")] * 2)
    assert all(isinstance(result, str) and result for result in results), results
    assert patient.calls() == 1


def test_a_providers_timeout_holds_between_a_streams_events(make_gateway, table, hasty, patient) -> None:
    """Both ways: a pause past the default but within the provider's own timeout is waited for (it was cut off
    with an error event at the default's), and a pause past the provider's own ends the stream in time."""
    gateway = make_gateway("memory", UPSTREAMS_FILE=table, UPSTREAM_TIMEOUT_SECS=str(SLOW_SECS))
    patient.latency, patient.chunk_delay = 0, 0.8
    assert chat(gateway, "patient-1", stream=True)
    gateway = make_gateway("memory", UPSTREAMS_FILE=table)  # the default: 600 s
    hasty.latency, hasty.chunk_delay = 0, 3.0
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        chat(gateway, "hasty-1", stream=True)
    assert time.monotonic() - started < 2.0 and caught.value.body["code"] == "upstream_timeout"
