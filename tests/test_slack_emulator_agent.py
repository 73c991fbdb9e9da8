"""The emulator's agent surface (App Home, feedback buttons, native streams, assistant threads,
agent sessions) through the real slack_sdk client and real Bolt."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.models.blocks import (
    ContextActionsBlock,
    FeedbackButtonObject,
    FeedbackButtonsElement,
    IconButtonElement,
)
from slack_sdk.web.async_client import AsyncWebClient

from playground.slack import SlackEmulator
from tests.fake_clock import FakeClock
from tests.recording_endpoint import Recorder, serve
from tests.test_slack_emulator import actions, api_error, button, section

pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")


@pytest.fixture
def client(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


def delivered(recorder: Recorder, index: int = -1) -> dict[str, Any]:
    """A recorded delivery decoded: the event envelope, or an interaction's payload."""
    body = recorder.requests[index][1].decode()
    if body.startswith("payload="):
        decoded: dict[str, Any] = json.loads(parse_qs(body)["payload"][0])
        return decoded
    envelope: dict[str, Any] = json.loads(body)
    return envelope


def home(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "home", "blocks": list(blocks)}


def feedback_block(**positive: Any) -> dict[str, Any]:
    """Thumbs up / down built with slack_sdk's own models, as a bot would build them."""
    block = ContextActionsBlock(
        block_id="fb",
        elements=[
            FeedbackButtonsElement(
                action_id="answer_feedback",
                positive_button=FeedbackButtonObject(
                    text="Good", value="good", accessibility_label="Good answer", **positive
                ),
                negative_button=FeedbackButtonObject(text="Bad", value="bad"),
            )
        ],
    )
    as_dict: dict[str, Any] = block.to_dict()
    return as_dict


# ---- App Home --------------------------------------------------------------------------------


async def test_views_publish_keeps_one_home_view_per_person(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """The first publish makes the view, later ones keep its id with a new hash."""
    assert slack.home_view("UALICE") is None
    first = await client.views_publish(user_id="UALICE", view=home(section("Hello")))
    view = first["view"]
    assert (view["type"], view["id"][:1], view["blocks"]) == ("home", "V", [section("Hello")])
    second = await client.views_publish(
        user_id="UALICE", view=home(section("Again")), hash=view["hash"]
    )
    assert second["view"]["id"] == view["id"]
    assert second["view"]["hash"] != view["hash"]
    assert slack.home_view("UALICE") == second["view"]
    assert (slack.home_publishes("UALICE"), slack.home_publishes("UBOB")) == (2, 0)

    stale = await api_error(
        client.views_publish(user_id="UALICE", view=home(section("x")), hash=view["hash"])
    )
    assert stale.response["error"] == "hash_conflict"
    unknown = await api_error(client.views_publish(user_id="UNOBODY", view=home(section("x"))))
    assert unknown.response["error"] == "user_not_found"
    too_many = home(*[section(str(i)) for i in range(101)])
    error = await api_error(client.views_publish(user_id="UBOB", view=too_many))
    assert error.response["error"] == "invalid_arguments"
    modal = {**home(section("x")), "type": "modal", "title": {"type": "plain_text", "text": "t"}}
    error = await api_error(client.views_publish(user_id="UBOB", view=modal))
    assert error.response["error"] == "invalid_arguments"
    assert slack.home_publishes("UBOB") == 0
    assert slack.home_view("UALICE") == second["view"]


async def test_open_home_delivers_app_home_opened_with_the_dm(
    recorder: Recorder, slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """The event names the person's DM with the bot (made if missing) and the current view."""
    assert (await slack.open_home("UCAROL")).status == 200
    event = delivered(recorder)["event"]
    carol_dm = event["channel"]
    assert slack.workspace.channels[carol_dm].members == ["UCAROL", "UBOT"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", "UCAROL", "home")
    assert "view" not in event  # nothing published yet
    assert event["event_ts"]

    published = await client.views_publish(user_id="UCAROL", view=home(section("Hi")))
    await slack.open_home("UCAROL")
    event = delivered(recorder)["event"]
    assert event["channel"] == carol_dm
    assert event["view"] == published["view"]
    await slack.open_home("UALICE", tab="messages")
    event = delivered(recorder)["event"]
    assert (event["channel"], event["tab"]) == ("D0ALICE", "messages")
    assert "view" not in event


async def test_click_home_sends_the_view_and_no_channel(
    recorder: Recorder, slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A Home tab click carries the view as container, without channel, message or response_url."""
    blocks = [
        section("Pending approvals"),
        actions(button("open", "Open", value="r-1"), button("open2", "Open", value="r-2")),
        actions(button("open", "Open", value="r-3"), block_id="more"),
    ]
    view = (await client.views_publish(user_id="UBOB", view=home(*blocks)))["view"]
    assert (await slack.click_home("UBOB", "open", value="r-3")).status == 200
    payload = delivered(recorder)
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "UBOB", "username": "bob", "name": "bob", "team_id": "T0001"}
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["view"] == view
    assert payload["trigger_id"] in slack.workspace.triggers
    assert {"channel", "message", "response_url"}.isdisjoint(payload)
    action = payload["actions"][0]
    assert (action["type"], action["action_id"], action["value"], action["block_id"]) == (
        "button",
        "open",
        "r-3",
        "more",
    )
    assert action["text"] == {"type": "plain_text", "text": "Open"}
    await slack.click_home("UBOB", "open")
    assert delivered(recorder)["actions"][0]["value"] == "r-1"
    with pytest.raises(AssertionError, match="no button open='r-9'"):
        await slack.click_home("UBOB", "open", value="r-9")
    with pytest.raises(AssertionError, match="never published"):
        await slack.click_home("UALICE", "open")


async def test_home_tab_with_real_bolt(slack: SlackEmulator) -> None:
    """Bolt publishes a Home tab on app_home_opened and republishes it on a Home click."""
    app = AsyncApp(
        client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url),
        signing_secret=slack.signing_secret,
    )

    async def show(client: AsyncWebClient, user: str, text: str) -> None:
        await client.views_publish(
            user_id=user, view=home(section(text), actions(button("refresh", "Refresh")))
        )

    @app.event("app_home_opened")
    async def opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        await show(client, event["user"], f"Hello, opened in {event['channel']}")

    @app.action("refresh")
    async def refresh(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await show(client, body["user"]["id"], f"Refreshed {body['view']['id']}")

    runner, url = await serve(app.web_app(path="/slack/events"))
    try:
        slack.deliver_to(f"{url}/slack/events")
        assert (await slack.open_home("UALICE")).status == 200
        await slack.wait_until(lambda: slack.home_publishes("UALICE") == 1)
        view = slack.home_view("UALICE")
        assert view is not None and view["blocks"][0] == section("Hello, opened in D0ALICE")
        assert (await slack.click_home("UALICE", "refresh")).status == 200
        await slack.wait_until(lambda: slack.home_publishes("UALICE") == 2)
        again = slack.home_view("UALICE")
        assert again is not None and again["blocks"][0] == section(f"Refreshed {view['id']}")
    finally:
        await runner.cleanup()


# ---- feedback buttons ------------------------------------------------------------------------


async def test_feedback_buttons_from_slack_sdk_models_are_accepted(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """context_actions with feedback_buttons (and icon_button) pass; they add no text."""
    icon = IconButtonElement(action_id="drop", icon="trash", text="Delete", value="x").to_dict()
    blocks = [section("The answer"), feedback_block()]
    blocks[1]["elements"].append(icon)
    posted = await client.chat_postMessage(channel="C0GENERAL", text="The answer", blocks=blocks)
    message = slack.message("C0GENERAL", posted["ts"])
    assert message.blocks == blocks
    assert message.visible_text() == "The answer"
    home_view = home(section("Home"), feedback_block())
    assert (await client.views_publish(user_id="UALICE", view=home_view))["ok"]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (lambda fb: fb["positive_button"].pop("value"), "positive_button/value"),
        (lambda fb: fb["negative_button"]["text"].update(text="n" * 76), "negative_button/text"),
        (lambda fb: fb["positive_button"]["text"].update(type="mrkdwn"), "positive_button/text"),
        (lambda fb: fb["positive_button"].update(value="v" * 2001), "positive_button/value"),
        (lambda fb: fb.pop("negative_button"), "negative_button"),
        (lambda fb: fb.pop("action_id"), "action_id"),
        (lambda fb: fb.update(type="button"), "elements/0"),
    ],
)
async def test_malformed_feedback_buttons_are_invalid_blocks(
    client: AsyncWebClient, change: Any, pointer: str
) -> None:
    """Each broken part of a feedback_buttons element is reported with its JSON pointer."""
    block = feedback_block()
    change(block["elements"][0])
    error = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=[block]))
    assert error.response["error"] == "invalid_blocks"
    assert pointer in " ".join(error.response["errors"])


async def test_context_actions_holds_at_most_five_elements(client: AsyncWebClient) -> None:
    block = feedback_block()
    element = block["elements"][0]
    block["elements"] = [{**element, "action_id": f"fb{i}"} for i in range(6)]
    error = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=[block]))
    assert error.response["error"] == "invalid_blocks"
    block["elements"] = block["elements"][:5]
    await client.chat_postMessage(channel="C0GENERAL", text="x", blocks=[block])


async def test_click_feedback_sends_the_chosen_value(
    recorder: Recorder, slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A thumbs click is a message block_actions whose action is of type feedback_buttons."""
    posted = await client.chat_postMessage(
        channel="C0GENERAL", text="answer", blocks=[section("answer"), feedback_block()]
    )
    ts = posted["ts"]
    assert (await slack.click_feedback("UALICE", "C0GENERAL", ts, positive=True)).status == 200
    payload = delivered(recorder)
    assert payload["type"] == "block_actions"
    assert payload["channel"]["id"] == "C0GENERAL"
    assert payload["container"]["type"] == "message"
    assert payload["container"]["message_ts"] == ts
    assert payload["message"]["ts"] == ts
    assert payload["response_url"].startswith(slack.url)
    action = payload["actions"][0]
    assert {k: action[k] for k in ("type", "action_id", "block_id", "value")} == {
        "type": "feedback_buttons",
        "action_id": "answer_feedback",
        "block_id": "fb",
        "value": "good",
    }
    assert action["action_ts"]
    await slack.click_feedback("UALICE", "C0GENERAL", ts, positive=False)
    assert delivered(recorder)["actions"][0]["value"] == "bad"

    plain = await client.chat_postMessage(channel="C0GENERAL", text="no thumbs")
    with pytest.raises(AssertionError, match="no feedback buttons"):
        await slack.click_feedback("UALICE", "C0GENERAL", plain["ts"], positive=True)


# ---- native streaming ------------------------------------------------------------------------


async def question(slack: SlackEmulator, channel: str = "D0ALICE") -> str:
    """A person's message to answer in its thread; returns its ts."""
    message, _ = await slack.user_says("UALICE", channel, "question?", deliver=False)
    return message.ts


def md(text: str) -> dict[str, str]:
    return {"type": "markdown_text", "text": text}


async def test_stream_grows_in_the_thread_and_ends_with_blocks(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Each start/append/stop that adds text is a version; stop adds blocks under the text."""
    changes: list[int] = []
    slack.on_change(lambda: changes.append(1))
    asked = await question(slack)
    started = await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="He")
    ts = started["ts"]
    assert started["channel"] == "D0ALICE"
    assert slack.is_streaming("D0ALICE", ts)
    await client.chat_appendStream(channel="D0ALICE", ts=ts, markdown_text="llo")
    assert [m.ts for m in slack.bot_messages("D0ALICE", asked)] == [ts]
    assert slack.message("D0ALICE", ts).visible_text() == "Hello"
    metadata = {"event_type": "answer", "event_payload": {"run": "r1"}}
    stopped = await client.chat_stopStream(
        channel="D0ALICE",
        ts=ts,
        markdown_text="!",
        blocks=[feedback_block()],
        metadata=metadata,
        session_status="active",
    )
    assert stopped["message"]["text"] == "Hello!"
    assert not slack.is_streaming("D0ALICE", ts)

    message = slack.message("D0ALICE", ts)
    assert [m.ts for m in slack.thread("D0ALICE", asked)] == [asked, ts]
    assert [v["text"] for v in message.versions] == ["He", "Hello", "Hello!"]
    assert message.versions[-1]["blocks"] == message.blocks == [feedback_block()]
    assert message.visible_text() == "Hello!"
    assert not message.edited_ts
    assert message.metadata == metadata
    assert slack.session("D0ALICE", asked) == {
        "status": "active",
        "title": None,
        "history": ["active"],
    }
    replies = await client.conversations_replies(channel="D0ALICE", ts=asked)
    assert replies["messages"][1]["text"] == "Hello!"
    assert "edited" not in replies["messages"][1]
    assert len(changes) >= 4  # every call redraws the playground page

    for late in (
        client.chat_appendStream(channel="D0ALICE", ts=ts, markdown_text="more"),
        client.chat_stopStream(channel="D0ALICE", ts=ts),
    ):
        assert (await api_error(late)).response["error"] == "message_not_in_streaming_state"
    await client.chat_update(channel="D0ALICE", ts=ts, text="Hello, edited")
    assert slack.message("D0ALICE", ts).visible_text() == "Hello, edited"


async def test_chat_stream_helper_streams_in_a_channel_with_chunks(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """slack_sdk's chat_stream() helper (chunks mode, buffered) works end to end."""
    asked = await question(slack, "C0GENERAL")
    streamer = await client.chat_stream(
        channel="C0GENERAL",
        thread_ts=asked,
        recipient_user_id="UALICE",
        recipient_team_id="T0001",
        buffer_size=5,
    )
    await streamer.append(markdown_text="Hi")  # buffered, nothing sent yet
    assert slack.calls_to("chat.startStream") == []
    await streamer.append(markdown_text=" there")
    await streamer.append(markdown_text=", Alice")
    await streamer.append(
        chunks=[{"type": "task_update", "id": "t1", "title": "Look", "status": "complete"}]
    )
    await streamer.stop(markdown_text=".")
    assert streamer.ts is not None
    message = slack.message("C0GENERAL", streamer.ts)
    assert message.text == "Hi there, Alice."
    assert [v["text"] for v in message.versions] == [
        "Hi there",
        "Hi there, Alice",
        "Hi there, Alice.",
    ]
    assert [c.method for c in slack.calls] == [
        "chat.startStream",
        "chat.appendStream",
        "chat.appendStream",
        "chat.stopStream",
    ]
    assert "chunks" in slack.calls[0].params


async def test_stream_modes_may_not_be_mixed(slack: SlackEmulator, client: AsyncWebClient) -> None:
    asked = await question(slack)
    by_text = await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="a")
    error = await api_error(
        client.chat_appendStream(channel="D0ALICE", ts=by_text["ts"], chunks=[md("b")])
    )
    assert error.response["error"] == "streaming_mode_mismatch"
    by_chunks = await client.chat_startStream(channel="D0ALICE", thread_ts=asked, chunks=[md("a")])
    error = await api_error(
        client.chat_stopStream(channel="D0ALICE", ts=by_chunks["ts"], markdown_text="b")
    )
    assert error.response["error"] == "streaming_mode_mismatch"
    error = await api_error(
        client.chat_appendStream(
            channel="D0ALICE", ts=by_chunks["ts"], chunks=[md("b")], markdown_text="b"
        )
    )
    assert error.response["error"] == "cannot_provide_both_markdown_text_and_chunks"
    error = await api_error(
        client.chat_startStream(
            channel="D0ALICE", thread_ts=asked, chunks=[md("a")], markdown_text="a"
        )
    )
    assert error.response["error"] == "cannot_provide_both_markdown_text_and_chunks"
    await client.chat_appendStream(channel="D0ALICE", ts=by_chunks["ts"], chunks=[md("b")])
    assert slack.message("D0ALICE", by_chunks["ts"]).text == "ab"
    assert slack.message("D0ALICE", by_text["ts"]).text == "a"


async def test_channel_streams_need_a_recipient(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Outside a DM only the recipient sees a stream grow, so Slack wants to know who it is."""
    asked = await question(slack, "C0GENERAL")
    error = await api_error(
        client.chat_startStream(channel="C0GENERAL", thread_ts=asked, markdown_text="x")
    )
    assert error.response["error"] == "missing_recipient_user_id"
    error = await api_error(
        client.chat_startStream(
            channel="C0GENERAL", thread_ts=asked, markdown_text="x", recipient_user_id="UALICE"
        )
    )
    assert error.response["error"] == "missing_recipient_team_id"
    assert slack.bot_messages("C0GENERAL") == []
    await client.chat_startStream(
        channel="C0GENERAL",
        thread_ts=asked,
        markdown_text="x",
        recipient_user_id="UALICE",
        recipient_team_id="T0001",
    )
    dm_question = await question(slack)
    await client.chat_startStream(channel="D0ALICE", thread_ts=dm_question, markdown_text="x")
    assert len(slack.bot_messages("C0GENERAL")) == len(slack.bot_messages("D0ALICE")) == 1


async def test_a_stream_holds_at_most_12000_characters(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    asked = await question(slack)
    error = await api_error(
        client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="x" * 12_001)
    )
    assert error.response["error"] == "msg_too_long"
    ts = (
        await client.chat_startStream(
            channel="D0ALICE", thread_ts=asked, markdown_text="x" * 11_990
        )
    )["ts"]
    error = await api_error(
        client.chat_appendStream(channel="D0ALICE", ts=ts, markdown_text="y" * 11)
    )
    assert error.response["error"] == "msg_too_long"
    await client.chat_appendStream(channel="D0ALICE", ts=ts, markdown_text="y" * 10)
    error = await api_error(client.chat_stopStream(channel="D0ALICE", ts=ts, markdown_text="z"))
    assert error.response["error"] == "msg_too_long"
    assert len(slack.message("D0ALICE", ts).text) == 12_000


async def test_streams_expire_and_then_chat_update_takes_over() -> None:
    """After stream_lifetime the message keeps its text, the stream calls fail, edits work."""
    clock = FakeClock()
    async with SlackEmulator(clock=clock) as slack:
        client = slack.bot_client()
        assert slack.stream_lifetime == 300
        slack.stream_lifetime = 10
        asked = await question(slack)
        ts = (
            await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="part")
        )["ts"]
        clock.advance(9)
        await client.chat_appendStream(channel="D0ALICE", ts=ts, markdown_text="ial")
        error = await api_error(client.chat_update(channel="D0ALICE", ts=ts, text="edit"))
        assert error.response["error"] == "streaming_state_conflict"
        assert slack.is_streaming("D0ALICE", ts)
        clock.advance(1)  # appends did not extend the lifetime
        assert not slack.is_streaming("D0ALICE", ts)
        for late in (
            client.chat_appendStream(channel="D0ALICE", ts=ts, markdown_text="!"),
            client.chat_stopStream(channel="D0ALICE", ts=ts, markdown_text="!"),
        ):
            assert (await api_error(late)).response["error"] == "message_not_in_streaming_state"
        assert slack.message("D0ALICE", ts).text == "partial"
        await client.chat_update(channel="D0ALICE", ts=ts, text="partial, then finished")
        message = slack.message("D0ALICE", ts)
        assert message.visible_text() == "partial, then finished"
        assert message.edited_ts is not None
        assert [v["at"] for v in message.versions] == [1000.0, 1009.0, 1010.0]


async def test_stop_session_stops_the_threads_streams_and_tells_the_bot(
    recorder: Recorder, slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Slack's Stop button ends every live stream in the thread and sends agent_session_stopped."""
    asked, other = await question(slack), await question(slack)
    done = (await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="a"))[
        "ts"
    ]
    await client.chat_stopStream(channel="D0ALICE", ts=done)
    first = (await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="b"))[
        "ts"
    ]
    second = (await client.chat_startStream(channel="D0ALICE", thread_ts=asked, chunks=[md("c")]))[
        "ts"
    ]
    elsewhere = (
        await client.chat_startStream(channel="D0ALICE", thread_ts=other, markdown_text="d")
    )["ts"]

    assert (await slack.stop_session("UALICE", "D0ALICE", asked)).status == 200
    envelope = delivered(recorder)
    event = envelope["event"]
    assert envelope["type"] == "event_callback"
    assert {k: v for k, v in event.items() if k != "event_ts"} == {
        "type": "agent_session_stopped",
        "channel": "D0ALICE",
        "thread_ts": asked,
        "user": "UALICE",
        "streaming_message_ts": [first, second],
    }
    assert event["event_ts"]
    error = await api_error(
        client.chat_appendStream(channel="D0ALICE", ts=first, markdown_text="x")
    )
    assert error.response["error"] == "message_not_in_streaming_state"
    await client.chat_update(channel="D0ALICE", ts=first, text="b (stopped)")
    assert slack.message("D0ALICE", first).text == "b (stopped)"
    assert slack.is_streaming("D0ALICE", elsewhere)
    assert not slack.is_streaming("D0ALICE", second)


# ---- assistant threads and agent sessions --------------------------------------------------------


async def test_thread_status_is_cleared_by_replies_streams_and_time() -> None:
    """setStatus shows a line; "" clears it, so does a bot reply or stream, or 2 minutes."""
    clock = FakeClock()
    async with SlackEmulator(clock=clock) as slack:
        client = slack.bot_client()
        asked, other = await question(slack), await question(slack)

        async def status(text: str, thread: str = asked) -> None:
            await client.assistant_threads_setStatus(
                channel_id="D0ALICE", thread_ts=thread, status=text
            )

        assert slack.thread_status("D0ALICE", asked) is None
        await status("is thinking…")
        await status("is looking things up…", other)
        assert slack.thread_status("D0ALICE", asked) == "is thinking…"
        await client.chat_postMessage(channel="D0ALICE", thread_ts=asked, text="answer")
        assert slack.thread_status("D0ALICE", asked) is None
        assert slack.thread_status("D0ALICE", other) == "is looking things up…"

        await status("is writing…")
        await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="x")
        assert slack.thread_status("D0ALICE", asked) is None
        await status("is checking…")
        await status("")
        assert slack.thread_status("D0ALICE", asked) is None
        await status("is waiting…")
        clock.advance(119)
        assert slack.thread_status("D0ALICE", asked) == "is waiting…"
        clock.advance(1)
        assert slack.thread_status("D0ALICE", asked) is None
        assert slack.status_history("D0ALICE", asked) == [
            "is thinking…",
            "",
            "is writing…",
            "",
            "is checking…",
            "",
            "is waiting…",
            "",
        ]
        await client.chat_postMessage(channel="D0ALICE", thread_ts=asked, text="no status left")
        assert slack.status_history("D0ALICE", asked)[-2:] == ["is waiting…", ""]

        await client.assistant_threads_setStatus(
            channel_id="D0ALICE", thread_ts=asked, status="s", loading_messages=["a"] * 10
        )
        error = await api_error(
            client.assistant_threads_setStatus(
                channel_id="D0ALICE", thread_ts=asked, status="s", loading_messages=["a"] * 11
            )
        )
        assert error.response["error"] == "invalid_arguments"
        error = await api_error(
            client.assistant_threads_setStatus(channel_id="C0NOPE", thread_ts=asked, status="s")
        )
        assert error.response["error"] == "channel_not_found"


async def test_suggested_prompts_take_one_to_four(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    prompts = [{"title": f"Prompt {i}", "message": f"Do thing {i}"} for i in range(4)]
    await client.assistant_threads_setSuggestedPrompts(
        channel_id="D0ALICE", prompts=prompts, title="Try one"
    )
    assert slack.suggested_prompts("D0ALICE") == prompts
    asked = await question(slack)
    await client.assistant_threads_setSuggestedPrompts(
        channel_id="D0ALICE", thread_ts=asked, prompts=prompts[:1]
    )
    assert slack.suggested_prompts("D0ALICE", asked) == prompts[:1]
    assert slack.suggested_prompts("D0BOB") == []
    for bad in ([], [*prompts, prompts[0]], [{"title": "no message"}]):
        error = await api_error(
            client.assistant_threads_setSuggestedPrompts(channel_id="D0ALICE", prompts=bad)
        )
        assert error.response["error"] == "invalid_arguments"
    assert slack.suggested_prompts("D0ALICE") == prompts


async def test_agent_sessions_keep_status_history_and_title(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    asked = await question(slack)
    assert slack.session("D0ALICE", asked) is None
    await client.agents_sessions_setStatus(
        channel_id="D0ALICE", thread_ts=asked, status="processing", title="Order lookup"
    )
    await client.agents_sessions_setStatus(
        channel_id="D0ALICE", thread_ts=asked, status="suspended", title="ignored later"
    )
    assert slack.session("D0ALICE", asked) == {
        "status": "suspended",
        "title": "Order lookup",
        "history": ["processing", "suspended"],
    }
    await client.agents_sessions_rename(channel_id="D0ALICE", thread_ts=asked, title="Refund")
    ts = (await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="x"))[
        "ts"
    ]
    await client.chat_stopStream(channel="D0ALICE", ts=ts, session_status="closed")
    session = slack.session("D0ALICE", asked)
    assert session is not None
    assert (session["title"], session["history"]) == (
        "Refund",
        ["processing", "suspended", "closed"],
    )

    for bad in (
        client.agents_sessions_setStatus(channel_id="D0ALICE", thread_ts=asked, status="done"),
        client.agents_sessions_setStatus(
            channel_id="D0ALICE", thread_ts="1.2", status="active", title="t" * 201
        ),
        client.agents_sessions_rename(channel_id="D0ALICE", thread_ts=asked, title="t" * 201),
        client.agents_sessions_rename(channel_id="D0ALICE", thread_ts=asked, title=""),
    ):
        assert (await api_error(bad)).response["error"] == "invalid_arguments"
    other = (await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="y"))[
        "ts"
    ]
    error = await api_error(
        client.chat_stopStream(channel="D0ALICE", ts=other, session_status="gone")
    )
    assert error.response["error"] == "invalid_arguments"
    assert slack.is_streaming("D0ALICE", other)  # a refused stop changes nothing

    await client.assistant_threads_setTitle(channel_id="D0ALICE", thread_ts=asked, title="Refunds")
    assert slack.thread_title("D0ALICE", asked) == "Refunds"


async def test_stream_and_status_methods_have_their_tiers() -> None:
    """startStream/stopStream are Tier 2 (burst 3), appendStream Tier 4 (burst 16), setStatus
    is per channel like chat.postMessage; a call inside Retry-After is counted."""
    clock = FakeClock()
    async with SlackEmulator(enforce_rate_limits=True, clock=clock) as slack:
        client = slack.bot_client()
        asked = await question(slack)
        streams = [
            (await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="a"))[
                "ts"
            ]
            for _ in range(3)
        ]
        error = await api_error(
            client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="a")
        )
        assert (error.response.status_code, error.response["error"]) == (429, "ratelimited")
        retry_after = int(error.response.headers["Retry-After"])
        await api_error(
            client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="a")
        )
        assert slack.calls_inside_retry_after == 1

        for _ in range(16):
            await client.chat_appendStream(channel="D0ALICE", ts=streams[0], markdown_text="b")
        error = await api_error(
            client.chat_appendStream(channel="D0ALICE", ts=streams[0], markdown_text="b")
        )
        assert error.response.status_code == 429
        for ts in streams:
            await client.chat_stopStream(channel="D0ALICE", ts=ts)
        error = await api_error(client.chat_stopStream(channel="D0ALICE", ts=streams[0]))
        assert error.response.status_code == 429  # limited before it is looked at
        clock.advance(retry_after)
        await client.chat_startStream(channel="D0ALICE", thread_ts=asked, markdown_text="a")

        for _ in range(3):
            await client.assistant_threads_setStatus(
                channel_id="D0ALICE", thread_ts=asked, status="s"
            )
        error = await api_error(
            client.assistant_threads_setStatus(channel_id="D0ALICE", thread_ts=asked, status="s")
        )
        assert error.response.headers["Retry-After"] == "1"
        await client.assistant_threads_setStatus(channel_id="D0BOB", thread_ts=asked, status="s")
