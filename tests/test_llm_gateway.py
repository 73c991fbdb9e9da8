"""The LLM gateway through real litellm: against the mock OpenAI server, and with the demo model."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import litellm
import pytest

from agent import demo_model
from agent.llm import LLMError, LLMGateway, ModelReply, _StopScope
from agent.settings import AgentSettings
from tests.mock_llm_server import MockLLMServer, Reply

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {
                "type": "object",
                "properties": {arg: {"type": "string"} for arg in args},
                "required": list(args),
            },
        },
    }
    for name, args in [
        ("save_note", ("title", "body")),
        ("search_notes", ("query",)),
        ("ask_human", ("question",)),
    ]
]
MESSAGES = [{"role": "user", "content": "hello"}]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def server() -> AsyncIterator[MockLLMServer]:
    async with MockLLMServer() as running:
        yield running


def settings(**overrides: Any) -> AgentSettings:
    values: dict[str, Any] = {
        "llm_model": "openai/mock",
        "llm_api_key": "sk-test",
        "llm_timeout_seconds": 5.0,
        "llm_idle_timeout_seconds": 2.0,
        "llm_max_retries": 2,
        **overrides,
    }
    return AgentSettings(_env_file=None, **values)  # type: ignore[call-arg]


def gateway(server: MockLLMServer, **overrides: Any) -> LLMGateway:
    return LLMGateway(
        settings(llm_api_base=server.base_url, **overrides),
        retry_base_delay=0.01,
    )


class Recorder:
    """Collects on_text pieces and can ask to stop after a number of them."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.pieces: list[str] = []
        self.first_at: float | None = None
        self.stop_after = stop_after
        self.stop = asyncio.Event()

    def on_text(self, piece: str) -> None:
        if self.first_at is None:
            self.first_at = time.monotonic()
        self.pieces.append(piece)
        if self.stop_after is not None and len(self.pieces) >= self.stop_after:
            self.stop.set()

    @property
    def text(self) -> str:
        return "".join(self.pieces)


async def complete(
    llm: LLMGateway,
    recorder: Recorder,
    messages: list[dict[str, Any]] = MESSAGES,
    tools: list[dict[str, Any]] | None = None,
) -> ModelReply:
    return await llm.complete(messages, tools or [], recorder.on_text, recorder.stop)


# ── streaming ───────────────────────────────────────────────────────────────────────────────


async def test_text_streams_in_order_as_it_arrives(server: MockLLMServer) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    server.enqueue(Reply(text=text, chunk_chars=3, delay_per_chunk=0.01))
    recorder = Recorder()
    reply = await complete(gateway(server), recorder)
    done = time.monotonic()
    assert reply == ModelReply(text=text, tool_calls=(), stopped=False)
    assert recorder.text == text
    assert len(recorder.pieces) == len(range(0, len(text), 3))  # one call per chunk, no batching
    assert recorder.first_at is not None
    assert done - recorder.first_at > 0.05  # the first piece came long before the end
    body = server.requests[-1]
    assert body["stream"] is True
    assert body["model"] == "mock"
    assert "tools" not in body  # no tools offered → none sent


async def test_reading_a_backlog_of_chunks_lets_the_loop_run_others(
    server: MockLLMServer,
) -> None:
    """When the bot is behind, chunks are already buffered and reading one does not suspend;
    the gateway still lets other work (acking Slack's events) run between chunks."""
    text = " ".join(f"w{n}" for n in range(1500))
    server.enqueue(Reply(text=text, chunk_chars=4))  # sent at once: a backlog
    recorder = Recorder()
    seen: list[int] = []

    async def other_work() -> None:
        while True:
            seen.append(len(recorder.pieces))
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_work())
    try:
        reply = await complete(gateway(server), recorder)
    finally:
        ticker.cancel()
    assert reply.text == text
    gaps = [later - earlier for earlier, later in itertools.pairwise(seen)]
    assert max(gaps) <= 2  # chunks read between two turns of the other task


async def test_tool_call_fragments_assemble(server: MockLLMServer) -> None:
    arguments = {"title": "Water", "body": "Drink more water."}
    server.enqueue(Reply(text="Saving.", tool_calls=[("save_note", arguments)], chunk_chars=5))
    reply = await complete(gateway(server), Recorder(), tools=TOOLS)
    assert sum(1 for chunk in server.sent_chunks if chunk.tool_arguments) > 3  # really split
    assert reply.text == "Saving."
    [call] = reply.tool_calls
    assert (call.id, call.name) == ("call_mock_0_0", "save_note")
    assert json.loads(call.arguments) == arguments
    assert [tool["function"]["name"] for tool in server.requests[-1]["tools"]] == [
        "save_note",
        "search_notes",
        "ask_human",
    ]


@pytest.mark.parametrize("interleave", [False, True])
async def test_two_parallel_tool_calls(server: MockLLMServer, interleave: bool) -> None:
    tea, coffee = {"title": "Tea", "body": "Green."}, {"title": "Coffee", "body": "Black."}
    server.enqueue(
        Reply(
            tool_calls=[("save_note", tea), ("save_note", coffee)],
            chunk_chars=4,
            interleave_tool_calls=interleave,
        )
    )
    reply = await complete(gateway(server), Recorder(), tools=TOOLS)
    assert [(call.name, json.loads(call.arguments)) for call in reply.tool_calls] == [
        ("save_note", tea),
        ("save_note", coffee),
    ]
    assert len({call.id for call in reply.tool_calls}) == 2


@pytest.mark.parametrize(
    "quirk",
    [
        Reply(tool_calls=[("search_notes", {"query": "water and tea"})], repeat_tool_call_id=True),
        Reply(tool_calls=[("search_notes", {"query": "water and tea"})], omit_tool_call_index=True),
    ],
    ids=["id-on-every-fragment", "no-index"],
)
async def test_provider_quirks_in_tool_deltas(server: MockLLMServer, quirk: Reply) -> None:
    arguments = {"query": "water and tea"}
    server.enqueue(quirk)
    reply = await complete(gateway(server), Recorder(), tools=TOOLS)
    [call] = reply.tool_calls
    assert call.name == "search_notes"
    assert json.loads(call.arguments) == arguments
    assert call.id


async def test_should_stop_mid_stream_returns_the_partial_text(server: MockLLMServer) -> None:
    server.enqueue(
        Reply(text="one two three four five six seven eight", chunk_chars=4, delay_per_chunk=0.01)
    )
    recorder = Recorder(stop_after=3)
    reply = await complete(gateway(server), recorder)
    assert reply.stopped
    assert reply.tool_calls == ()
    assert reply.text == recorder.text == "one two thre"


async def stop_later(recorder: Recorder, after: float) -> float:
    """Set the recorder's stop after `after` seconds; returns when it was set."""
    await asyncio.sleep(after)
    recorder.stop.set()
    return time.monotonic()


@pytest.mark.parametrize(
    "slow",
    [Reply(text="late", delay_first_chunk=5.0), Reply(text="late", delay_before_headers=5.0)],
    ids=["first-chunk", "headers"],
)
async def test_a_stop_before_the_first_chunk_ends_the_call_at_once(
    server: MockLLMServer, slow: Reply
) -> None:
    server.enqueue(slow)
    recorder = Recorder()
    llm = gateway(server, llm_idle_timeout_seconds=10.0, llm_timeout_seconds=20.0)
    stopper = asyncio.create_task(stop_later(recorder, 0.3))
    reply = await complete(llm, recorder)
    stopped_at = await stopper
    assert time.monotonic() - stopped_at < 0.5  # not the 5 s the first chunk takes
    assert reply == ModelReply(text="", tool_calls=(), stopped=True)
    assert len(server.requests) == 1


async def test_a_stop_in_a_gap_between_chunks_keeps_the_partial_text(
    server: MockLLMServer,
) -> None:
    server.enqueue(Reply(text="this answer stalls halfway", chunk_chars=5, stall_after_chunks=3))
    recorder = Recorder()
    llm = gateway(server, llm_idle_timeout_seconds=10.0, llm_timeout_seconds=20.0)
    stopper = asyncio.create_task(stop_later(recorder, 0.3))
    reply = await complete(llm, recorder)
    assert time.monotonic() - await stopper < 0.5
    assert reply == ModelReply(text="this answe", tool_calls=(), stopped=True)
    assert recorder.text == "this answe"


async def test_a_stop_during_a_retry_backoff_ends_the_call(server: MockLLMServer) -> None:
    server.enqueue(Reply(status=503), Reply(text="never asked for"))
    recorder = Recorder()
    llm = LLMGateway(settings(llm_api_base=server.base_url), retry_base_delay=5.0)
    stopper = asyncio.create_task(stop_later(recorder, 0.3))
    reply = await complete(llm, recorder)
    assert time.monotonic() - await stopper < 0.5
    assert reply.stopped
    assert len(server.requests) == 1


async def test_a_stop_set_before_the_call_sends_nothing(server: MockLLMServer) -> None:
    recorder = Recorder()
    recorder.stop.set()
    reply = await complete(gateway(server), recorder)
    assert reply == ModelReply(text="", tool_calls=(), stopped=True)
    assert server.requests == []


async def test_someone_elses_cancellation_is_not_taken_for_a_stop(
    server: MockLLMServer,
) -> None:
    """A shutdown that cancels the run must still cancel it, stop or no stop."""
    server.enqueue(Reply(text="late", delay_first_chunk=5.0))
    recorder = Recorder()
    call = asyncio.create_task(complete(gateway(server, llm_idle_timeout_seconds=10.0), recorder))
    await asyncio.sleep(0.3)
    recorder.stop.set()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


async def test_a_cancel_on_top_of_a_stop_still_cancels() -> None:
    """The stop's own cancellation is requested, then a shutdown's: only the first is swallowed."""
    stop = asyncio.Event()
    after: list[str] = []

    async def body() -> None:
        async with _StopScope(stop):
            await asyncio.sleep(10)
        after.append("returned")

    task = asyncio.create_task(body())
    await asyncio.sleep(0)
    stop.set()
    while task.cancelling() == 0 and not task.done():  # noqa: ASYNC110 (task state: no event)
        await asyncio.sleep(0)
    assert task.cancelling() == 1 and not task.done()  # the stop's cancel, not yet delivered
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert after == []


async def test_a_stop_leaves_the_callers_task_uncancelled(server: MockLLMServer) -> None:
    server.enqueue(Reply(text="late", delay_first_chunk=5.0))
    recorder = Recorder()
    asyncio.get_running_loop().call_later(0.2, recorder.stop.set)
    reply = await complete(gateway(server, llm_idle_timeout_seconds=10.0), recorder)
    assert reply.stopped
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.05)  # no cancellation left pending for the caller's next await


# ── what providers are sent ─────────────────────────────────────────────────────────────────


async def test_only_the_openai_message_keys_reach_the_provider(server: MockLLMServer) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "search_notes", "arguments": '{"query": "tea"}'},
    }
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief.", "pause_id": "p-1"},
        {"role": "user", "content": "find tea", "input_id": "in-1", "name": "alice"},
        {"role": "assistant", "content": "", "tool_calls": [call], "turn": 3},
        {"role": "tool", "tool_call_id": "call_1", "content": "none", "ran_at": 1.5},
        {"role": "user", "content": "thanks", "input_id": "in-2"},
    ]
    await complete(gateway(server), Recorder(), messages=messages, tools=TOOLS)
    assert server.requests[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "find tea", "name": "alice"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "none"},
        {"role": "user", "content": "thanks"},
    ]
    assert messages[1]["input_id"] == "in-1"  # the caller's messages are left as they were


# ── retries and errors ──────────────────────────────────────────────────────────────────────


async def test_rate_limit_then_success_is_retried_without_duplicates(
    server: MockLLMServer,
) -> None:
    server.enqueue(Reply(status=429), Reply(text="after the retry", chunk_chars=4))
    recorder = Recorder()
    reply = await complete(gateway(server), recorder)
    assert reply.text == recorder.text == "after the retry"
    assert len(server.requests) == 2


async def test_rate_limit_that_persists_fails_after_the_retries(server: MockLLMServer) -> None:
    server.enqueue(*[Reply(status=429)] * 3, Reply(text="too late"))
    with pytest.raises(LLMError) as failure:
        await complete(gateway(server, llm_max_retries=2), Recorder())
    assert failure.value.kind == "model"
    assert failure.value.message == "The model provider is rate limiting us; try again in a moment."
    assert len(server.requests) == 3


async def test_bad_api_key_fails_at_once_with_a_clear_message(server: MockLLMServer) -> None:
    server.enqueue(Reply(status=401, error_body="Incorrect API key provided: sk-test"))
    with pytest.raises(LLMError) as failure:
        await complete(gateway(server), Recorder())
    assert failure.value.kind == "model"
    assert failure.value.message == "The model provider rejected the API key (check LLM_API_KEY)."
    assert len(server.requests) == 1


async def test_unknown_model_names_the_setting(server: MockLLMServer) -> None:
    server.enqueue(Reply(status=404, error_body="The model `mock` does not exist"))
    with pytest.raises(LLMError) as failure:
        await complete(gateway(server), Recorder())
    assert failure.value.message.startswith("Model 'openai/mock' was not found at the provider")
    assert "LLM_MODEL" in failure.value.message
    assert len(server.requests) == 1


async def test_server_error_after_text_began_is_not_retried(server: MockLLMServer) -> None:
    server.enqueue(
        Reply(text="partial answer here", chunk_chars=4, status=500, fail_after_chunks=3),
        Reply(text="a retry would duplicate text"),
    )
    recorder = Recorder()
    with pytest.raises(LLMError) as failure:
        await complete(gateway(server), recorder)
    assert failure.value.kind == "model"
    assert failure.value.message.startswith("The model failed: ")
    assert "\n" not in failure.value.message
    assert "Traceback" not in failure.value.message
    assert recorder.text == "partial "  # the role chunk, then two text chunks
    assert len(server.requests) == 1


async def test_server_error_before_any_text_is_retried(server: MockLLMServer) -> None:
    server.enqueue(Reply(status=503), Reply(status=500), Reply(text="third time lucky"))
    recorder = Recorder()
    reply = await complete(gateway(server, llm_max_retries=2), recorder)
    assert reply.text == recorder.text == "third time lucky"
    assert len(server.requests) == 3


async def test_unreachable_provider_names_the_address() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api_base = f"http://127.0.0.1:{port}/v1"
    llm = LLMGateway(settings(llm_api_base=api_base, llm_max_retries=1), retry_base_delay=0.01)
    with pytest.raises(LLMError) as failure:
        await complete(llm, Recorder())
    assert failure.value.message == f"Could not reach the model provider at {api_base}."


async def test_a_stall_between_chunks_times_out(server: MockLLMServer) -> None:
    server.enqueue(Reply(text="this answer stalls halfway", chunk_chars=5, stall_after_chunks=3))
    recorder = Recorder()
    started = time.monotonic()
    with pytest.raises(LLMError) as failure:
        await complete(gateway(server, llm_idle_timeout_seconds=0.3), recorder)
    assert failure.value.kind == "timeout"
    assert failure.value.message == "The model stopped responding for 0.3 s."
    assert recorder.text == "this answe"  # the role chunk and two text chunks before the stall
    assert time.monotonic() - started < 2
    assert len(server.requests) == 1


async def test_the_whole_answer_is_bounded(server: MockLLMServer) -> None:
    server.enqueue(Reply(text="slow " * 40, chunk_chars=5, delay_per_chunk=0.05))
    with pytest.raises(LLMError) as failure:
        await complete(gateway(server, llm_timeout_seconds=0.4), Recorder())
    assert failure.value.kind == "timeout"
    assert failure.value.message == "The model did not finish within 0.4 s."


async def test_errors_in_the_callers_callback_are_not_model_errors(server: MockLLMServer) -> None:
    def on_text(piece: str) -> None:
        raise RuntimeError("renderer broke")

    with pytest.raises(RuntimeError, match="renderer broke"):
        await gateway(server).complete(MESSAGES, [], on_text, asyncio.Event())
    assert len(server.requests) == 1


async def test_warm_up_never_calls_a_real_provider(server: MockLLMServer) -> None:
    await gateway(server).warm_up()
    assert server.requests == []


_TOKENIZER_PROBE = """
import asyncio, sys
from agent.llm import LLMGateway
from agent.settings import AgentSettings

async def main() -> None:
    settings = AgentSettings(
        _env_file=None, llm_model="openai/mock", llm_api_key="sk-test", llm_api_base=sys.argv[1]
    )
    llm = LLMGateway(settings)
    await llm.warm_up()
    stop = asyncio.Event()
    await llm.complete([{"role": "user", "content": "hello"}], [], lambda text: None, stop)
    loaded = [name for name in sys.modules if name.startswith("tiktoken_ext.")]
    loaded += [name for name in sys.modules if name.endswith("default_encoding")]
    print(sorted(loaded))

asyncio.run(main())
"""


async def test_calls_never_tokenize_the_whole_conversation(server: MockLLMServer) -> None:
    """litellm prices each call by counting the prompt's tokens: the whole thread on every turn,
    with about 60 MB of tokenizer tables. Nobody reads that price, so it is off (fresh process,
    since other tests may load the tokenizer)."""
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _TOKENIZER_PROBE,
        server.base_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    out, err = await probe.communicate()
    assert probe.returncode == 0, err.decode()[-2000:]
    assert out.decode().strip() == "[]"
    assert len(server.requests) == 1  # the answer really streamed from the model


# ── the demo model through the gateway ──────────────────────────────────────────────────────


def demo(tokens_per_second: float = 0) -> LLMGateway:
    return LLMGateway(settings(llm_model="demo", demo_tokens_per_second=tokens_per_second))


async def ask_demo(text: str, llm: LLMGateway | None = None) -> tuple[ModelReply, Recorder]:
    recorder = Recorder()
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": text},
    ]
    reply = await complete(llm or demo(), recorder, messages=messages, tools=TOOLS)
    return reply, recorder


def arguments(reply: ModelReply) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, json.loads(call.arguments)) for call in reply.tool_calls]


async def test_demo_save_a_note_streams_a_reason_and_one_call() -> None:
    reply, recorder = await ask_demo("save a note about water")
    assert len(recorder.pieces) > 3
    assert reply.text == recorder.text
    assert "“Water”" in reply.text
    [(name, args)] = arguments(reply)
    assert name == "save_note"
    assert args["title"] == "Water"
    assert "water" in args["body"]
    assert reply.tool_calls[0].id.startswith("call_")


async def test_demo_two_notes_are_two_parallel_calls() -> None:
    reply, _ = await ask_demo("save notes about tea and coffee")
    assert [(name, args["title"]) for name, args in arguments(reply)] == [
        ("save_note", "Tea"),
        ("save_note", "Coffee"),
    ]
    assert len({call.id for call in reply.tool_calls}) == 2


async def test_demo_asks_when_information_is_missing() -> None:
    reply, _ = await ask_demo("remind me about the meeting")
    assert reply.text == ""
    assert arguments(reply) == [
        ("ask_human", {"question": "When is the meeting, and when should I remind you?"})
    ]


async def test_demo_searches() -> None:
    reply, _ = await ask_demo("what did I save about water?")
    assert arguments(reply) == [("search_notes", {"query": "water"})]


async def test_demo_plain_text_is_markdown_without_calls() -> None:
    reply, recorder = await ask_demo("hi")
    assert reply.tool_calls == ()
    assert reply.text.startswith("Hi!")
    assert "**Save notes**" in reply.text
    assert recorder.text == reply.text


async def test_demo_streams_at_its_pace() -> None:
    started = time.monotonic()
    reply, recorder = await ask_demo("save a note about water", demo(tokens_per_second=400))
    elapsed = time.monotonic() - started
    fragments = (
        len(recorder.pieces) + 1 + len(demo_model.argument_fragments(reply.tool_calls[0].arguments))
    )
    assert elapsed >= fragments / 400 * 0.9


async def test_demo_registration_is_idempotent() -> None:
    demo()
    demo()
    providers = [item["provider"] for item in litellm.custom_provider_map]
    assert providers.count(demo_model.PROVIDER) == 1
    assert litellm.provider_list.count(demo_model.PROVIDER) == 1


async def test_demo_answers_non_streamed_calls_too() -> None:
    demo()
    response = await litellm.acompletion(
        model=demo_model.MODEL,
        messages=[{"role": "user", "content": "save a note about water"}],
        tools=TOOLS,
    )
    message = response.choices[0].message
    assert "“Water”" in message.content
    assert message.tool_calls[0].function.name == "save_note"
    assert json.loads(message.tool_calls[0].function.arguments)["title"] == "Water"


async def test_demo_warm_up() -> None:
    await demo(tokens_per_second=30).warm_up()  # pace is ignored for the warm-up call


async def test_mock_server_answers_non_streamed_calls(server: MockLLMServer) -> None:
    server.enqueue(Reply(text="whole", tool_calls=[("search_notes", {"query": "x"})]))
    response = await litellm.acompletion(
        model="openai/mock",
        api_base=server.base_url,
        api_key="sk-test",
        messages=MESSAGES,
        tools=TOOLS,
        num_retries=0,
    )
    message = response.choices[0].message
    assert message.content == "whole"
    assert message.tool_calls[0].function.name == "search_notes"
