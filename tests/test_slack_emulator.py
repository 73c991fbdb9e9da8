"""The Slack emulator speaks Slack's wire format to the real slack_sdk client and real Bolt."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from playground.slack import SlackEmulator, sign_request
from tests.fake_clock import FakeClock
from tests.recording_endpoint import Recorder, serve

Blocks = list[dict[str, Any]]

# Some tests send blocks without text, or no content at all, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")


@pytest.fixture
def client(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, label: str = "Go", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        **extra,
    }


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def actions(*elements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements), **extra}


async def api_error(call: Awaitable[Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


# ---- Web API wire format ---------------------------------------------------------------------


async def test_post_then_update_records_every_version(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A post and two edits leave three versions; the message shows the latest blocks."""
    posted = await client.chat_postMessage(channel="C0GENERAL", text="thinking…")
    ts = posted["ts"]
    assert posted["message"]["bot_id"] == "BBOT"
    await client.chat_update(channel="C0GENERAL", ts=ts, text="Hello", blocks=[section("Hello")])
    await client.chat_update(channel="C0GENERAL", ts=ts, text="Hello world")

    message = slack.message("C0GENERAL", ts)
    assert [v["text"] for v in message.versions] == ["thinking…", "Hello", "Hello world"]
    assert message.versions[1]["blocks"] == [section("Hello")]
    assert message.blocks == []  # text without blocks removes the old blocks (docs: chat.update)
    assert message.visible_text() == "Hello world"
    assert (message.user, message.bot_id) == ("UBOT", "BBOT")
    assert [c.method for c in slack.calls] == ["chat.postMessage", "chat.update", "chat.update"]
    assert all(c.status == 200 and c.error is None for c in slack.calls)


async def test_update_without_text_or_blocks_keeps_both(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Only an edit that sends neither text nor blocks keeps the old content."""
    ts = (await client.chat_postMessage(channel="C0GENERAL", text="t", blocks=[section("b")]))["ts"]
    await client.chat_update(channel="C0GENERAL", ts=ts, metadata={"event_type": "x"})
    await client.chat_update(channel="C0GENERAL", ts=ts, blocks=[section("new")])
    message = slack.message("C0GENERAL", ts)
    assert message.text == "t"
    assert message.visible_text() == "new"


async def test_json_form_and_query_bodies_are_all_understood(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Parameters arrive as JSON, as a form (blocks as a JSON string) or in the query string."""
    await client.chat_postMessage(channel="C0GENERAL", text="json")
    await client.api_call(
        "chat.postMessage",
        data={"channel": "C0GENERAL", "text": "form", "blocks": json.dumps([section("form")])},
    )
    first = await client.api_call(
        "chat.postMessage", http_verb="GET", params={"channel": "C0GENERAL", "text": "query"}
    )
    replies = await client.conversations_replies(channel="C0GENERAL", ts=first["ts"])

    assert [c.encoding for c in slack.calls] == ["json", "form", "query", "query"]
    assert slack.calls[1].params["blocks"] == [section("form")]
    assert [m.visible_text() for m in slack.messages("C0GENERAL")] == ["json", "form", "query"]
    assert replies["messages"][0]["text"] == "query"


async def test_auth_test_and_token_errors(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """auth.test names the bot; wrong, missing or misplaced tokens get Slack's errors."""
    me = await client.auth_test()
    assert (me["user_id"], me["bot_id"], me["team_id"], me["user"]) == (
        "UBOT",
        "BBOT",
        "T0001",
        "countersign",
    )
    assert "chat:write" in me.headers["x-oauth-scopes"]
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url)
    assert (await api_error(wrong.auth_test())).response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=slack.api_url)
    assert (await api_error(anonymous.auth_test())).response["error"] == "not_authed"
    app_level = AsyncWebClient(token=slack.app_token, base_url=slack.api_url)
    error = await api_error(app_level.chat_postMessage(channel="C0GENERAL", text="x"))
    assert error.response["error"] == "not_allowed_token_type"
    error = await api_error(client.apps_connections_open(app_token=slack.bot_token))
    assert error.response["error"] == "not_allowed_token_type"
    error = await api_error(client.api_call("chat.explode"))
    assert (error.response.status_code, error.response["error"]) == (404, "unknown_method")
    assert [c.status for c in slack.calls][-1] == 404
    assert len(slack.calls) == 6


async def test_directory_methods(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """users, conversations and usergroups answer from the default workspace."""
    assert (await client.users_info(user="UALICE"))["user"]["name"] == "alice"
    assert (await client.users_info(user="UBOT"))["user"]["is_bot"] is True
    info = (await client.conversations_info(channel="G0PRIVATE"))["channel"]
    assert (info["is_group"], info["is_private"], info["is_member"]) == (True, True, True)
    assert (await client.conversations_info(channel="D0ALICE"))["channel"]["user"] == "UALICE"
    members = (await client.conversations_members(channel="D0BOB"))["members"]
    assert sorted(members) == ["UBOB", "UBOT"]
    users = await client.usergroups_users_list(usergroup="S0APPROVERS")
    assert users["users"] == ["UBOB"]
    groups = await client.usergroups_list(include_users=True)
    assert groups["usergroups"][0]["handle"] == "approvers"
    error = await api_error(client.usergroups_users_list(usergroup="S0NOPE"))
    assert error.response["error"] == "no_such_subteam"
    error = await api_error(client.users_info(user="UNOBODY"))
    assert error.response["error"] == "user_not_found"
    error = await api_error(client.conversations_info(channel="C0NOPE"))
    assert error.response["error"] == "channel_not_found"


async def test_conversations_open_finds_or_makes_the_dm_with_one_person(
    recorder: Recorder, slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """The bot's DM with someone: the one it has, or a new one that works like any DM."""
    bob = await client.conversations_open(users="UBOB")
    assert (bob["channel"], bob["already_open"], bob["no_op"]) == ({"id": "D0BOB"}, True, True)

    carol = await client.conversations_open(users=["UCAROL"], return_im=True)
    im = carol["channel"]
    assert im["id"].startswith("D") and im["id"] not in ("D0ALICE", "D0BOB")
    assert (im["is_im"], im["user"], "already_open" in carol) == (True, "UCAROL", False)
    again = await client.conversations_open(users="UCAROL")
    assert (again["channel"], again["already_open"]) == ({"id": im["id"]}, True)
    resumed = await client.conversations_open(channel=im["id"], return_im=True)
    assert resumed["channel"]["user"] == "UCAROL"

    members = (await client.conversations_members(channel=im["id"]))["members"]
    assert sorted(members) == ["UBOT", "UCAROL"]
    general = (await client.conversations_members(channel="C0GENERAL"))["members"]
    assert sorted(general) == ["UALICE", "UBOB", "UBOT", "UCAROL"]
    info = (await client.conversations_info(channel=im["id"]))["channel"]
    assert (info["is_im"], info["user"]) == (True, "UCAROL")

    card = [section("Approve?"), actions(button("approve", value="i-1"))]
    ts = (await client.chat_postMessage(channel=im["id"], text="Approve?", blocks=card))["ts"]
    delivery = await slack.click("UCAROL", im["id"], ts, "approve")
    assert delivery.status == 200
    payload = json.loads(parse_qs(recorder.requests[0][1].decode())["payload"][0])
    assert payload["channel"]["id"] == im["id"] and payload["user"]["id"] == "UCAROL"

    missing = await api_error(client.api_call("conversations.open", params={"users": ""}))
    assert missing.response["error"] == "users_list_not_supplied"  # slack_sdk checks it too
    for kwargs, error in [
        ({"users": "UNOBODY"}, "user_not_found"),
        ({"users": "UBOB,UNOBODY"}, "user_not_found"),
        ({"users": ",".join(["UBOB"] * 9)}, "too_many_users"),
        ({"users": "UBOB,UCAROL"}, "method_not_supported_for_channel_type"),  # group DMs
        ({"users": "UBOT"}, "cannot_dm_bot"),
        ({"channel": "C0GENERAL"}, "method_not_supported_for_channel_type"),
        ({"channel": "D0NOPE"}, "channel_not_found"),
    ]:
        failed = await api_error(client.conversations_open(**kwargs))
        assert failed.response["error"] == error, kwargs
    assert len([c for c in slack.calls if c.method == "conversations.open"]) == 12


async def test_conversations_open_is_tier_3() -> None:
    """A burst of 8 conversations.open, then Retry-After (bots open DMs at most ~50 a minute)."""
    async with SlackEmulator(enforce_rate_limits=True, clock=FakeClock()) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        for _ in range(8):
            await client.conversations_open(users="UCAROL")
        error = await api_error(client.conversations_open(users="UCAROL"))
        assert (error.response.status_code, error.response["error"]) == (429, "ratelimited")


async def test_threads_reactions_permalinks_and_deletes(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Replies join the parent's thread; reactions, permalinks and deletes behave like Slack."""
    parent, _ = await slack.user_says("UALICE", "C0GENERAL", "question", deliver=False)
    reply = await client.chat_postMessage(channel="C0GENERAL", thread_ts=parent.ts, text="answer")
    await client.reactions_add(channel="C0GENERAL", timestamp=parent.ts, name="eyes")
    error = await api_error(
        client.reactions_add(channel="C0GENERAL", timestamp=parent.ts, name="eyes")
    )
    assert error.response["error"] == "already_reacted"
    assert slack.message("C0GENERAL", parent.ts).reactions == {"eyes": ["UBOT"]}

    link = await client.chat_getPermalink(channel="C0GENERAL", message_ts=reply["ts"])
    assert f"thread_ts={parent.ts}" in link["permalink"]
    thread = await client.conversations_replies(channel="C0GENERAL", ts=parent.ts)
    assert [m["text"] for m in thread["messages"]] == ["question", "answer"]
    assert thread["messages"][0]["reply_count"] == 1
    assert slack.bot_messages("C0GENERAL", parent.ts)[0].ts == reply["ts"]

    error = await api_error(client.chat_delete(channel="C0GENERAL", ts=parent.ts))
    assert error.response["error"] == "cant_delete_message"
    error = await api_error(client.chat_update(channel="C0GENERAL", ts=parent.ts, text="hack"))
    assert error.response["error"] == "cant_update_message"
    await client.chat_delete(channel="C0GENERAL", ts=reply["ts"])
    assert [m.ts for m in slack.thread("C0GENERAL", parent.ts)] == [parent.ts]
    error = await api_error(client.chat_update(channel="C0GENERAL", ts=reply["ts"], text="x"))
    assert error.response["error"] == "message_not_found"


async def test_ephemerals_are_kept_apart_from_threads(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """chat.postEphemeral returns message_ts and never shows up in the conversation."""
    answer = await client.chat_postEphemeral(channel="C0GENERAL", user="UBOB", text="only you")
    assert answer["message_ts"]
    assert slack.messages("C0GENERAL") == []
    assert [e["text"] for e in slack.ephemerals("C0GENERAL", "UBOB")] == ["only you"]
    assert slack.ephemerals(user="UALICE") == []
    error = await api_error(client.chat_postEphemeral(channel="D0ALICE", user="UBOB", text="x"))
    assert error.response["error"] == "user_not_in_channel"


# ---- limits ------------------------------------------------------------------------------------

TOO_LONG_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("text over 4,000", {"text": "x" * 4001}, "msg_too_long"),
    (
        "51 blocks",
        {"text": "t", "blocks": [section(str(i)) for i in range(51)]},
        "msg_blocks_too_many",
    ),
    (
        "markdown over 12,000 in total",
        {"text": "t", "blocks": [{"type": "markdown", "text": "m" * 7000}] * 2},
        "msg_blocks_too_long",
    ),
    ("no content", {"text": ""}, "no_text"),
]


@pytest.mark.parametrize(
    ("case", "kwargs", "code"), TOO_LONG_CASES, ids=[c[0] for c in TOO_LONG_CASES]
)
async def test_size_limits(
    client: AsyncWebClient, case: str, kwargs: dict[str, Any], code: str
) -> None:
    """Messages over Slack's limits fail with Slack's error codes."""
    error = await api_error(client.chat_postMessage(channel="C0GENERAL", **kwargs))
    assert error.response["error"] == code


MRKDWN = {"type": "mrkdwn", "text": "m"}
E0 = "/blocks/0/elements/0"
INVALID_BLOCKS: list[tuple[str, Blocks, str]] = [
    ("empty section text", [section("")], "/blocks/0/text/text"),
    ("section over 3,000", [section("s" * 3001)], "/blocks/0/text/text"),
    ("11 fields", [{"type": "section", "fields": [MRKDWN] * 11}], "/blocks/0/fields"),
    ("header over 150", [header("h" * 151)], "/blocks/0/text/text"),
    ("mrkdwn header", [{"type": "header", "text": MRKDWN}], "/blocks/0/text/type"),
    ("markdown over 12,000", [{"type": "markdown", "text": "m" * 12001}], "/blocks/0/text"),
    ("context of 11", [{"type": "context", "elements": [MRKDWN] * 11}], "/blocks/0/elements"),
    ("26 actions", [actions(*(button(f"a{i}") for i in range(26)))], "/blocks/0/elements"),
    ("button text over 75", [actions(button("a", "b" * 76))], f"{E0}/text/text"),
    ("button value over 2,000", [actions(button("a", value="v" * 2001))], f"{E0}/value"),
    ("button style", [actions(button("a", style="green"))], f"{E0}/style"),
    ("action_id over 255", [actions(button("a" * 256))], f"{E0}/action_id"),
    ("block_id over 255", [section("s", block_id="b" * 256)], "/blocks/0/block_id"),
    ("repeated block_id", [section("a", block_id="x")] * 2, "/blocks/1/block_id"),
    ("unknown block", [{"type": "carousel"}], "/blocks/0/type"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "blocks", "pointer"), INVALID_BLOCKS, ids=[c[0] for c in INVALID_BLOCKS]
)
async def test_invalid_blocks(
    client: AsyncWebClient, case: str, blocks: Blocks, pointer: str
) -> None:
    """Each broken block is rejected as invalid_blocks with a JSON pointer to the problem."""
    error = await api_error(client.chat_postMessage(channel="C0GENERAL", text="t", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in e for e in error.response["errors"]), error.response


async def test_update_is_validated_too(client: AsyncWebClient) -> None:
    """chat.update enforces the same limits as chat.postMessage."""
    ts = (await client.chat_postMessage(channel="C0GENERAL", text="ok"))["ts"]
    error = await api_error(client.chat_update(channel="C0GENERAL", ts=ts, text="x" * 4001))
    assert error.response["error"] == "msg_too_long"
    error = await api_error(client.chat_update(channel="C0GENERAL", ts=ts, blocks=[section("")]))
    assert error.response["error"] == "invalid_blocks"


async def test_fail_next_gives_429_with_retry_after(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Injected 429s carry Retry-After; a call made inside that window is counted."""
    ts = (await client.chat_postMessage(channel="C0GENERAL", text="a"))["ts"]
    slack.fail_next("chat.update", retry_after=7, times=2)
    for _ in range(2):
        error = await api_error(client.chat_update(channel="C0GENERAL", ts=ts, text="b"))
        assert error.response.status_code == 429
        assert error.response["error"] == "ratelimited"
        assert error.response.headers["Retry-After"] == "7"
    await client.chat_update(channel="C0GENERAL", ts=ts, text="c")
    assert [c.status for c in slack.calls_to("chat.update")] == [429, 429, 200]
    assert [c.inside_retry_after for c in slack.calls_to("chat.update")] == [False, True, True]
    assert slack.calls_inside_retry_after == 2
    assert [v["text"] for v in slack.message("C0GENERAL", ts).versions] == ["a", "c"]


async def test_fail_next_other_errors(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """Faults can be any status and error, e.g. a 500 or an ok:false with 200."""
    slack.fail_next("chat.postMessage", error="internal_error", status=500)
    slack.fail_next("chat.postMessage", error="msg_too_long", status=200)
    error = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x"))
    assert (error.response.status_code, error.response["error"]) == (500, "internal_error")
    assert "Retry-After" not in error.response.headers
    error = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x"))
    assert (error.response.status_code, error.response["error"]) == (200, "msg_too_long")


async def test_fail_next_can_drop_the_connection_before_or_after_applying(
    slack: SlackEmulator,
) -> None:
    """A dropped connection reaches the real client as ServerDisconnectedError; "after" posts."""
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
    parent = (await client.chat_postMessage(channel="C0GENERAL", text="parent"))["ts"]
    slack.fail_next("chat.postMessage", drop="before")
    slack.fail_next("chat.postMessage", drop="after")
    for _ in range(2):
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await client.chat_postMessage(channel="C0GENERAL", thread_ts=parent, text="reply")
    assert [m.text for m in slack.thread("C0GENERAL", parent)] == ["parent", "reply"]
    dropped = slack.calls_to("chat.postMessage")[1:]
    assert [(c.status, c.error) for c in dropped] == [(0, "connection_dropped")] * 2
    assert dropped[1].response["ts"] == slack.thread("C0GENERAL", parent)[1].ts

    slack.fail_next("chat.update", drop="after")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_update(channel="C0GENERAL", ts=parent, text="edited")
    assert slack.message("C0GENERAL", parent).text == "edited"
    await client.chat_postMessage(channel="C0GENERAL", text="the next call is answered")


async def test_rate_limits_are_enforced_per_tier_and_channel() -> None:
    """Tier 3 allows a burst of 8 chat.update; chat.postMessage allows 3 per channel at once."""
    clock = FakeClock()
    async with SlackEmulator(enforce_rate_limits=True, clock=clock) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        posts = [await client.chat_postMessage(channel="C0GENERAL", text="x") for _ in range(3)]
        error = await api_error(client.chat_postMessage(channel="C0GENERAL", text="x"))
        assert error.response.status_code == 429
        assert error.response.headers["Retry-After"] == "1"
        await client.chat_postMessage(channel="D0ALICE", text="other channel is fine")

        ts = posts[0]["ts"]
        for i in range(8):
            await client.chat_update(channel="C0GENERAL", ts=ts, text=str(i))
        error = await api_error(client.chat_update(channel="C0GENERAL", ts=ts, text="9"))
        assert (error.response.status_code, error.response["error"]) == (429, "ratelimited")
        retry_after = int(error.response.headers["Retry-After"])
        assert retry_after >= 1

        await api_error(client.chat_update(channel="C0GENERAL", ts=ts, text="impatient"))
        assert slack.calls_inside_retry_after == 1
        clock.now += retry_after
        await client.chat_update(channel="C0GENERAL", ts=ts, text="after waiting")
        await client.apps_connections_open(app_token=slack.app_token)  # never limited


async def test_rate_limits_can_be_tuned() -> None:
    """A benchmark can model a different workspace by overriding a method's limit."""
    async with SlackEmulator(enforce_rate_limits=True, clock=FakeClock()) as slack:
        slack.limiter.set_limit("users.info", per_minute=60, burst=1)
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        await client.users_info(user="UALICE")
        error = await api_error(client.users_info(user="UALICE"))
        assert error.response.headers["Retry-After"] == "1"


# ---- views and triggers ----------------------------------------------------------------------

MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "edit",
    "title": {"type": "plain_text", "text": "Edit arguments"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}


async def test_trigger_ids_are_single_use_and_expire() -> None:
    """views.open needs a fresh trigger_id (< 3 s old) that was never exchanged."""
    clock = FakeClock()
    async with SlackEmulator(clock=clock) as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        trigger = slack.workspace.issue_trigger("UALICE", clock())
        opened = await client.views_open(trigger_id=trigger, view=MODAL)
        assert opened["view"]["id"].startswith("V")
        assert slack.views[0]["user"] == "UALICE"
        error = await api_error(client.views_open(trigger_id=trigger, view=MODAL))
        assert error.response["error"] == "exchanged_trigger_id"

        stale = slack.workspace.issue_trigger("UALICE", clock())
        clock.now += 3.5
        error = await api_error(client.views_open(trigger_id=stale, view=MODAL))
        assert error.response["error"] == "expired_trigger_id"
        error = await api_error(client.views_open(trigger_id="made-up", view=MODAL))
        assert error.response["error"] == "invalid_trigger_id"


async def test_views_are_validated_and_updated(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Titles over 24 characters and input blocks without submit are invalid_arguments."""
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    error = await api_error(
        client.views_open(
            trigger_id=slack.workspace.issue_trigger("UBOB", slack.clock()), view=long_title
        )
    )
    assert error.response["error"] == "invalid_arguments"
    assert "/view/title/text" in error.response["response_metadata"]["messages"][0]
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    error = await api_error(
        client.views_open(
            trigger_id=slack.workspace.issue_trigger("UBOB", slack.clock()), view=no_submit
        )
    )
    assert error.response["error"] == "invalid_arguments"

    trigger = slack.workspace.issue_trigger("UBOB", slack.clock())
    view_id = (await client.views_open(trigger_id=trigger, view=MODAL))["view"]["id"]
    updated = {**MODAL, "private_metadata": "run-1"}
    await client.views_update(view_id=view_id, view=updated)
    assert slack.view(view_id)["view"]["private_metadata"] == "run-1"
    assert len(slack.view(view_id)["versions"]) == 2


# ---- signing and delivery -------------------------------------------------------------------


def test_sign_request_matches_slack_sdk() -> None:
    """Our signature is the one slack_sdk's SignatureVerifier computes and accepts."""
    body, ts = b'{"type":"event_callback"}', int(time.time())
    headers = sign_request("s3cret", ts, body)
    verifier = SignatureVerifier("s3cret")
    assert headers["X-Slack-Signature"] == verifier.generate_signature(timestamp=str(ts), body=body)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)


async def test_http_delivery_is_signed_and_shaped_like_slack(
    recorder: Recorder, slack: SlackEmulator
) -> None:
    """Events go out as signed JSON envelopes; a mention arrives as app_mention and message."""
    message, deliveries = await slack.user_says("UALICE", "C0GENERAL", "<@UBOT> is 1 < 2 & 3 > 2?")
    assert [d.status for d in deliveries] == [200, 200]
    assert sorted(d.json()["seen"] for d in deliveries) == [1, 2]
    assert message.text == "<@UBOT> is 1 &lt; 2 &amp; 3 &gt; 2?"

    verifier = SignatureVerifier(slack.signing_secret)
    envelopes = []
    for headers, body in recorder.requests:
        assert verifier.is_valid_request(body, headers)
        assert headers["Content-Type"] == "application/json"
        envelopes.append(json.loads(body))
    by_type = {e["event"]["type"]: e for e in envelopes}
    assert set(by_type) == {"app_mention", "message"}
    assert by_type["app_mention"]["event_id"] != by_type["message"]["event_id"]
    assert by_type["message"]["event"]["channel_type"] == "channel"
    assert by_type["app_mention"]["event"]["text"] == message.text
    assert envelopes[0]["type"] == "event_callback"
    assert envelopes[0]["authorizations"][0]["user_id"] == "UBOT"

    reply, deliveries = await slack.user_says("UBOB", "C0GENERAL", "me too", thread_ts=message.ts)
    event = json.loads(recorder.requests[-1][1])["event"]
    assert len(deliveries) == 1
    assert (event["thread_ts"], event["parent_user_id"]) == (message.ts, "UALICE")
    assert reply.visible_text() == "me too"

    await slack.user_says("UALICE", "D0ALICE", "<@UBOT> in a DM")
    event = json.loads(recorder.requests[-1][1])["event"]
    assert (event["type"], event["channel_type"]) == ("message", "im")
    assert len(recorder.requests) == 4

    await slack.deliver_event(event, event_id="Ev0RETRY", retry_num=1, retry_reason="http_timeout")
    headers, body = recorder.requests[-1]
    assert (headers["X-Slack-Retry-Num"], headers["X-Slack-Retry-Reason"]) == (
        "1",
        "http_timeout",
    )
    assert json.loads(body)["event_id"] == "Ev0RETRY"


async def test_click_delivers_block_actions_as_a_form(
    recorder: Recorder, slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A click sends payload=<json> with the current message, a trigger and a response_url."""
    blocks = [
        section("Approve?", block_id="card"),
        {"type": "actions", "block_id": "act", "elements": [button("approve", value="i-1")]},
    ]
    ts = (await client.chat_postMessage(channel="C0GENERAL", text="card", blocks=blocks))["ts"]
    delivery = await slack.click("UBOB", "C0GENERAL", ts, "approve")
    assert delivery.status == 200
    headers, body = recorder.requests[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "UBOB"
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": "C0GENERAL",
        "is_ephemeral": False,
    }
    assert payload["actions"][0]["action_id"] == "approve"
    assert payload["actions"][0]["value"] == "i-1"
    assert payload["actions"][0]["block_id"] == "act"
    assert payload["message"]["blocks"] == blocks
    assert payload["response_url"].startswith(slack.url)

    with pytest.raises(AssertionError, match="no button deny"):
        await slack.click("UBOB", "C0GENERAL", ts, "deny")
    with pytest.raises(AssertionError, match="no button approve='i-2'"):
        await slack.click("UBOB", "C0GENERAL", ts, "approve", value="i-2")


async def test_ephemeral_buttons_can_be_clicked_and_replaced(
    recorder: Recorder, slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """Clicking an ephemeral sends is_ephemeral and no message; respond() can replace it."""
    blocks = [actions(button("why", "Why?"))]
    answer = await client.chat_postEphemeral(
        channel="C0GENERAL", user="UALICE", text="denied", blocks=blocks
    )
    with pytest.raises(AssertionError, match="that UBOB can see"):
        await slack.click("UBOB", "C0GENERAL", answer["message_ts"], "why")
    await slack.click("UALICE", "C0GENERAL", answer["message_ts"], "why")
    payload = json.loads(parse_qs(recorder.requests[0][1].decode())["payload"][0])
    assert payload["container"]["is_ephemeral"] is True
    assert "message" not in payload
    await AsyncWebhookClient(payload["response_url"]).send(text="because", replace_original=True)
    assert [e["text"] for e in slack.ephemerals(user="UALICE")] == ["because"]


async def test_events_reach_the_bot_only_where_it_is_a_member(slack: SlackEmulator) -> None:
    """A new channel without the bot delivers nothing until the bot joins it."""
    slack.add_user("UDAVE", "dave")
    slack.add_channel("C0RANDOM", "random", members=["UALICE", "UDAVE"])
    slack.deliver_to("http://127.0.0.1:9/never-called")
    _, deliveries = await slack.user_says("UDAVE", "C0RANDOM", "<@UBOT> hello?")
    assert deliveries == []
    with pytest.raises(AssertionError, match="UBOB is not a member"):
        await slack.user_says("UBOB", "C0RANDOM", "hi")
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    error = await api_error(client.chat_postMessage(channel="C0RANDOM", text="x"))
    assert error.response["error"] == "not_in_channel"
    slack.join("C0RANDOM", "UBOT")
    await client.chat_postMessage(channel="#random", text="joined")
    assert slack.bot_messages("C0RANDOM")[0].text == "joined"


async def test_post_raw_reaches_the_bot_with_any_signature(
    recorder: Recorder, slack: SlackEmulator
) -> None:
    """post_raw sends exactly the bytes and signature a test chooses."""
    await slack.post_raw(b"{}", content_type="application/json", timestamp=1, secret="x")
    await slack.post_raw(b"junk", content_type="text/plain", signature="v0=forged")
    (first, _), (second, body) = recorder.requests
    assert first["X-Slack-Request-Timestamp"] == "1"
    assert first["X-Slack-Signature"] == sign_request("x", 1, b"{}")["X-Slack-Signature"]
    assert (second["X-Slack-Signature"], body) == ("v0=forged", b"junk")


# ---- real Bolt -------------------------------------------------------------------------------


def bolt_app(slack: SlackEmulator) -> AsyncApp:
    """A small Bolt bot: answers mentions with a card; Approve opens a modal, then resolves."""
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    app = AsyncApp(client=client, signing_secret=slack.signing_secret)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: Callable[..., Awaitable[Any]]) -> None:
        await say(
            text="Approve?",
            thread_ts=event["ts"],
            blocks=[
                section("Approve saving the note?"),
                {"type": "actions", "elements": [button("approve"), button("edit", "Edit")]},
            ],
        )

    @app.event("message")
    async def on_message() -> None:
        return None

    @app.action("approve")
    async def on_approve(ack: Callable[[], Awaitable[None]], respond: Any) -> None:
        await ack()
        await respond(replace_original=True, text="Approved by bob")

    @app.action("edit")
    async def on_edit(
        ack: Callable[[], Awaitable[None]], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    @app.view("edit")
    async def on_submit(ack: Any, view: dict[str, Any]) -> None:
        title = view["state"]["values"]["title"]["value"]["value"]
        if not title:
            await ack(response_action="errors", errors={"title": "Say something"})
        else:
            await ack()

    return app


@contextlib.asynccontextmanager
async def socket_mode(slack: SlackEmulator, app: AsyncApp) -> AsyncIterator[None]:
    """Connect Bolt's Socket Mode handler to the emulator; always close it first."""
    handler = AsyncSocketModeHandler(app, slack.app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]  # Bolt is not fully typed
    try:
        await slack.wait_for_socket()
        yield
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def test_socket_mode_with_real_bolt(slack: SlackEmulator) -> None:
    """Bolt's AsyncSocketModeHandler connects, acks an app_mention and answers in the thread."""
    async with socket_mode(slack, bolt_app(slack)):
        message, deliveries = await slack.user_says("UALICE", "C0GENERAL", "<@UBOT> save a note")
        assert [d.status for d in deliveries] == [200, 200]
        await slack.wait_until(lambda: slack.bot_messages("C0GENERAL", message.ts)[0].buttons())
        card = slack.bot_messages("C0GENERAL", message.ts)[0]
        assert [b["action_id"] for b in card.buttons()] == ["approve", "edit"]
        assert [m.ts for m in slack.thread("C0GENERAL", message.ts)] == [message.ts, card.ts]

        delivery = await slack.click("UBOB", "C0GENERAL", card.ts, "approve")
        assert delivery.status == 200
        await slack.wait_until(lambda: slack.message("C0GENERAL", card.ts).edited)
        assert slack.message("C0GENERAL", card.ts).visible_text() == "Approved by bob"
        assert slack.message("C0GENERAL", card.ts).buttons() == []
        assert slack.calls_to("response_url")[0].params["replace_original"] is True


async def test_socket_mode_modal_acks_carry_payloads(slack: SlackEmulator) -> None:
    """Over Socket Mode a view_submission ack's payload (response_action) reaches Slack."""
    async with socket_mode(slack, bolt_app(slack)):
        card = await slack.bot_client().chat_postMessage(
            channel="D0ALICE", text="card", blocks=[actions(button("edit", "Edit"))]
        )
        await slack.click("UALICE", "D0ALICE", card["ts"], "edit")
        await slack.wait_until(lambda: slack.views[0]["open"])
        view_id = slack.views[0]["view_id"]
        empty = {"title": {"value": {"type": "plain_text_input", "value": ""}}}
        rejected = await slack.submit_view("UALICE", view_id, empty)
        assert rejected.json() == {
            "response_action": "errors",
            "errors": {"title": "Say something"},
        }
        assert slack.view(view_id)["errors"] == {"title": "Say something"}
        filled = {"title": {"value": {"type": "plain_text_input", "value": "ok"}}}
        assert (await slack.submit_view("UALICE", view_id, filled)).body == ""
        assert slack.view(view_id)["open"] is False


async def test_socket_mode_reconnects_after_disconnect(slack: SlackEmulator) -> None:
    """A `disconnect` frame makes the client fetch a new URL and connect again."""
    async with socket_mode(slack, bolt_app(slack)):
        await slack.socket_disconnect()
        await slack.wait_until(lambda: slack.socket_connects == 2 and slack.socket_connected)
        assert len(slack.calls_to("apps.connections.open")) == 2
        _, deliveries = await slack.user_says("UALICE", "D0ALICE", "still there?")
        assert deliveries[0].status == 200


async def test_socket_mode_unhandled_events_are_never_acked() -> None:
    """Bolt leaves events without a listener unacked; Slack (and we) see no answer."""
    async with SlackEmulator(ack_timeout=0.2) as slack:
        app = AsyncApp(client=AsyncWebClient(token=slack.bot_token, base_url=slack.api_url))
        async with socket_mode(slack, app):
            _, deliveries = await slack.user_says("UALICE", "D0ALICE", "anyone?")
            assert [d.status for d in deliveries] == [0]


async def test_http_mode_with_real_bolt(slack: SlackEmulator) -> None:
    """Over HTTP, Bolt verifies our signatures, opens a modal and answers submissions."""
    app = bolt_app(slack)
    runner, url = await serve(app.web_app(path="/slack/events"))
    try:
        slack.deliver_to(f"{url}/slack/events")
        message, deliveries = await slack.user_says("UALICE", "G0PRIVATE", "<@UBOT> hi")
        assert [d.status for d in deliveries] == [200, 200]
        await slack.wait_until(lambda: len(slack.bot_messages("G0PRIVATE", message.ts)) == 1)
        card = slack.bot_messages("G0PRIVATE", message.ts)[0]

        assert (await slack.click("UALICE", "G0PRIVATE", card.ts, "edit")).status == 200
        await slack.wait_until(lambda: len(slack.views) == 1)
        view_id = slack.views[0]["view_id"]
        empty = {"title": {"value": {"type": "plain_text_input", "value": ""}}}
        rejected = await slack.submit_view("UALICE", view_id, empty)
        assert rejected.json()["response_action"] == "errors"
        assert slack.view(view_id)["open"] is True
        filled = {"title": {"value": {"type": "plain_text_input", "value": "Groceries"}}}
        accepted = await slack.submit_view("UALICE", view_id, filled)
        assert accepted.status == 200
        assert slack.view(view_id)["open"] is False

        forged = await slack.post_raw(
            b'{"type":"event_callback"}', content_type="application/json", secret="wrong"
        )
        assert forged.status == 401
        stale = await slack.post_raw(
            b"{}", content_type="application/json", timestamp=int(time.time()) - 600
        )
        assert stale.status == 401
    finally:
        await runner.cleanup()


async def test_echoed_bot_messages_are_ignored_by_bolt() -> None:
    """With echo on, the bot's own post comes back as a message event that Bolt drops."""
    async with SlackEmulator(echo_bot_messages=True) as slack:
        app = bolt_app(slack)
        runner, url = await serve(app.web_app(path="/slack/events"))
        try:
            slack.deliver_to(f"{url}/slack/events")
            client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
            posted = await client.chat_postMessage(channel="C0GENERAL", text="hello")
            await slack.wait_until(lambda: len(slack.deliveries) == 1)
            payload, delivery = slack.deliveries[0]
            assert payload["event"]["bot_id"] == "BBOT"
            assert payload["event"]["ts"] == posted["ts"]
            assert delivery.status == 200
            assert len(slack.bot_messages("C0GENERAL")) == 1
        finally:
            await runner.cleanup()


# ---- response_url and waiting -----------------------------------------------------------------


async def test_response_url_replaces_deletes_and_answers_ephemerally(
    recorder: Recorder, slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """respond() via response_url can be ephemeral, in_channel, replace or delete the original."""
    blocks = [{"type": "actions", "elements": [button("go")]}]
    ts = (await client.chat_postMessage(channel="C0GENERAL", text="c", blocks=blocks))["ts"]
    await slack.click("UCAROL", "C0GENERAL", ts, "go")
    payload = json.loads(parse_qs(recorder.requests[0][1].decode())["payload"][0])
    webhook = AsyncWebhookClient(payload["response_url"])  # what Bolt's respond() uses
    answers = [
        await webhook.send(text="only carol sees this"),
        await webhook.send(text="everyone", response_type="in_channel"),
        await webhook.send(text="x" * 4001, replace_original=True),
        await webhook.send(delete_original=True),
        await webhook.send(text="fifth"),
        await webhook.send(text="sixth"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 400, 200, 200, 404]
    assert json.loads(answers[-1].body)["error"] == "used_url"
    assert [e["text"] for e in slack.ephemerals(user="UCAROL")] == [
        "only carol sees this",
        "fifth",
    ]
    assert slack.message("C0GENERAL", ts).deleted
    assert [m.text for m in slack.bot_messages("C0GENERAL")] == ["everyone"]


async def test_wait_until_explains_a_timeout(slack: SlackEmulator, client: AsyncWebClient) -> None:
    """A condition that never holds fails with the condition and the last calls."""
    await client.auth_test()
    with pytest.raises(AssertionError, match=r"timed out after 0\.05 s .*auth\.test->200"):
        await slack.wait_until(lambda: bool(slack.views), timeout=0.05)


async def test_wait_until_wakes_on_background_work(
    slack: SlackEmulator, client: AsyncWebClient
) -> None:
    """A call made while waiting ends the wait at once."""
    started = asyncio.get_running_loop().time()
    task = asyncio.create_task(client.chat_postMessage(channel="C0GENERAL", text="later"))
    await slack.wait_until(lambda: len(slack.messages("C0GENERAL")) == 1, timeout=2)
    await task
    assert asyncio.get_running_loop().time() - started < 1
