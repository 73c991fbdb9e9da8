"""MessageStreamer against the Slack emulator: what people in the thread see, call by call."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.rate_limits import Budget, SlackRateLimiter, default_budgets
from bot.splitting import MESSAGE_LIMIT, SECTION_LIMIT
from bot.streaming import MessageStreamer, StreamError, StreamerSettings, StreamStateError
from playground.slack import Message, SlackEmulator

CHANNEL = "C0GENERAL"
FAST = StreamerSettings(min_interval=0.05, retry_backoff=0.01, placeholder_after=0.05)


@pytest.fixture
def client(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


def roomy_limiter() -> SlackRateLimiter:
    """Budgets far above what a test uses, so only the behaviour under test shows."""
    return SlackRateLimiter(
        {
            "chat.update": Budget(100.0, burst=100),
            "chat.postMessage": Budget(100.0, burst=100, per_key=True),
        }
    )


async def new_thread(slack: SlackEmulator, channel: str = CHANNEL) -> str:
    message, _ = await slack.user_says("UALICE", channel, "a question", deliver=False)
    return message.ts


async def streamer_in(
    slack: SlackEmulator,
    client: AsyncWebClient,
    *,
    limiter: SlackRateLimiter | None = None,
    settings: StreamerSettings = FAST,
    channel: str = CHANNEL,
) -> tuple[MessageStreamer, str]:
    thread_ts = await new_thread(slack, channel)
    streamer = MessageStreamer(
        client,
        channel=channel,
        thread_ts=thread_ts,
        limiter=limiter or roomy_limiter(),
        settings=settings,
    )
    return streamer, thread_ts


def answers(slack: SlackEmulator, thread_ts: str, channel: str = CHANNEL) -> list[Message]:
    """The bot's messages in the thread, oldest first."""
    return slack.bot_messages(channel, thread_ts)


def contexts(message: Message) -> list[str]:
    return [
        element["text"]
        for block in message.blocks
        if block["type"] == "context"
        for element in block["elements"]
    ]


def sections(message: Message) -> list[str]:
    return [block["text"]["text"] for block in message.blocks if block["type"] == "section"]


def words(count: int, seed: int = 3) -> str:
    """Plain prose (rendering leaves it unchanged), with paragraph and line breaks."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(count):
        out.append(rng.choice(["lorem", "ipsum", "dolor", "sit", "amet", "consectetur"]))
        out.append("\n\n" if i % 97 == 96 else "\n" if i % 23 == 22 else " ")
    return "".join(out)


async def stream(streamer: MessageStreamer, text: str, chunk: int, pause: float = 0.0) -> None:
    for start in range(0, len(text), chunk):
        await streamer.append(text[start : start + chunk])
        await asyncio.sleep(pause)


async def test_a_slow_model_gets_the_status_line_first(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """No words within `placeholder_after`: the thread shows "Thinking…", never an empty
    section."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    assert answers(slack, thread_ts) == []  # nothing yet: the first words may be on their way
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 1, timeout=2)
    [message] = answers(slack, thread_ts)
    assert message.text == "Thinking…"
    assert contexts(message) == ["Thinking…"]
    assert sections(message) == []
    await slack.wait_until(lambda: streamer.ts == message.ts)
    assert streamer.message_ts == (message.ts,)
    await streamer.finish()


async def test_a_quick_model_s_first_words_are_the_first_message(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Words within `placeholder_after`: the first message carries them, no status line first."""
    settings = StreamerSettings(min_interval=0.05, retry_backoff=0.01, placeholder_after=5)
    streamer, thread_ts = await streamer_in(slack, client, settings=settings)
    await streamer.start()
    await asyncio.sleep(0.1)
    await streamer.append("Hello")
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 1, timeout=2)
    await streamer.append(" world")
    await streamer.finish()
    [message] = answers(slack, thread_ts)
    assert message.versions[0]["text"] == "Hello"
    assert message.text == "Hello world"


async def test_first_text_replaces_the_status_without_waiting_for_the_cadence(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """The first tokens show at once even when the cadence is long; later ones wait for it."""
    slow = StreamerSettings(min_interval=30, retry_backoff=0.01, placeholder_after=0.05)
    streamer, thread_ts = await streamer_in(slack, client, settings=slow)
    await streamer.start()
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 1, timeout=2)
    await streamer.append("Hello")
    await slack.wait_until(lambda: answers(slack, thread_ts)[0].text == "Hello", timeout=2)
    await streamer.append(" world")
    await asyncio.sleep(0.2)
    assert answers(slack, thread_ts)[0].text == "Hello"  # coalesced until the next tick
    await streamer.finish()
    [message] = answers(slack, thread_ts)
    assert message.text == "Hello world"
    assert [v["text"] for v in message.versions] == ["Thinking…", "Hello", "Hello world"]


async def test_frames_are_coalesced_and_the_final_text_lands(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Many small deltas become a few edits at the cadence; every version is a prefix."""
    settings = StreamerSettings(min_interval=0.25, retry_backoff=0.01)
    streamer, thread_ts = await streamer_in(slack, client, settings=settings)
    text = words(200)
    loop = asyncio.get_running_loop()
    await streamer.start()
    began = loop.time()
    await stream(streamer, text, chunk=8, pause=0.01)  # about one second of streaming
    elapsed = loop.time() - began
    await streamer.finish()
    [message] = answers(slack, thread_ts)
    assert message.text == text
    updates = slack.calls_to("chat.update")
    # The first text, one edit per 0.25 s tick at most, the final edit.
    assert 3 <= len(updates) <= 2 + int(elapsed / 0.25) + 1
    for version in message.versions[1:]:
        assert text.startswith(version["text"])


async def test_429s_are_honoured_and_the_final_text_is_complete(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Three 429s mid-answer: nothing inside Retry-After, the answer lands whole, once."""
    streamer, thread_ts = await streamer_in(slack, client)
    text = words(150)
    await streamer.start()
    await streamer.append(text[:40])
    await slack.wait_until(lambda: len(slack.calls_to("chat.postMessage")) == 1)
    await streamer.append(text[40:60])
    await slack.wait_until(lambda: len(slack.calls_to("chat.update")) == 1)
    slack.fail_next("chat.update", error="ratelimited", status=429, retry_after=1, times=3)
    await stream(streamer, text[60:], chunk=20, pause=0.01)
    await streamer.finish()

    assert slack.calls_inside_retry_after == 0
    updates = slack.calls_to("chat.update")
    assert sum(call.status == 429 for call in updates) == 3
    for before, after in itertools.pairwise(updates):
        if before.status == 429:
            assert after.at - before.at >= 1.0
    [message] = answers(slack, thread_ts)
    assert message.text == text
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_rate_limited_error_code_without_429_is_honoured_too(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """`rate_limited` with HTTP 200 is a rate limit as well; the final edit still lands."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    slack.fail_next("chat.update", error="rate_limited", status=200)
    await streamer.append("final words")
    await streamer.finish()
    assert answers(slack, thread_ts)[0].text == "final words"


async def test_long_answer_continues_in_new_messages_each_piece_once(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A 15,000-character answer fills several messages, in order, within Slack's limits."""
    streamer, thread_ts = await streamer_in(slack, client)
    text = words(2600)[:15_000]
    await streamer.start()
    await stream(streamer, text, chunk=150, pause=0.002)
    await streamer.finish()

    messages = answers(slack, thread_ts)
    assert len(messages) >= 5
    assert [m.ts for m in messages] == list(streamer.message_ts)
    assert "".join(m.text for m in messages) == text
    for message in messages:
        assert len(message.text) <= MESSAGE_LIMIT
        assert all(len(section) <= SECTION_LIMIT for section in sections(message))
        assert "\n".join(sections(message)).replace("\n", "") == message.text.replace("\n", "")
    assert all(call.error is None for call in slack.calls)


async def test_long_code_block_is_reopened_in_the_next_message(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A code block cut between messages is closed in one and reopened in the next."""
    streamer, thread_ts = await streamer_in(slack, client)
    code = "\n".join(f"value_{i} = compute({i})" for i in range(400))
    await streamer.start()
    await stream(streamer, f"Here:\n```python\n{code}\n```\nDone.", chunk=500)
    await streamer.finish()
    messages = answers(slack, thread_ts)
    assert len(messages) >= 3
    for message in messages:
        assert message.text.count("```") % 2 == 0
    body = "".join(m.text for m in messages).replace("``````\n", "")
    assert body == f"Here:\n```\n{code}\n```\nDone."


async def test_hostile_mentions_are_neutralised(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Model text cannot ping anyone or relabel a link; edits send parse=none, no link_names."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await streamer.append("Hey <!here> and <!channel>, <@U123> <!subteam^S1> <#C1> @everyone ")
    await streamer.append("[docs](https://example.com) <http://evil.example|your bank>")
    streamer.set_status("<!here> searching")
    await streamer.finish(footer="<!channel> done")
    [message] = answers(slack, thread_ts)
    every_text = message.text + " ".join(contexts(message)) + " ".join(sections(message))
    assert re.findall(r"<[^>]*>", every_text.replace("&lt;", "").replace("&gt;", "")) == [
        "<https://example.com|docs>",
        "<https://example.com|docs>",
    ]
    assert "@everyone" not in every_text
    assert "&lt;!here&gt;" in message.text
    for call in slack.calls_to("chat.update"):
        assert call.params.get("parse") == "none"
    for call in slack.calls:
        assert "link_names" not in call.params


async def test_status_line_appears_and_disappears(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A progress line shows under the text while streaming and is gone after finish()."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await streamer.append("Let me look.")
    streamer.set_status("Searching notes…")
    await slack.wait_until(lambda: contexts(answers(slack, thread_ts)[0]) == ["Searching notes…"])
    assert sections(answers(slack, thread_ts)[0]) == ["Let me look."]
    streamer.set_status(None)
    await slack.wait_until(lambda: contexts(answers(slack, thread_ts)[0]) == [])
    streamer.set_status("Waiting for approval…")
    await streamer.finish()
    [message] = answers(slack, thread_ts)
    assert contexts(message) == []
    assert message.text == "Let me look."


async def test_status_before_any_text_replaces_the_placeholder(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """With no text yet, the progress line takes the placeholder's place."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    streamer.set_status("Searching notes…")
    await slack.wait_until(lambda: answers(slack, thread_ts)[0].text == "Searching notes…")
    await streamer.append("Found it.")
    await streamer.finish()
    assert answers(slack, thread_ts)[0].text == "Found it."


async def test_actions_ride_on_the_last_message_and_go_at_the_end(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A Stop button shows under the streaming message and is removed by finish()."""
    streamer, thread_ts = await streamer_in(slack, client)
    stop = {
        "type": "actions",
        "block_id": "stop",
        "elements": [
            {
                "type": "button",
                "action_id": "stop_run",
                "text": {"type": "plain_text", "text": "Stop"},
                "value": "run-1",
            }
        ],
    }
    await streamer.start()
    streamer.set_actions([stop])
    await slack.wait_until(lambda: bool(answers(slack, thread_ts)[0].buttons()))
    await streamer.append(words(900))  # long enough for a second message
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 2)
    await slack.wait_until(lambda: bool(answers(slack, thread_ts)[-1].buttons()))
    assert answers(slack, thread_ts)[0].buttons() == []
    await streamer.finish(footer="Stopped.")
    messages = answers(slack, thread_ts)
    assert all(m.buttons() == [] for m in messages)
    assert contexts(messages[-1]) == ["Stopped."]


async def test_fail_without_text_turns_the_status_into_the_error_line(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """If the model fails before writing, the status message itself says what went wrong."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await streamer.fail("The model failed: timeout", reference="abc123")
    [message] = answers(slack, thread_ts)
    assert message.text == "⚠️ The model failed: timeout (ref abc123)"
    assert sections(message) == [message.text]
    assert streamer.state == "failed"


async def test_fail_after_text_keeps_the_text_and_adds_a_footer(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Text already shown stays; the error is a footer line under it."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await streamer.append("Partial answer")
    await streamer.fail("The model failed", reference="r1")
    [message] = answers(slack, thread_ts)
    assert message.text == "Partial answer"
    assert contexts(message) == ["⚠️ The model failed (ref r1)"]


async def test_empty_answer_does_not_leave_thinking_behind(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Finishing with no text replaces the status with a visible line."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await streamer.finish()
    assert answers(slack, thread_ts)[0].text == "(no answer)"


async def test_state_machine_refuses_out_of_order_calls(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """append() before start() or after finish() raises; so does a second finish()."""
    streamer, _ = await streamer_in(slack, client)
    assert streamer.state == "idle"
    assert streamer.ts is None
    with pytest.raises(StreamStateError):
        await streamer.append("early")
    await streamer.start()
    assert streamer.state == "streaming"
    with pytest.raises(StreamStateError):
        await streamer.start()
    await streamer.finish()
    assert streamer.state == "finished"
    with pytest.raises(StreamStateError, match="finished"):
        await streamer.append("late")
    with pytest.raises(StreamStateError):
        await streamer.finish()


async def test_transient_errors_retry_on_the_same_message(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """5xx on an edit is retried on that message; nothing is re-posted."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await streamer.append("first")
    await slack.wait_until(lambda: answers(slack, thread_ts)[0].text == "first")
    slack.fail_next("chat.update", error="internal_error", status=500, times=2)
    await streamer.append(" second")
    await streamer.finish()
    [message] = answers(slack, thread_ts)
    assert message.text == "first second"
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_failed_continuation_post_is_retried_once_not_doubled(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A 5xx on a continuation post: checked against the thread, posted once, text whole."""
    streamer, thread_ts = await streamer_in(slack, client)
    text = words(1500)
    await streamer.start()
    await streamer.append(text[:100])
    await slack.wait_until(lambda: answers(slack, thread_ts)[0].text == text[:100])
    slack.fail_next("chat.postMessage", error="service_unavailable", status=503)
    await streamer.append(text[100:])
    await streamer.finish()
    messages = answers(slack, thread_ts)
    assert "".join(m.text for m in messages) == text
    assert len(messages) == len(slack.calls_to("chat.postMessage")) - 1
    assert slack.calls_to("conversations.replies")


class DroppingClient(AsyncWebClient):
    """Slack makes the 2nd post but the connection drops before the answer arrives.

    conversations.replies gets the metadata Slack returns with include_all_metadata, which
    the emulator stores but does not send back.
    """

    def __init__(self, slack: SlackEmulator) -> None:
        super().__init__(token=slack.bot_token, base_url=slack.api_url)
        self.slack = slack
        self.posts = 0

    async def chat_postMessage(self, **kwargs: Any) -> Any:  # type: ignore[override]
        response = await super().chat_postMessage(**kwargs)
        self.posts += 1
        if self.posts == 2:
            raise aiohttp.ServerDisconnectedError()
        return response

    async def conversations_replies(self, **kwargs: Any) -> Any:  # type: ignore[override]
        response = await super().conversations_replies(**kwargs)
        for found in response["messages"]:
            metadata = self.slack.message(kwargs["channel"], found["ts"]).metadata
            if metadata:
                found["metadata"] = metadata
        return response


async def test_a_post_that_landed_despite_an_error_is_adopted_not_doubled(
    slack: SlackEmulator,
) -> None:
    """A dropped connection after Slack posted: the streamer finds that post and owns it."""
    client = DroppingClient(slack)
    streamer, thread_ts = await streamer_in(slack, client)
    text = words(1500)
    await streamer.start()
    await streamer.append(text)
    await streamer.finish()
    messages = answers(slack, thread_ts)
    assert "".join(m.text for m in messages) == text
    assert len(slack.calls_to("chat.postMessage")) == len(messages)
    assert [m.ts for m in messages] == list(streamer.message_ts)
    assert len(slack.calls_to("conversations.replies")) == 1


async def test_permanent_errors_surface_from_finish(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """An error Slack will repeat forever is raised, not retried."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await streamer.append("text")
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 1)
    slack.fail_next("chat.update", error="cant_update_message", status=200, times=5)
    await streamer.append(" and more")
    with pytest.raises(StreamError, match="cant_update_message"):
        await streamer.finish()
    assert streamer.state == "failed"
    assert len(slack.calls_to("chat.update")) <= 2


async def test_a_rewritten_final_text_replaces_the_streamed_one(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """If the final text is not a continuation, the messages are rewritten, extras deleted."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await streamer.append(words(1500))
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) >= 2)
    await streamer.finish(final_text="Short and final.")
    [message] = answers(slack, thread_ts)
    assert message.text == "Short and final."


async def test_every_update_uses_fresh_block_ids(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Slack asks for new block_ids whenever a message is updated."""
    streamer, thread_ts = await streamer_in(slack, client)
    await streamer.start()
    await stream(streamer, words(120), chunk=30, pause=0.03)
    await streamer.finish()
    [message] = answers(slack, thread_ts)
    ids = [block["block_id"] for version in message.versions for block in version["blocks"]]
    assert len(ids) == len(set(ids)) > 3


async def test_cadence_widens_when_many_answers_share_the_budget(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """With nine other answers streaming, one answer edits about a tenth as often."""
    limiter = SlackRateLimiter({"chat.update": Budget(20.0, burst=20)})
    for _ in range(9):
        limiter.register_stream()
    streamer, _thread_ts = await streamer_in(slack, client, limiter=limiter)
    loop = asyncio.get_running_loop()
    await streamer.start()
    began = loop.time()
    await stream(streamer, words(100), chunk=50, pause=0.02)  # about 0.25 s of frames
    elapsed = loop.time() - began
    await streamer.finish()
    # 10 streams / 20 per second = 0.5 s apart, where alone it would edit every 0.05 s: the
    # first text, an edit per 0.5 s at most, the final edit.
    assert len(slack.calls_to("chat.update")) <= 2 + int(elapsed / 0.5)


async def test_thirty_concurrent_answers_get_no_429() -> None:
    """Thirty answers streaming at once share the workspace budget without a single 429; each
    lands whole and exact, in as many messages as the edit budget made it take, with no Stop
    button or status line left on any of them.

    Slack's numbers are scaled 24x so the test is quick: the emulator enforces chat.update at
    1,200/min (burst 8) and our limiter keeps the default's margin on the rate, 1,080/min.
    The burst gets a margin too (6, not 8): on a loaded machine requests sent apart can
    arrive bunched, and a bucket that is exactly as deep as Slack's has no room for that.
    """
    budgets = default_budgets()
    budgets["chat.update"] = Budget(1080 / 60, burst=6)
    limiter = SlackRateLimiter(budgets)

    async with SlackEmulator(enforce_rate_limits=True) as slack:
        slack.limiter.set_limit("chat.update", per_minute=1200, burst=8)
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)

        async def one_answer(n: int) -> tuple[str, str, str]:
            channel = f"C{n:04d}"
            slack.add_channel(channel, f"room-{n}")
            streamer, thread_ts = await streamer_in(slack, client, limiter=limiter, channel=channel)
            text = f"Answer {n}: " + words(30, seed=n)
            await streamer.start()
            streamer.set_actions(STOP_ACTIONS)
            await stream(streamer, text, chunk=25, pause=0.05)
            await streamer.finish()
            return channel, thread_ts, text

        results = await asyncio.wait_for(
            asyncio.gather(*(one_answer(n) for n in range(30))), timeout=15
        )
        assert [c for c in slack.calls if c.status == 429] == []
        assert slack.calls_inside_retry_after == 0
        for channel, thread_ts, text in results:
            messages = answers(slack, thread_ts, channel)
            assert "".join(message.text for message in messages) == text
            assert messages[0].versions[0]["text"].startswith("Answer")  # no empty placeholder
            assert all(message.buttons() == [] for message in messages)
        assert limiter.active_streams == 0


STOP_ACTIONS: list[dict[str, Any]] = [
    {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "stop_run",
                "text": {"type": "plain_text", "text": "Stop"},
                "value": "1",
            }
        ],
    }
]


def saturated_limiter() -> SlackRateLimiter:
    """Posts are free, edits are scarce: what a busy workspace looks like to one answer."""
    return SlackRateLimiter(
        {
            "chat.update": Budget(0.2, burst=1),
            "chat.postMessage": Budget(100.0, burst=100, per_key=True),
        }
    )


async def test_first_words_after_a_status_line_do_not_wait_for_an_edit(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """The edit budget is spent: the first words are posted, and the status line is deleted."""
    limiter = saturated_limiter()
    await limiter.acquire("chat.update")  # someone else's edit took the only slot
    streamer, thread_ts = await streamer_in(slack, client, limiter=limiter)
    await streamer.start()
    streamer.set_actions(STOP_ACTIONS)
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 1)
    status_ts = answers(slack, thread_ts)[0].ts
    loop = asyncio.get_running_loop()
    began = loop.time()
    await streamer.append("First words")
    await slack.wait_until(lambda: any(m.text == "First words" for m in answers(slack, thread_ts)))
    assert loop.time() - began < 1.0
    assert slack.calls_to("chat.update") == []
    await streamer.finish()
    [message] = answers(slack, thread_ts)
    assert message.text == "First words" and message.ts != status_ts
    assert message.buttons() == []


async def test_text_goes_on_in_a_new_message_when_edits_would_wait(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """With no edit budget, new text waits at most `part_after`, then it is posted as the next
    part; every piece once, in order, and only the end removes the Stop button."""
    settings = StreamerSettings(
        min_interval=0.05, retry_backoff=0.01, placeholder_after=0.05, part_after=0.3
    )
    limiter = saturated_limiter()
    streamer, thread_ts = await streamer_in(slack, client, limiter=limiter, settings=settings)
    await streamer.start()
    streamer.set_actions(STOP_ACTIONS)
    await streamer.append("One. ")
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 1)
    await limiter.acquire("chat.update")  # the budget is gone for five seconds
    await streamer.append("Two. ")
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 2, timeout=2)
    await streamer.append("Three.")
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 3, timeout=2)
    first, second, third = answers(slack, thread_ts)
    assert [first.text, second.text, third.text] == ["One. ", "Two. ", "Three."]
    assert first.buttons() and not second.buttons()  # Stop stays put until the end
    await streamer.finish()
    messages = answers(slack, thread_ts)
    assert "".join(m.text for m in messages) == "One. Two. Three."
    assert all(m.buttons() == [] for m in messages)
    assert len(slack.calls_to("chat.postMessage")) == 3


async def test_at_the_end_the_rest_is_posted_when_no_edit_comes_soon(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """The model finished, and the edit budget has no slot within `final_edit_wait`: the rest
    of the text goes out as a new message at once (the answer is complete), and the Stop
    button leaves the first message afterwards."""
    settings = StreamerSettings(
        min_interval=0.05, retry_backoff=0.01, placeholder_after=0.05, final_edit_wait=0.2
    )
    limiter = saturated_limiter()
    streamer, thread_ts = await streamer_in(slack, client, limiter=limiter, settings=settings)
    await streamer.start()
    streamer.set_actions(STOP_ACTIONS)
    await streamer.append("The first words, ")
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 1)
    await limiter.acquire("chat.update")  # the next slot is five seconds away
    await streamer.append("and the rest.")
    loop = asyncio.get_running_loop()
    began = loop.time()
    finishing = asyncio.create_task(streamer.finish())
    await slack.wait_until(lambda: len(answers(slack, thread_ts)) == 2, timeout=2)
    assert loop.time() - began < 1.0
    first, rest = answers(slack, thread_ts)
    assert (first.text, rest.text) == ("The first words, ", "and the rest.")
    assert first.buttons() and not rest.buttons()
    await finishing
    assert all(m.buttons() == [] for m in answers(slack, thread_ts))


def test_settings_are_frozen() -> None:
    """Settings are values: a streamer cannot change another's."""
    settings: Any = StreamerSettings()
    with pytest.raises(AttributeError):
        settings.min_interval = 0
