"""The playground's page endpoints (JSON and server-sent events), without a browser: the real
bot against the local Slack, driven as several people at once."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.cards import TOO_LONG_ERROR
from bot.settings import BotSettings
from playground.session import Playground, local_slack, open_playground, page_host
from playground.slack import SlackEmulator
from playground.web import serve_page
from playground.web.composer import mentions_to_markup
from playground.web.server import STATIC
from tests.playground_page import LivePage, button, live_page, visible_text

GENERAL = "C0GENERAL"
ALICE_DM = "D0ALICE"
OpenPlayground = Callable[..., AbstractAsyncContextManager[Playground]]


def settings(**overrides: Any) -> BotSettings:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "demo_tokens_per_second": 0}
    return BotSettings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
async def playground() -> AsyncIterator[Playground]:
    async with open_playground(settings()) as running:
        yield running


def card(page: LivePage, channel: str, ts: str) -> dict[str, Any]:
    """The approval card in the thread (the bot's message with an Approve button)."""
    cards = [m for m in page.thread(channel, ts) if "Approval needed" in visible_text(m)]
    return cards[-1]


def has_button(message: dict[str, Any], action_id: str) -> bool:
    try:
        button(message, action_id)
    except LookupError:
        return False
    return True


async def test_the_page_and_its_files_come_from_the_playground_alone(
    playground: Playground, session: aiohttp.ClientSession
) -> None:
    async with session.get(playground.url) as resp:
        assert resp.status == 200
        html = await resp.text()
        policy = resp.headers["Content-Security-Policy"]
    assert "/static/app.js" in html and "default-src 'self'" in policy
    external = re.compile(r"""(src|href)=["']?(https?:)?//|url\(["']?https?:|from ["']https?:""")
    for path in sorted(STATIC.iterdir()):
        async with session.get(f"{playground.url}static/{path.name}") as resp:
            assert resp.status == 200, path.name
            assert not external.search(await resp.text()), f"{path.name} loads something external"


async def test_each_person_sees_their_own_conversations(
    playground: Playground, session: aiohttp.ClientSession
) -> None:
    async def conversations(user: str) -> list[str]:
        async with session.get(f"{playground.url}api/state?user={user}") as resp:
            return [c["id"] for c in (await resp.json())["conversations"]]

    assert await conversations("UALICE") == ["C0GENERAL", "G0PRIVATE", "D0ALICE"]
    assert await conversations("UCAROL") == ["C0GENERAL", "G0PRIVATE", "D0CAROL"]
    async with session.get(f"{playground.url}api/state?user=UBOT") as resp:
        assert resp.status == 400  # the page acts for people, never as the bot


async def test_a_request_streams_in_and_another_person_approves_it(
    playground: Playground, session: aiohttp.ClientSession
) -> None:
    async with (
        live_page(session, playground.url, "UALICE") as alice,
        live_page(session, playground.url, "UBOB") as bob,
    ):
        ts = await alice.say(GENERAL, "@countersign save a note about water")
        await alice.wait_for(lambda: alice.thread(GENERAL, ts))
        parent = alice.thread(GENERAL, ts)[0]
        assert parent["text"] == "<@UBOT> save a note about water"  # @name became a mention
        await bob.wait_for(lambda: has_button(card(bob, GENERAL, ts), "countersign_approve"))
        assert "I'll save a note titled “Water”" in bob.bot_texts(GENERAL, ts)[0]

        await bob.click(card(bob, GENERAL, ts), "countersign_approve")
        await alice.wait_for(lambda: "Done" in alice.bot_texts(GENERAL, ts)[-1])
        decided = card(alice, GENERAL, ts)
        assert "Approved by <@UBOB>" in visible_text(decided)
        assert not has_button(decided, "countersign_approve")

    methods = [(c["method"], c["ok"]) for c in alice.calls]
    assert ("chat.postMessage", True) in methods and ("chat.update", True) in methods
    async with session.get(f"{playground.url}api/calls/0") as resp:
        first = await resp.json()
    assert first["method"] == "auth.test" and first["response"]["user_id"] == "UBOT"
    async with session.get(f"{playground.url}api/calls/99999") as resp:
        assert resp.status == 404


async def test_deny_opens_a_modal_for_the_clicker_only_and_its_reason_reaches_the_card(
    playground: Playground, session: aiohttp.ClientSession
) -> None:
    async with (
        live_page(session, playground.url, "UALICE") as alice,
        live_page(session, playground.url, "UBOB") as bob,
    ):
        ts = await alice.say(GENERAL, "@countersign save a note about tea")
        await alice.wait_for(lambda: has_button(card(alice, GENERAL, ts), "countersign_deny"))
        await alice.click(card(alice, GENERAL, ts), "countersign_deny")
        await alice.wait_for(lambda: alice.state["view"] is not None)
        view = alice.state["view"]
        assert view["title"]["text"] == "Deny request" and bob.state["view"] is None

        status, answer = await alice.post(
            f"api/views/{view['id']}/submit",
            values={"reason": {"reason": {"type": "plain_text_input", "value": "<b>no</b> tea"}}},
        )
        assert status == 200 and answer["open"] is False
        await bob.wait_for(lambda: "Denied by <@UALICE>" in visible_text(card(bob, GENERAL, ts)))
        assert "&lt;b&gt;no&lt;/b&gt; tea" in visible_text(card(bob, GENERAL, ts))
        await alice.wait_for(lambda: alice.state["view"] is None)


async def test_errors_from_the_bot_show_on_the_modal_field_and_cancel_closes_it(
    playground: Playground, session: aiohttp.ClientSession
) -> None:
    async with live_page(session, playground.url, "UALICE") as alice:
        long_note = "the plan " * 400  # too long for a modal input: the field starts empty
        ts = await alice.say(GENERAL, f"@countersign note that {long_note}")
        await alice.wait_for(lambda: has_button(card(alice, GENERAL, ts), "countersign_edit"))
        await alice.click(card(alice, GENERAL, ts), "countersign_edit")
        await alice.wait_for(lambda: alice.state["view"] is not None)
        view_id = alice.state["view"]["id"]

        status, answer = await alice.post(
            f"api/views/{view_id}/submit",
            values={
                "arg:title": {"value": {"type": "plain_text_input", "value": "The plan"}},
                "arg:body": {"value": {"type": "plain_text_input", "value": None}},
            },
        )
        assert status == 200 and answer["open"] is True
        assert answer["errors"] == {"arg:body": TOO_LONG_ERROR}
        await alice.wait_for(lambda: alice.state["view"]["errors"].get("arg:body"))

        status, _ = await alice.post(f"api/views/{view_id}/close")
        assert status == 200
        await alice.wait_for(lambda: alice.state["view"] is None)
        assert has_button(card(alice, GENERAL, ts), "countersign_approve")  # still pending


async def test_a_refused_click_is_told_only_to_the_clicker(session: aiohttp.ClientSession) -> None:
    async with (
        open_playground(settings(approvers=["UBOB"])) as playground,
        live_page(session, playground.url, "UALICE") as alice,
        live_page(session, playground.url, "UBOB") as bob,
    ):
        ts = await alice.say(GENERAL, "@countersign save a note about water")
        await alice.wait_for(lambda: has_button(card(alice, GENERAL, ts), "countersign_approve"))
        await alice.click(card(alice, GENERAL, ts), "countersign_approve")
        await alice.wait_for(lambda: alice.state["ephemerals"])
        assert "Only <@UBOB> can approve this." in visible_text(alice.state["ephemerals"][0])
        assert alice.state["ephemerals"][0]["thread_ts"] == ts
        assert bob.state["ephemerals"] == []
        assert has_button(card(bob, GENERAL, ts), "countersign_approve")


async def test_a_question_is_answered_by_replying_in_the_thread(
    playground: Playground, session: aiohttp.ClientSession
) -> None:
    async with live_page(session, playground.url, "UALICE") as alice:
        ts = await alice.say("D0ALICE", "remind me about the meeting")

        def said() -> str:
            return " ".join(alice.bot_texts("D0ALICE", ts))

        await alice.wait_for(lambda: "When is the meeting" in said())
        await alice.say("D0ALICE", "tomorrow at 10", thread_ts=ts)
        await alice.wait_for(lambda: "Reminder: the meeting" in said())


async def test_stop_cuts_a_streaming_answer_short(session: aiohttp.ClientSession) -> None:
    async with (
        open_playground(settings(demo_tokens_per_second=5)) as playground,
        live_page(session, playground.url, "UALICE") as alice,
    ):
        ts = await alice.say(GENERAL, "@countersign hello")

        def answer() -> dict[str, Any]:
            return alice.thread(GENERAL, ts)[1]

        await alice.wait_for(lambda: has_button(answer(), "countersign_stop"))
        await alice.click(answer(), "countersign_stop")
        await alice.wait_for(lambda: "Stopped" in visible_text(answer()))
        assert not has_button(answer(), "countersign_stop")


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"user": "UNOBODY", "channel": GENERAL, "text": "hi"}, 400, "user must be one of"),
        ({"user": "UALICE", "channel": GENERAL, "text": "  "}, 400, "a message has 1 to"),
        ({"user": "UCAROL", "channel": "D0ALICE", "text": "hi"}, 400, "not a member"),
        ({"user": "UALICE", "channel": "C0NOPE", "text": "hi"}, 400, "no conversation"),
    ],
)
async def test_what_a_person_cannot_do_is_refused(
    playground: Playground,
    session: aiohttp.ClientSession,
    body: dict[str, Any],
    status: int,
    says: str,
) -> None:
    async with session.post(f"{playground.url}api/messages", json=body) as resp:
        assert resp.status == status
        assert says in (await resp.json())["error"]


async def test_only_json_is_accepted_and_only_shown_buttons_can_be_clicked(
    playground: Playground, session: aiohttp.ClientSession
) -> None:
    form = {"user": "UALICE", "channel": GENERAL, "text": "hi"}
    async with session.post(f"{playground.url}api/messages", data=form) as resp:
        assert resp.status == 415  # a form from another site cannot post here
    click = {"user": "UALICE", "channel": GENERAL, "ts": "1.2", "action_id": "countersign_approve"}
    async with session.post(f"{playground.url}api/actions", json=click) as resp:
        assert resp.status == 400


def test_typed_names_become_mentions_as_slack_composer_makes_them() -> None:
    ws = SlackEmulator().workspace
    text = "@countersign ask @Bob and @approvers, cc @here; mail bob@example.com @nobody."
    assert mentions_to_markup(text, ws) == (
        "<@UBOT> ask <@UBOB> and <!subteam^S0APPROVERS>, cc <!here>; mail bob@example.com @nobody."
    )


def test_the_page_listens_on_loopback_unless_told_otherwise() -> None:
    assert page_host(settings(host="0.0.0.0")) == "127.0.0.1"
    assert page_host(settings(host="192.168.1.5")) == "192.168.1.5"


# ---- Slack's agent surface, played through the local Slack's Web API (no bot needed) ---------

FEEDBACK = [
    {
        "type": "context_actions",
        "block_id": "feedback-1",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": "answer_feedback",
                "positive_button": {
                    "text": {"type": "plain_text", "text": "Good answer"},
                    "value": "up:a1",
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "Bad answer"},
                    "value": "down:a1",
                },
            }
        ],
    }
]
HOME_VIEW = {
    "type": "home",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*1 request* waiting for you"}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "home_deny",
                    "value": "req-1",
                    "text": {"type": "plain_text", "text": "Deny"},
                }
            ],
        },
    ],
}
REASON_MODAL = {
    "type": "modal",
    "callback_id": "reason",
    "title": {"type": "plain_text", "text": "Deny request"},
    "submit": {"type": "plain_text", "text": "Deny"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason"},
        }
    ],
}


@dataclass
class StandInApp:
    """Stands in for the bot where Slack delivers: acks everything and keeps it, and answers
    as an app does after its ack: publishes Home when opened, opens a modal for Home's Deny."""

    slack: SlackEmulator
    received: list[dict[str, Any]] = field(default_factory=list)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            payload = await request.json()
        else:
            payload = json.loads(str((await request.post())["payload"]))
        self.received.append(payload)
        task = asyncio.create_task(self._answer(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.Response()

    async def _answer(self, payload: dict[str, Any]) -> None:
        client = self.slack.bot_client()
        if payload.get("event", {}).get("type") == "app_home_opened":
            await client.views_publish(user_id=payload["event"]["user"], view=HOME_VIEW)
        elif payload.get("type") == "block_actions" and payload["actions"][0]["action_id"] == (
            "home_deny"
        ):
            await client.views_open(trigger_id=payload["trigger_id"], view=REASON_MODAL)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [p["event"] for p in self.received if p.get("event", {}).get("type") == kind]

    def clicks(self) -> list[dict[str, Any]]:
        return [p for p in self.received if p.get("type") == "block_actions"]


@dataclass
class LocalSlack:
    url: str
    slack: SlackEmulator
    app: StandInApp


@pytest.fixture
async def local() -> AsyncIterator[LocalSlack]:
    """The page in front of the local Slack, which delivers to a stand-in app."""
    async with local_slack() as slack:
        app = StandInApp(slack)
        receiver = web.Application()
        receiver.router.add_post("/slack/events", app.handle)
        runner = web.AppRunner(receiver, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        slack.deliver_to(f"http://{host}:{port}/slack/events")
        try:
            async with serve_page(slack, settings(), "127.0.0.1", 0) as url:
                yield LocalSlack(url, slack, app)
        finally:
            await runner.cleanup()


def around(page: LivePage, channel: str, thread_ts: str) -> dict[str, Any]:
    """What the page shows around a thread: status line, session, title, prompts."""
    return dict(page.state["agent"][channel]["threads"][thread_ts])


def reply(page: LivePage, channel: str, thread_ts: str) -> dict[str, Any]:
    """The bot's first reply in the thread (LookupError until there is one, for wait_for)."""
    for message in page.thread(channel, thread_ts)[1:]:
        if message.get("bot"):
            return message
    raise LookupError(f"no reply from the bot in {thread_ts} yet")


async def test_a_threads_status_line_session_and_native_stream_show_on_the_page(
    local: LocalSlack, session: aiohttp.ClientSession
) -> None:
    client = local.slack.bot_client()
    async with live_page(session, local.url, "UALICE") as alice:
        ts = await alice.say(ALICE_DM, "what changed?")
        await client.agents_sessions_setStatus(
            channel_id=ALICE_DM, thread_ts=ts, status="processing", title="What changed"
        )
        await client.assistant_threads_setStatus(
            channel_id=ALICE_DM, thread_ts=ts, status="is thinking…"
        )
        await alice.wait_for(lambda: around(alice, ALICE_DM, ts)["status"] == "is thinking…")
        assert around(alice, ALICE_DM, ts)["session"] == {
            "status": "processing",
            "title": "What changed",
        }

        started = await client.chat_startStream(
            channel=ALICE_DM, thread_ts=ts, markdown_text="**Two** things"
        )
        await alice.wait_for(lambda: reply(alice, ALICE_DM, ts)["streaming"])
        assert around(alice, ALICE_DM, ts)["status"] is None  # an answer clears it, as in Slack
        await client.chat_appendStream(
            channel=ALICE_DM, ts=started["ts"], markdown_text=" changed."
        )
        await alice.wait_for(lambda: reply(alice, ALICE_DM, ts)["text"].endswith("changed."))
        growing = reply(alice, ALICE_DM, ts)
        assert growing["text"] == "**Two** things changed." and growing["blocks"] == []
        assert growing["streamed"] and growing["streaming"]

        await client.chat_stopStream(
            channel=ALICE_DM, ts=started["ts"], blocks=FEEDBACK, session_status="closed"
        )
        await alice.wait_for(lambda: not reply(alice, ALICE_DM, ts)["streaming"])
        done = reply(alice, ALICE_DM, ts)
        assert done["streamed"] and done["blocks"] == FEEDBACK
        assert around(alice, ALICE_DM, ts)["session"]["status"] == "closed"


async def test_slacks_stop_ends_the_stream_and_tells_the_app(
    local: LocalSlack, session: aiohttp.ClientSession
) -> None:
    client = local.slack.bot_client()
    async with live_page(session, local.url, "UALICE") as alice:
        ts = await alice.say(ALICE_DM, "write me a long answer")
        await client.agents_sessions_setStatus(
            channel_id=ALICE_DM, thread_ts=ts, status="processing"
        )
        started = await client.chat_startStream(
            channel=ALICE_DM, thread_ts=ts, markdown_text="Once"
        )
        await alice.wait_for(lambda: reply(alice, ALICE_DM, ts)["streaming"])

        carol = {"user": "UCAROL", "channel": ALICE_DM, "thread_ts": ts}
        async with session.post(f"{local.url}api/sessions/stop", json=carol) as resp:
            assert resp.status == 400  # not her conversation
        status, answer = await alice.post("api/sessions/stop", channel=ALICE_DM, thread_ts=ts)
        assert status == 200 and answer["ok"], answer
        await alice.wait_for(lambda: not reply(alice, ALICE_DM, ts)["streaming"])
        [stopped] = local.app.events("agent_session_stopped")
        assert (stopped["user"], stopped["channel"], stopped["thread_ts"]) == (
            "UALICE",
            ALICE_DM,
            ts,
        )
        assert stopped["streaming_message_ts"] == [started["ts"]]


async def test_home_opens_with_the_published_view_and_its_buttons_and_modal_work(
    local: LocalSlack, session: aiohttp.ClientSession
) -> None:
    async with live_page(session, local.url, "UALICE") as alice:
        assert alice.state["home"] is None
        status, opened = await alice.post("api/home")
        assert status == 200 and opened["ok"], opened
        assert opened["view"]["blocks"] == HOME_VIEW["blocks"]  # published after the ack
        [event] = local.app.events("app_home_opened")
        assert (event["user"], event["tab"]) == ("UALICE", "home")
        await alice.wait_for(lambda: alice.state["home"] == opened["view"])

        status, clicked = await alice.post("api/home/actions", action_id="home_deny", value="req-1")
        assert status == 200 and clicked["ok"], clicked
        [click] = local.app.clicks()
        assert click["view"]["type"] == "home" and click["user"]["id"] == "UALICE"
        assert click["actions"][0]["value"] == "req-1"
        await alice.wait_for(lambda: alice.state["view"] is not None)
        view = alice.state["view"]
        assert view["title"]["text"] == "Deny request"
        status, submitted = await alice.post(
            f"api/views/{view['id']}/submit",
            values={"reason": {"reason": {"type": "plain_text_input", "value": "not now"}}},
        )
        assert status == 200 and submitted["open"] is False
        await alice.wait_for(lambda: alice.state["view"] is None)

        status, _ = await alice.post("api/home/actions", action_id="home_approve")
        assert status == 400  # not a button Home shows
        status, _ = await alice.post("api/home", tab="about")
        assert status == 400


async def test_feedback_buttons_reach_the_app_as_the_persons_vote(
    local: LocalSlack, session: aiohttp.ClientSession
) -> None:
    client = local.slack.bot_client()
    async with live_page(session, local.url, "UALICE") as alice:
        ts = await alice.say(ALICE_DM, "what changed?")
        posted = await client.chat_postMessage(
            channel=ALICE_DM, thread_ts=ts, text="Two things.", blocks=FEEDBACK
        )
        vote = {"channel": ALICE_DM, "ts": posted["ts"]}
        for positive in (True, False):
            status, answer = await alice.post("api/feedback", **vote, positive=positive)
            assert status == 200 and answer["ok"], answer
        status, _ = await alice.post("api/feedback", **vote)
        assert status == 400  # which thumb?
        votes = [c["actions"][0] for c in local.app.clicks()]
        assert [(v["type"], v["value"]) for v in votes] == [
            ("feedback_buttons", "up:a1"),
            ("feedback_buttons", "down:a1"),
        ]


async def test_suggested_prompts_show_for_the_dm_and_for_a_thread(
    local: LocalSlack, session: aiohttp.ClientSession
) -> None:
    client = local.slack.bot_client()
    prompts = [{"title": "Save a note", "message": "save a note about water"}]
    async with live_page(session, local.url, "UALICE") as alice:
        assert ALICE_DM not in alice.state["agent"]
        await client.assistant_threads_setSuggestedPrompts(
            channel_id=ALICE_DM, prompts=prompts, title="Try"
        )
        await alice.wait_for(lambda: alice.state["agent"][ALICE_DM]["top"]["prompts"])
        assert alice.state["agent"][ALICE_DM]["top"]["prompts"] == {
            "title": "Try",
            "prompts": prompts,
        }
        ts = await alice.say(ALICE_DM, "hi")
        await client.assistant_threads_setSuggestedPrompts(
            channel_id=ALICE_DM, thread_ts=ts, prompts=prompts[::-1]
        )
        await alice.wait_for(lambda: around(alice, ALICE_DM, ts)["prompts"])
        assert around(alice, ALICE_DM, ts)["prompts"]["prompts"] == prompts
    async with live_page(session, local.url, "UBOB") as bob:
        assert ALICE_DM not in bob.state["agent"]  # only what Slack would show bob
