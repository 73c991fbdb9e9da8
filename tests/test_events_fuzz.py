"""POST /slack/events under fire: only 401, 400 or 200, promptly, and never a traceback.

The real bot behind its real HTTP endpoint, fed thousands of seeded requests: unsigned, forged,
stale, with timestamps that are not numbers, signed junk, and signed Slack payloads with fields
removed, swapped for the wrong type or blown up to 100,000 characters (issue 10, pitfall 35).
Then the focused regressions for each bug the issue names.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from bot import cards, feedback
from bot.server import EVENTS_PATH
from playground.slack import Message
from playground.slack.delivery import form_payload
from playground.slack.records import Delivery
from tests.bot_harness import SIGNING_SECRET, SlackBot, slack_bot

SEED = 20_251
REQUESTS = 3_000
CONCURRENCY = 4
PROMPT_SECONDS = 2.0
CHANNEL = "C0GENERAL"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HUGE = "x" * 100_000
HUGE_MENTION = "<@UBOT> é" * 11_000
WRONG: list[Any] = [
    None,
    0,
    -1,
    2**64,
    1.5,
    True,
    "",
    "x",
    HUGE,
    [],
    [1, "a"],
    {},
    {"a": {"b": None}},
    "null",
    "{",
    "[]",
]
"""What a mutation puts where a field was: every JSON type, empty and huge, and JSON-ish text."""
TIMESTAMPS_THAT_ARE_NOT_NUMBERS = ["", "soon", "1.5", "-1", " 17", "1_7", "١٧", "1e9", "9" * 40]
BUTTONS = (
    cards.APPROVE,
    cards.DENY,
    cards.EDIT,
    cards.VIEW_ARGUMENTS,
    cards.STOP,
    cards.RETRY,
    feedback.FEEDBACK,
)
NONEXISTENT = cards.PauseRef("T0001:C0GENERAL:1.000001", "no-such-interrupt").encode()
METADATA_POOL = [
    NONEXISTENT,
    "",
    "{bad",
    "null",
    "[]",
    '{"t": 1, "i": []}',
    '{"t": "x"}',
    '{"t": "x", "i": "y", "text": 5}',
    '{"t": "x", "i": "y", "long": [1]}',
    "[" * 50_000,
    HUGE,
]
VALUE_POOL = [
    *METADATA_POOL,
    cards.item_value(1),
    cards.item_value(10**6),
    '{"i": 1e400}',
    '{"i": -1}',
    '{"i": 100000000000000000000000000000}',
    '{"i": true}',
]


@dataclass
class Fuzzed:
    """One request: its body, and how (or whether) it is signed."""

    kind: str
    body: bytes
    content_type: str = JSON
    unsigned: bool = False
    timestamp: int | str | None = None
    age: int | None = None
    """Seconds before the moment it is sent (stale ones): set then, not when generated."""
    secret: str | None = None
    signature: str | None = None
    expected: frozenset[int] = frozenset({200, 400})


ONLY_401, ONLY_400, ONLY_200 = frozenset({401}), frozenset({400}), frozenset({200})


# --- payloads -------------------------------------------------------------------------------


@dataclass
class World:
    """What the fuzzed payloads point at: a real mention, and the real card it led to."""

    mention_ts: str
    card: Message
    card_value: str


def event_callback(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "emulated-verification-token",
        "team_id": "T0001",
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": "T0001", "user_id": "UBOT", "is_bot": True}
        ],
        "is_ext_shared_channel": False,
    }


def events(world: World) -> list[dict[str, Any]]:
    """Events a fuzzed one starts from. They share their (channel, ts), so the few that stay
    valid after mutation are one message, answered at most once (the bot dedupes)."""
    ts = world.mention_ts
    mention = {
        "type": "app_mention",
        "user": "UALICE",
        "text": "<@UBOT> fuzz",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
        "blocks": [{"type": "rich_text", "elements": []}],
    }
    reply = {**mention, "type": "message", "text": "and then?", "thread_ts": ts, "ts": ts}
    dm = {**mention, "type": "message", "channel": "D0ALICE", "channel_type": "im"}
    edited = {
        "type": "message",
        "subtype": "message_changed",
        "channel": CHANNEL,
        "ts": ts,
        "message": {**mention, "type": "message"},
        "previous_message": {**mention, "type": "message"},
    }
    other = {"type": "reaction_added", "user": "UALICE", "item": {"channel": CHANNEL, "ts": ts}}
    home = {"type": "app_home_opened", "user": "UALICE", "channel": "D0ALICE", "tab": "home"}
    messages_tab = {**home, "tab": "messages"}
    stopped = {
        "type": "agent_session_stopped",
        "user": "UALICE",
        "channel": "D0ALICE",
        "thread_ts": ts,
        "streaming_message_ts": [],
        "event_ts": ts,
    }
    return [mention, reply, dm, edited, other, home, messages_tab, stopped]


def block_actions(world: World, action_id: str, value: str) -> dict[str, Any]:
    card = world.card
    return {
        "type": "block_actions",
        "user": {"id": "UALICE", "username": "alice", "team_id": "T0001"},
        "api_app_id": "A0001",
        "container": {"type": "message", "message_ts": card.ts, "channel_id": CHANNEL},
        "trigger_id": "fuzz.trigger",
        "team": {"id": "T0001", "domain": "emulated"},
        "enterprise": None,
        "channel": {"id": CHANNEL, "name": "general"},
        "message": {
            "type": "message",
            "user": "UBOT",
            "ts": card.ts,
            "thread_ts": card.thread_ts,
            "text": card.text,
            "blocks": copy.deepcopy(card.blocks),
        },
        "state": {"values": {}},
        "response_url": "https://hooks.example/actions/T0001/fuzz",
        "actions": [
            {"action_id": action_id, "block_id": "decide-fuzz", "type": "button", "value": value}
        ],
    }


def view_submission(callback_id: str, metadata: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": "T0001", "domain": "emulated"},
        "user": {"id": "UALICE", "username": "alice", "team_id": "T0001"},
        "api_app_id": "A0001",
        "trigger_id": "fuzz.trigger",
        "view": {
            "id": "VFUZZ",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": metadata,
            "state": {"values": copy.deepcopy(values)},
        },
        "response_urls": [],
    }


DENY_VALUES = {"reason": {"reason": {"type": "plain_text_input", "value": "no thanks"}}}
EDIT_VALUES = {
    "arg:title": {"value": {"type": "plain_text_input", "value": "Tea"}},
    "arg:count": {"value": {"type": "plain_text_input", "value": "[1, {"}},
}


def edit_metadata(ref: str) -> str:
    try:
        data = json.loads(ref)
    except (ValueError, RecursionError):
        return ref
    return json.dumps({**data, "text": ["title"]}) if isinstance(data, dict) else ref


# --- mutations ------------------------------------------------------------------------------


def paths(tree: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON tree, the root included."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from paths(value, (*prefix, index))


def swapped(value: Any) -> Any:
    """The same content in the wrong type."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): item for i, item in enumerate(value)}
    if isinstance(value, str):
        return int(value) if value.isdigit() and len(value) < 20 else [value]
    if isinstance(value, bool | int | float):
        return str(value)
    return {}


def mutate(rng: random.Random, tree: dict[str, Any], times: int) -> dict[str, Any]:
    """`tree` with fields dropped, swapped for the wrong type, replaced or made huge."""
    tree = copy.deepcopy(tree)
    for _ in range(times):
        path = rng.choice(list(paths(tree))[1:])
        *parent_path, last = path
        parent: Any = tree
        for step in parent_path:
            parent = parent[step]
        op = rng.choice(("drop", "drop", "swap", "wrong", "wrong", "huge"))
        if op == "drop":
            del parent[last]
        elif op == "swap":
            parent[last] = swapped(parent[last])
        elif op == "wrong":
            parent[last] = rng.choice(WRONG)
        else:
            parent[last] = rng.choice((HUGE, HUGE_MENTION))
    return tree


# --- the generator --------------------------------------------------------------------------


def junk_bytes(rng: random.Random) -> bytes:
    return rng.choice(
        [
            rng.randbytes(rng.randrange(0, 2_000)),
            b"",
            b"hello",
            b"{",
            b'{"type": "event_callback", "event": ',
            b"\xff\xfe\x00{}",
            b"payload=%7Bnot-json",
            b"payload=%5B1%2C2%5D",
            b"payload=%ZZ%%&&==",
            b"payload=null",
            b"payload=" + b"%5B" * 20_000,
            b"command=%2Ffuzz&text=hi",
            b"ssl_check=0",
            b"[" * 100_000,
            b'{"a": 1}' * 10,
            json.dumps({"type": "x" * 100_000}).encode(),
        ]
    )


def wrong_top_level(rng: random.Random) -> bytes:
    shapes: list[Any] = [
        [],
        [1, 2],
        1,
        "event_callback",
        None,
        True,
        {},
        {"type": 5},
        {"type": None},
        {"type": "event_callback"},
        {"type": "event_callback", "event": "app_mention"},
        {"type": "event_callback", "event": {"type": 7}},
        {"type": "block_actions", "actions": []},
        {"type": "block_actions", "actions": {"0": {"action_id": "x"}}},
        {"type": "view_submission", "view": "countersign_deny_reason"},
        {"type": "view_submission", "view": {"callback_id": 3, "type": "modal"}},
        {"type": "url_verification"},
        {"type": "url_verification", "challenge": ["c"]},
        {"type": "shortcut", "callback_id": "x"},
    ]
    return json.dumps(rng.choice(shapes)).encode()


class Generator:
    """Seeded requests, mixing every kind in the proportions below."""

    def __init__(self, rng: random.Random, world: World) -> None:
        self.rng = rng
        self.world = world
        self.events = events(world)
        self.values = [*VALUE_POOL, world.card_value]
        self.count = 0
        self.kinds: list[tuple[Callable[[], Fuzzed], int]] = [
            (self.unsigned, 6),
            (self.forged, 10),
            (self.stale, 5),
            (self.not_a_number, 7),
            (self.signed_junk, 9),
            (self.signed_wrong_types, 7),
            (self.event, 22),
            (self.click, 16),
            (self.submission, 12),
            (self.plain_click, 5),
            (self.handshake, 1),
        ]

    def next(self) -> Fuzzed:
        self.count += 1
        makers, weights = zip(*self.kinds, strict=True)
        return self.rng.choices(makers, weights)[0]()

    # unsigned and forged: anything at all, refused before it is read

    def any_body(self) -> tuple[bytes, str]:
        made = self.rng.choice((self.signed_junk, self.event, self.click, self.submission))()
        return made.body, made.content_type

    def unsigned(self) -> Fuzzed:
        body, content_type = self.any_body()
        return Fuzzed("unsigned", body, content_type, unsigned=True, expected=ONLY_401)

    def forged(self) -> Fuzzed:
        body, content_type = self.any_body()
        if self.rng.random() < 0.5:
            return Fuzzed("forged", body, content_type, secret="wrong", expected=ONLY_401)
        signature = self.rng.choice(["", "v0=", "v0=" + "0" * 64, "v1=abc", "vé=ü", HUGE[:4000]])
        return Fuzzed("forged", body, content_type, signature=signature, expected=ONLY_401)

    def stale(self) -> Fuzzed:
        body, content_type = self.any_body()
        age = self.rng.choice((310, 3_600, 10**6, -310, -(10**6)))
        return Fuzzed("stale", body, content_type, age=age, expected=ONLY_401)

    def not_a_number(self) -> Fuzzed:
        body, content_type = self.any_body()
        secret = self.rng.choice((None, "wrong"))  # even signed with our secret over it
        when = self.rng.choice(TIMESTAMPS_THAT_ARE_NOT_NUMBERS)
        return Fuzzed(
            "not a number", body, content_type, timestamp=when, secret=secret, expected=ONLY_401
        )

    # signed, and unreadable or of the wrong shape

    def signed_junk(self) -> Fuzzed:
        content_type = self.rng.choice((JSON, FORM, "text/plain", "", "application/json; x"))
        return Fuzzed("signed junk", junk_bytes(self.rng), content_type, expected=ONLY_400)

    def signed_wrong_types(self) -> Fuzzed:
        content_type = self.rng.choice((JSON, FORM))
        body = wrong_top_level(self.rng)
        if content_type == FORM and self.rng.random() < 0.7:
            body = b"payload=" + quote(body.decode(), safe="").encode()
        return Fuzzed("signed wrong types", body, content_type, expected=ONLY_400)

    # signed Slack payloads, mutated

    def event(self) -> Fuzzed:
        event = self.rng.choice(self.events)
        envelope = event_callback(copy.deepcopy(event), f"EvFUZZ{self.count:06d}")
        mutated = mutate(self.rng, envelope, self.rng.choice((0, 1, 1, 2, 3)))
        return Fuzzed("event", json.dumps(mutated).encode())

    def click(self) -> Fuzzed:
        action_id = self.rng.choice((*BUTTONS, "countersign_unknown", "", "x" * 300))
        payload = block_actions(self.world, action_id, self.rng.choice(self.values))
        mutated = mutate(self.rng, payload, self.rng.choice((1, 1, 2, 3)))
        return Fuzzed("click", form_payload(mutated), FORM)

    def submission(self) -> Fuzzed:
        metadata = self.rng.choice([*METADATA_POOL, self.world.card_value])
        callback_id, values = self.rng.choice(
            (
                (cards.DENY_MODAL, DENY_VALUES),
                (cards.EDIT_MODAL, EDIT_VALUES),
                ("countersign_unknown", DENY_VALUES),
            )
        )
        if callback_id == cards.EDIT_MODAL:
            metadata = edit_metadata(metadata)
        payload = view_submission(callback_id, metadata, copy.deepcopy(values))
        mutated = mutate(self.rng, payload, self.rng.choice((0, 1, 1, 2, 3)))
        return Fuzzed("submission", form_payload(mutated), FORM)

    def plain_click(self) -> Fuzzed:
        """Valid-looking clicks on cards, answers and pauses that do not exist."""
        action_id = self.rng.choice(BUTTONS)
        value = self.rng.choice((NONEXISTENT, cards.item_value(self.rng.randrange(1, 10**9))))
        payload = block_actions(self.world, action_id, value)
        return Fuzzed("nonexistent card", form_payload(payload), FORM)

    def handshake(self) -> Fuzzed:
        if self.rng.random() < 0.5:
            return Fuzzed("handshake", b"ssl_check=1&token=x", FORM, expected=ONLY_200)
        body = json.dumps({"type": "url_verification", "challenge": "c", "token": "t"})
        return Fuzzed("handshake", body.encode(), expected=ONLY_200)


# --- sending --------------------------------------------------------------------------------


@dataclass
class Answer:
    fuzzed: Fuzzed
    status: int
    seconds: float


async def send(bot: SlackBot, session: aiohttp.ClientSession, fuzzed: Fuzzed) -> Answer:
    started = time.monotonic()
    if fuzzed.unsigned:
        delivery = await post_unsigned(bot, session, fuzzed.body, fuzzed.content_type)
    else:
        delivery = await bot.slack.post_raw(
            fuzzed.body,
            content_type=fuzzed.content_type,
            timestamp=(  # type: ignore[arg-type]  # a str on purpose
                fuzzed.timestamp if fuzzed.age is None else int(time.time()) - fuzzed.age
            ),
            secret=fuzzed.secret,
            signature=fuzzed.signature,
        )
    return Answer(fuzzed, delivery.status, time.monotonic() - started)


async def post_unsigned(
    bot: SlackBot, session: aiohttp.ClientSession, body: bytes, content_type: str
) -> Delivery:
    """What post_raw cannot send: no X-Slack-Signature or timestamp at all."""
    url = bot.running.url + EVENTS_PATH
    timeout = aiohttp.ClientTimeout(total=3)
    headers = {"Content-Type": content_type}
    async with session.post(url, data=body, headers=headers, timeout=timeout) as response:
        return Delivery(response.status, await response.text(), dict(response.headers))


async def fire(bot: SlackBot, generator: Generator, total: int) -> list[Answer]:
    """`total` requests, at most CONCURRENCY at a time."""
    queue: asyncio.Queue[Fuzzed] = asyncio.Queue()
    for _ in range(total):
        queue.put_nowait(generator.next())
    answers: list[Answer] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            answers.append(await send(bot, session, queue.get_nowait()))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(CONCURRENCY)))
    return answers


def table(answers: list[Answer]) -> str:
    """Status → count, overall and by kind of request."""
    by_status = collections.Counter(answer.status for answer in answers)
    lines = ["status  count", *(f"{s:>6}  {n:>5}" for s, n in sorted(by_status.items()))]
    by_kind = collections.Counter((a.fuzzed.kind, a.status) for a in answers)
    lines += ["", "kind                  status  count"]
    lines += [f"{k:<20}  {s:>6}  {n:>5}" for (k, s), n in sorted(by_kind.items())]
    return "\n".join(lines)


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    """Log records with a traceback: none is expected, whatever the payload named."""
    return [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in records
        if r.exc_info or "Traceback" in r.getMessage()
    ]


async def open_card(bot: SlackBot) -> tuple[Message, Message]:
    """A mention that led to a pending approval card: (the mention, the card)."""
    asked = await bot.say("UALICE", CHANNEL, "<@UBOT> save a note about water")
    card = next(m for m in bot.replies(CHANNEL, asked.ts) if "Approval needed" in m.text)
    return asked, card


def button_value(card: Message, action_id: str) -> str:
    return str(next(b for b in card.buttons() if b["action_id"] == action_id)["value"])


# --- the fuzz test --------------------------------------------------------------------------


async def test_fuzzed_requests_get_only_401_400_or_200_promptly_without_tracebacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with slack_bot(tmp_path) as bot:
        fuzz_target, _ = await bot.slack.user_says("UALICE", CHANNEL, "fuzz", deliver=False)
        _, card = await open_card(bot)
        world = World(fuzz_target.ts, card, button_value(card, cards.APPROVE))
        started = time.monotonic()
        answers = await fire(bot, Generator(random.Random(SEED), world), REQUESTS)
        elapsed = time.monotonic() - started
        print(f"\n{len(answers)} requests in {elapsed:.1f} s\n{table(answers)}")

        unexpected = [
            (a.fuzzed.kind, a.status, a.fuzzed.body[:120])
            for a in answers
            if a.status not in a.fuzzed.expected
        ]
        assert unexpected == []
        assert {a.status for a in answers} <= {200, 400, 401}
        slow = sorted(a.seconds for a in answers if a.seconds > PROMPT_SECONDS)
        assert slow == [], f"{len(slow)} answers took over {PROMPT_SECONDS} s"
        await answered_afterwards(bot)
        assert tracebacks(caplog.records) == []


async def answered_afterwards(bot: SlackBot) -> None:
    """A normal mention still gets a complete answer. Not `bot.say`: that waits for the bot to
    go idle, and the fuzz left it a queue of refusal notices, paced by Slack's rate limits."""
    said, deliveries = await bot.slack.user_says("UALICE", CHANNEL, "<@UBOT> hello again")
    assert [d.status for d in deliveries] == [200, 200]

    def answered() -> bool:
        replies = bot.replies(CHANNEL, said.ts)
        return bool(replies) and not replies[-1].buttons() and "Thinking" not in replies[-1].text

    await bot.wait_for(answered, timeout=20)


# --- the bugs the issue names ---------------------------------------------------------------


def bot_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the bot (and Bolt inside it) logged; not the emulator, not litellm."""
    return [r for r in caplog.records if r.name.startswith(("bot", "slack_bolt", "aiohttp"))]


async def test_an_unsigned_body_that_is_not_json_is_401_in_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path) as bot, aiohttp.ClientSession() as session:
        for body in (b"{not json", b"\xff\xfe junk", b"payload=%7Bnot-json"):
            caplog.clear()
            unsigned = await post_unsigned(bot, session, body, JSON)
            assert unsigned.status == 401
            [line] = bot_lines(caplog)
            assert line.exc_info is None and "unsigned" in line.getMessage()

            caplog.clear()
            forged = await bot.slack.post_raw(body, content_type=FORM, signature="v0=forged")
            assert forged.status == 401
            [line] = bot_lines(caplog)
            assert line.exc_info is None and "signature" in line.getMessage()


async def test_a_timestamp_that_is_not_a_number_is_401_not_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path) as bot:
        for timestamp in TIMESTAMPS_THAT_ARE_NOT_NUMBERS:
            for secret in ("wrong", SIGNING_SECRET):  # forged, and signed over the bad value
                caplog.clear()
                answer = await bot.slack.post_raw(
                    b'{"type": "event_callback"}',
                    content_type=JSON,
                    timestamp=timestamp,  # type: ignore[arg-type]  # a str on purpose
                    secret=secret,
                )
                assert answer.status == 401, timestamp
                [line] = bot_lines(caplog)
                assert line.exc_info is None, timestamp


BROKEN_METADATA: list[Any] = [
    "",
    "{bad",
    "null",
    "[]",
    '{"t": 1, "i": 2}',
    '{"t": "x"}',
    "[" * 50_000,  # deeper than json.loads can go: a RecursionError, not a ValueError
    HUGE,
    None,
    7,
    ["t", "i"],
]


async def test_a_signed_deny_with_broken_private_metadata_decides_nothing_promptly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path) as bot:
        _, card = await open_card(bot)
        pending = await bot.runtime.agent.pending_pauses()
        assert len(pending) == 1
        for callback_id in (cards.DENY_MODAL, cards.EDIT_MODAL):
            for metadata in BROKEN_METADATA:
                payload = view_submission(callback_id, metadata, DENY_VALUES)
                await refused_promptly(bot, caplog, payload, f"{callback_id}: {metadata!r:.20}")
        assert await bot.runtime.agent.pending_pauses() == pending  # nothing decided
        assert bot.slack.message(CHANNEL, card.ts).buttons()  # the card still asks


async def refused_promptly(
    bot: SlackBot, caplog: pytest.LogCaptureFixture, payload: dict[str, Any], what: str
) -> None:
    """Signed, it gets 200 or 400 in under PROMPT_SECONDS, at most one line and no traceback."""
    caplog.clear()
    started = time.monotonic()
    answer = await bot.slack.post_raw(form_payload(payload), content_type=FORM)
    assert answer.status in (200, 400), what
    assert time.monotonic() - started < PROMPT_SECONDS, what
    await bot.wait_for(lambda: bot.runtime.tasks.running == 0)
    assert len(bot_lines(caplog)) <= 1, (what, [r.getMessage() for r in bot_lines(caplog)])
    assert tracebacks(caplog.records) == [], what


def reason_of(payload: dict[str, Any]) -> dict[str, Any]:
    reason: dict[str, Any] = payload["view"]["state"]["values"]["reason"]["reason"]
    return reason


WRONG_TYPES: list[tuple[str, Callable[[dict[str, Any]], object]]] = [
    ("view is a string", lambda p: p.update(view="countersign_deny_reason")),
    ("view has no type", lambda p: p["view"].pop("type")),
    ("view.state is a list", lambda p: p["view"].update(state=[])),
    ("state.values.reason is a list", lambda p: p["view"]["state"]["values"].update(reason=[])),
    ("reason is a number", lambda p: reason_of(p).update(value=5)),
    ("user missing", lambda p: p.pop("user")),
    ("user is null", lambda p: p.update(user=None)),
    ("user is a list", lambda p: p.update(user=["UALICE"])),
    ("user.id is a number", lambda p: p["user"].update(id=7)),
    ("team is a number", lambda p: p.update(team=5)),
]


async def test_a_signed_deny_with_fields_of_the_wrong_type_decides_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path) as bot:
        _, card = await open_card(bot)
        pending = await bot.runtime.agent.pending_pauses()
        for what, change in WRONG_TYPES:
            payload = view_submission(cards.DENY_MODAL, button_value(card, cards.DENY), DENY_VALUES)
            change(payload)
            await refused_promptly(bot, caplog, payload, what)
        assert await bot.runtime.agent.pending_pauses() == pending
        assert bot.slack.message(CHANNEL, card.ts).buttons()


async def test_clicks_without_a_usable_action_are_answered_not_404_or_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path) as bot:
        _, card = await open_card(bot)
        world = World(card.ts, card, button_value(card, cards.APPROVE))
        for actions in (
            [],
            [{"action_id": cards.APPROVE}],
            [{"action_id": "countersign_unknown", "value": "1"}],
            [{"action_id": cards.APPROVE, "value": ["not", "text"]}],
            [{"action_id": cards.APPROVE, "value": world.card_value}, "second"],
        ):
            payload = {**block_actions(world, cards.APPROVE, ""), "actions": actions}
            await refused_promptly(bot, caplog, payload, repr(actions))
        assert bot.slack.message(CHANNEL, card.ts).buttons()


async def test_a_forged_trigger_on_a_real_card_is_one_warning_not_a_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path) as bot:
        _, card = await open_card(bot)
        world = World(card.ts, card, button_value(card, cards.DENY))
        payload = block_actions(world, cards.DENY, world.card_value)
        caplog.clear()
        answer = await bot.slack.post_raw(form_payload(payload), content_type=FORM)
        assert answer.status == 200
        await bot.idle()
        assert tracebacks(caplog.records) == []
        assert bot.slack.views == []


async def test_an_event_type_nobody_subscribed_to_is_acked(tmp_path: Path) -> None:
    async with slack_bot(tmp_path) as bot:
        for event in (
            {"type": "assistant_thread_started"},  # Bolt reads `assistant_thread` unchecked
            {"type": "reaction_added", "user": "UALICE", "item": {"channel": CHANNEL}},
        ):
            body = json.dumps(event_callback(event, "EvOTHER")).encode()
            assert (await bot.slack.post_raw(body, content_type=JSON)).status == 200


async def test_a_stop_button_naming_a_number_too_large_for_the_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path) as bot:
        _, card = await open_card(bot)
        world = World(card.ts, card, "")
        for action_id in (cards.STOP, cards.RETRY):
            value = json.dumps({"i": 10**30})
            payload = block_actions(world, action_id, value)
            answer = await bot.slack.post_raw(form_payload(payload), content_type=FORM)
            assert answer.status == 200
        await bot.idle()
        assert tracebacks(caplog.records) == []


async def test_socket_mode_acks_what_it_cannot_read_instead_of_leaving_slack_waiting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Over Socket Mode a listener that raises before acking sends nothing: Slack waits 3 s."""
    async with slack_bot(tmp_path, slack_app_token="xapp-test-token") as bot:
        await open_card(bot)
        pending = await bot.runtime.agent.pending_pauses()
        for callback_id in (cards.DENY_MODAL, cards.EDIT_MODAL):
            for metadata in ("[" * 50_000, "{bad", None):
                caplog.clear()
                started = time.monotonic()
                payload = view_submission(callback_id, metadata, DENY_VALUES)
                delivered = await bot.slack.deliver_interactive(payload)
                assert delivered.status == 200  # acked over the websocket, not timed out
                assert time.monotonic() - started < PROMPT_SECONDS
                assert tracebacks(caplog.records) == []
        assert await bot.runtime.agent.pending_pauses() == pending
        await answered_afterwards(bot)


async def test_url_verification_still_answers_the_challenge(tmp_path: Path) -> None:
    async with slack_bot(tmp_path) as bot:
        body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
        answer = await bot.slack.post_raw(body.encode(), content_type=JSON)
        assert answer.status == 200
        assert answer.json() == {"challenge": "abc123"}
