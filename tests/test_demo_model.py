"""The demo model's planner: what it says and which tools it calls, for each kind of turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent import tool_results
from agent.demo_model import argument_fragments, chunks, text_tokens
from agent.demo_planner import DemoReply, plan_reply

TOOLS = {"save_note", "search_notes", "ask_human"}
SYSTEM = {"role": "system", "content": "You are Countersign."}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def calls(*made: tuple[str, str, dict[str, Any]], text: str = "") -> dict[str, Any]:
    """An assistant message with these (id, name, arguments) tool calls."""
    return {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {"id": id_, "type": "function", "function": {"name": name, "arguments": json.dumps(a)}}
            for id_, name, a in made
        ],
    }


def result(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def plan(*messages: dict[str, Any], tools: set[str] = TOOLS) -> DemoReply:
    return plan_reply([SYSTEM, *messages], tools)


def made(reply: DemoReply) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, call.arguments) for call in reply.tool_calls]


# ── a person's request ──────────────────────────────────────────────────────────────────────


def test_save_a_note_says_why_then_calls_save_note() -> None:
    reply = plan(user("Save a note about water"))
    assert reply.text == "I'll save a note titled “Water” so the team can find it later."
    assert made(reply) == [
        (
            "save_note",
            {
                "title": "Water",
                "body": "A note about water, saved from the chat so the team can find it.",
            },
        )
    ]


@pytest.mark.parametrize(
    ("request_text", "title", "body"),
    [
        ("note that the deploy is on Friday", "Deploy is on Friday", "The deploy is on Friday."),
        ("remember to call Bob", "Call Bob", "Remember to call Bob."),
        (
            "Remember that the wifi password is tea42.",
            "Wifi password is tea42",
            "The wifi password is tea42.",
        ),
        ("save a note: buy milk", "Buy milk", "Buy milk."),
        (
            "<@U0BOT> please save a note about the Q3 review: numbers due Friday",
            "Q3 review",
            "Numbers due Friday.",
        ),
    ],
)
def test_other_ways_to_ask_for_one_note(request_text: str, title: str, body: str) -> None:
    reply = plan(user(request_text))
    assert made(reply) == [("save_note", {"title": title, "body": body})]
    assert f"“{title}”" in reply.text


def test_save_notes_about_two_things_makes_two_parallel_calls() -> None:
    reply = plan(user("save notes about tea and coffee"))
    assert reply.text == "I'll save 2 notes, “Tea” and “Coffee”, so the team can find them later."
    assert [(name, args["title"]) for name, args in made(reply)] == [
        ("save_note", "Tea"),
        ("save_note", "Coffee"),
    ]
    assert len({call.id for call in reply.tool_calls}) == 2


def test_long_subjects_make_short_capitalised_titles() -> None:
    reply = plan(
        user("save a note about the plan for moving every service to the new cluster in May")
    )
    title = made(reply)[0][1]["title"]
    assert title == "Plan for moving every service to the new…"


@pytest.mark.parametrize(
    ("request_text", "query"),
    [
        ("what did I save about water?", "water"),
        ("find notes about the launch", "the launch"),
        ("search notes for budget", "budget"),
        ("Do we have any notes on hiring?", "hiring"),
    ],
)
def test_search_requests_call_search_notes_without_text(request_text: str, query: str) -> None:
    reply = plan(user(request_text))
    assert reply.text == ""
    assert made(reply) == [("search_notes", {"query": query})]


@pytest.mark.parametrize(
    ("request_text", "question"),
    [
        ("remind me about the meeting", "When is the meeting, and when should I remind you?"),
        (
            "Remind me about my dentist appointment",
            "When is your dentist appointment, and when should I remind you?",
        ),
        ("remind me to call Bob", "When should I remind you to call Bob?"),
        ("can you schedule a sync with Ana", "When should I schedule a sync with Ana?"),
        ("remind me", "What should I remind you about, and when?"),
    ],
)
def test_missing_time_asks_the_person(request_text: str, question: str) -> None:
    reply = plan(user(request_text))
    assert made(reply) == [("ask_human", {"question": question})]


def test_a_reminder_with_a_time_is_saved_directly() -> None:
    reply = plan(user("remind me about the meeting tomorrow at 3pm"))
    assert made(reply) == [
        (
            "save_note",
            {
                "title": "Reminder: the meeting tomorrow at 3pm",
                "body": "Remind me about the meeting tomorrow at 3pm.",
            },
        )
    ]


def test_greeting_gets_a_markdown_overview() -> None:
    reply = plan(user("hello!"))
    assert reply.tool_calls == ()
    assert reply.text.startswith("Hi!")
    assert "- **Save notes**" in reply.text
    assert "- **Search notes**" in reply.text
    assert "approves" in reply.text  # says writes need approval


def test_anything_else_explains_what_it_can_do() -> None:
    reply = plan(user("What's the capital of France?"))
    assert reply.tool_calls == ()
    assert "demo model" in reply.text
    assert "**Ask when something is missing**" in reply.text


def test_only_offered_tools_are_called() -> None:
    assert plan(user("save a note about water"), tools=set()).tool_calls == ()
    assert "`save_note`" in plan(user("save a note about water"), tools=set()).text
    asked = plan(user("remind me about the meeting"), tools={"save_note"})
    assert asked == DemoReply(text="When is the meeting, and when should I remind you?")
    overview = plan(user("hi"), tools={"search_notes"})
    assert "Search notes" in overview.text
    assert "Save notes" not in overview.text


def test_content_parts_are_read_like_text() -> None:
    parts = {"role": "user", "content": [{"type": "text", "text": "save a note about water"}]}
    assert made(plan(parts))[0][1]["title"] == "Water"


# ── tool results ────────────────────────────────────────────────────────────────────────────

WATER = ("call_w", "save_note", {"title": "Water", "body": "Drink more."})


def after_save(content: str) -> DemoReply:
    return plan(user("save a note about water"), calls(WATER, text="…"), result("call_w", content))


def test_after_a_saved_note() -> None:
    reply = after_save("Saved the note “Water”.")
    assert reply == DemoReply(text="Done — saved the note “Water”.")


def test_after_a_denial_without_a_reason() -> None:
    assert after_save(tool_results.denied(None)).text == "Okay, I did not save the note."


def test_after_a_denial_with_a_reason() -> None:
    reply = after_save(tool_results.denied("we keep water notes in the wiki"))
    assert reply.text == (
        "Okay, I did not save the note. Reason given: we keep water notes in the wiki."
    )


def test_after_an_expired_approval() -> None:
    reply = after_save(tool_results.EXPIRED)
    assert reply.text == "Nobody approved saving the note in time, so I did not save it."


def test_after_a_failed_save() -> None:
    reply = after_save(tool_results.error(OSError("disk full")))
    assert reply.text == "Saving failed: OSError: disk full."


def test_after_an_edited_save_names_what_was_really_saved() -> None:
    reply = after_save(f"Saved the note “Sparkling water”.\n{tool_results.EDITED_NOTE}")
    assert reply.text == "Done — saved the note “Sparkling water”, as edited by the approver."


def test_after_a_search_that_found_notes() -> None:
    found = "2 note(s) match “water”:\n- Water: Drink more.\n- Sparkling water: Order crates."
    reply = plan(
        user("what did I save about water?"),
        calls(("call_s", "search_notes", {"query": "water"})),
        result("call_s", found),
    )
    assert reply.tool_calls == ()
    assert reply.text == (
        "Here is what I found about “water”:\n"
        "- Water: Drink more.\n"
        "- Sparkling water: Order crates."
    )


def test_after_a_search_that_found_nothing() -> None:
    reply = plan(
        user("find notes about tea"),
        calls(("call_s", "search_notes", {"query": "tea"})),
        result("call_s", "No saved notes match “tea”."),
    )
    assert reply.text == "I found no notes about “tea”."


def test_after_an_answer_it_proposes_a_reminder() -> None:
    question = "When is the meeting, and when should I remind you?"
    reply = plan(
        user("remind me about the meeting"),
        calls(("call_q", "ask_human", {"question": question})),
        result("call_q", "Tuesday 3pm, remind me at 2"),
    )
    assert "reminder" in reply.text
    assert made(reply) == [
        ("save_note", {"title": "Reminder: the meeting", "body": "Tuesday 3pm, remind me at 2"})
    ]


def test_without_an_answer_it_sets_no_reminder() -> None:
    reply = plan(
        user("remind me about the meeting"),
        calls(("call_q", "ask_human", {"question": "When?"})),
        result("call_q", tool_results.NO_ANSWER),
    )
    assert reply == DemoReply(text="I didn't get an answer, so I have not set a reminder.")


def test_several_results_are_summarised_in_one_reply() -> None:
    tea = ("call_t", "save_note", {"title": "Tea", "body": "Green."})
    coffee = ("call_c", "save_note", {"title": "Coffee", "body": "Black."})
    reply = plan(
        user("save notes about tea and coffee"),
        calls(tea, coffee),
        result("call_t", "Saved the note “Tea”."),
        result("call_c", tool_results.denied("one is enough")),
    )
    assert reply.text == (
        "- Done — saved the note “Tea”.\n"
        "- Okay, I did not save the note “Coffee”. Reason given: one is enough."
    )


# ── determinism and streaming shape ─────────────────────────────────────────────────────────


def test_same_conversation_same_reply_and_new_ids_for_a_new_turn() -> None:
    first = plan(user("save a note about water"))
    assert plan(user("save a note about water")) == first
    later = plan(
        user("save a note about water"),
        calls(("call_w", "save_note", {"title": "Water"})),
        result("call_w", "Saved the note “Water”."),
        {"role": "assistant", "content": "Done — saved the note “Water”."},
        user("save a note about water"),
    )
    assert made(later) == made(first)
    assert later.tool_calls[0].id != first.tool_calls[0].id  # the write ledger keys on it


def test_text_tokens_are_words_with_their_spaces() -> None:
    text = "Hi! I can:\n\n- **save** notes "
    tokens = text_tokens(text)
    assert "".join(tokens) == text
    assert tokens[:3] == ["Hi! ", "I ", "can:\n\n"]


def test_arguments_stream_in_small_fragments() -> None:
    arguments = json.dumps({"title": "Water", "body": "A note about water, saved from the chat."})
    fragments = argument_fragments(arguments)
    assert "".join(fragments) == arguments
    assert all(7 <= len(piece) <= 12 for piece in fragments[:-1])
    assert len(fragments) > 4


def test_chunks_are_text_then_calls_then_the_end() -> None:
    reply = plan(user("save notes about tea and coffee"))
    stream = list(chunks(reply))
    text = "".join(chunk["text"] for chunk in stream)
    assert text == reply.text
    uses = [use for chunk in stream if (use := chunk.get("tool_use")) is not None]
    assert [use["index"] for use in uses if use["id"]] == [0, 1]
    for index, call in enumerate(reply.tool_calls):
        pieces = [use["function"]["arguments"] for use in uses if use["index"] == index]
        assert json.loads("".join(pieces)) == call.arguments
    assert stream[-1]["is_finished"]
    assert stream[-1]["finish_reason"] == "tool_calls"


# ── any tool, in the documented form ────────────────────────────────────────────────────────

TICKETS = {
    "save_note",
    "tickets__list_tickets",
    "tickets__close_ticket",
    "tickets__refund_customer",
}


def test_call_form_calls_an_offered_tool_with_the_json_object() -> None:
    reply = plan(
        user('<@U0BOT> call tickets__close_ticket {"id": 3, "priority": "low"}'), tools=TICKETS
    )
    assert made(reply) == [("tickets__close_ticket", {"id": 3, "priority": "low"})]
    assert reply.text == ""  # the card or the progress line says what is being called


@pytest.mark.parametrize(
    ("request_text", "call"),
    [
        ("use tickets__list_tickets", ("tickets__list_tickets", {})),
        ("please call `tickets__list_tickets`", ("tickets__list_tickets", {})),
        (
            'run the tool tickets__list_tickets with {"status": "all"}',
            ("tickets__list_tickets", {"status": "all"}),
        ),
        (
            "call tickets__list_tickets ```{“status”: “closed”}```",
            ("tickets__list_tickets", {"status": "closed"}),
        ),
        (
            'call tickets__refund_customer {"ticket_id": 4, "amount": 900, "currency": "EUR"}',
            ("tickets__refund_customer", {"ticket_id": 4, "amount": 900, "currency": "EUR"}),
        ),
        (
            'call save_note {"title": "A &amp; B", "body": "x &lt; y"}',
            ("save_note", {"title": "A & B", "body": "x < y"}),
        ),
    ],
)
def test_call_form_variations(request_text: str, call: tuple[str, dict[str, Any]]) -> None:
    assert made(plan(user(request_text), tools=TICKETS)) == [call]


def test_a_tool_that_is_not_offered_is_named_and_the_offered_ones_listed() -> None:
    reply = plan(user('call tickets__delete_ticket {"id": 1}'), tools=TICKETS)
    assert reply.tool_calls == ()
    assert reply.text == (
        "I don't have a tool called `tickets__delete_ticket`. The tools I have are `save_note`, "
        "`tickets__close_ticket`, `tickets__list_tickets`, `tickets__refund_customer`."
    )
    assert "No tools are available" in plan(user("use tickets__list_tickets"), tools=set()).text


@pytest.mark.parametrize(
    ("request_text", "problem"),
    [
        ("call tickets__close_ticket {id: 3}", "not valid JSON (Expecting property name"),
        ('call tickets__close_ticket {"id": 3', "not valid JSON"),
        ("call tickets__close_ticket [3]", "that is a JSON array, not an object"),
        ("call tickets__close_ticket 3", "that is a JSON number, not an object"),
        ("call tickets__close_ticket with id 3 and priority low", "not valid JSON"),
    ],
)
def test_unreadable_arguments_get_a_helpful_reply_not_a_call(
    request_text: str, problem: str
) -> None:
    reply = plan(user(request_text), tools=TICKETS)
    assert reply.tool_calls == ()
    assert reply.text.startswith("I couldn't read the arguments for `tickets__close_ticket`: ")
    assert problem in reply.text
    assert 'for example `call tickets__close_ticket {"argument": "value"}`' in reply.text


def test_ordinary_sentences_with_use_are_not_tool_calls() -> None:
    reply = plan(user("use the notes to plan the launch"), tools=TICKETS)
    assert reply.tool_calls == ()
    assert "I don't have a tool" not in reply.text


@pytest.mark.parametrize(
    "request_text", ["what tools do you have?", "List tools", "which tools can you use", "tools"]
)
def test_asking_for_tools_lists_the_offered_ones(request_text: str) -> None:
    reply = plan(user(request_text), tools=TICKETS)
    assert reply.tool_calls == ()
    assert reply.text == (
        "I can call these tools:\n"
        "- `save_note`\n"
        "- `tickets__close_ticket`\n"
        "- `tickets__list_tickets`\n"
        "- `tickets__refund_customer`\n\n"
        'To call one, say `call <tool> {"argument": "value"}`, '
        "for example `call tickets__close_ticket`."
    )
    assert plan(user(request_text), tools=set()).text == (
        "No tools are available right now, so I can only chat."
    )


def test_the_overview_teaches_the_call_form_with_a_real_tool() -> None:
    overview = plan(user("hi"), tools=TICKETS).text
    assert "- **Call any tool**: say “call tickets__close_ticket”" in overview
    assert "“list tools”" in overview
    assert "Call any tool" not in plan(user("hi"), tools=set()).text


CLOSE = ("call_c", "tickets__close_ticket", {"id": 3, "priority": "low"})


def after_close(content: str) -> str:
    asked = user('call tickets__close_ticket {"id": 3, "priority": "low"}')
    return plan(asked, calls(CLOSE, text="…"), result("call_c", content), tools=TICKETS).text


def test_after_any_tool_its_one_line_answer_is_quoted() -> None:
    assert after_close("Closed ticket #3 “Printer on floor 2 is out of paper”.") == (
        "Done — `tickets__close_ticket` ran and answered: "
        "Closed ticket #3 “Printer on floor 2 is out of paper”."
    )


def test_after_any_tool_a_longer_answer_is_quoted_line_by_line() -> None:
    listing = "2 open ticket(s):\n- #1 [open, high] VPN drops\n\n- #3 [open, low] Printer"
    reply = plan(
        user("use tickets__list_tickets"),
        calls(("call_l", "tickets__list_tickets", {})),
        result("call_l", listing),
        tools=TICKETS,
    )
    assert reply == DemoReply(
        text="`tickets__list_tickets` ran and answered:\n"
        "> 2 open ticket(s):\n> - #1 [open, high] VPN drops\n> - #3 [open, low] Printer"
    )


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (
            tool_results.denied("close it tomorrow"),
            "Okay, `tickets__close_ticket` did not run: it was not approved. "
            "Reason given: close it tomorrow.",
        ),
        (
            tool_results.denied(None),
            "Okay, `tickets__close_ticket` did not run: it was not approved.",
        ),
        (
            tool_results.refused("Deleting is not allowed from Slack."),
            "`tickets__close_ticket` did not run: the approval policy refuses it. "
            "Reason: Deleting is not allowed from Slack.",
        ),
        (
            tool_results.EXPIRED,
            "Nobody approved `tickets__close_ticket` in time, so it did not run.",
        ),
        (
            tool_results.INTERRUPTED,
            "`tickets__close_ticket` did not run: the run was interrupted before it could run.",
        ),
        (
            f"{tool_results.ERROR} There is no ticket #3",
            "`tickets__close_ticket` failed: There is no ticket #3.",
        ),
        (
            f"Closed ticket #4 “VPN”.\n{tool_results.EDITED_NOTE}",
            "Done — `tickets__close_ticket` ran as edited by the approver and answered: "
            "Closed ticket #4 “VPN”.",
        ),
        ("", "Done — `tickets__close_ticket` ran and returned nothing."),
    ],
)
def test_after_any_tool_what_happened_to_it_is_said(content: str, text: str) -> None:
    assert after_close(content) == text


def test_a_note_the_policy_refuses_is_not_reported_saved() -> None:
    reply = after_save(tool_results.refused("Notes are read-only this week."))
    assert reply.text == (
        "I did not save the note: the approval policy refuses it. "
        "Reason: Notes are read-only this week."
    )


def test_tool_call_arguments_stream_as_the_json_that_was_asked_for() -> None:
    reply = plan(
        user('call tickets__refund_customer {"ticket_id": 4, "amount": 900.5}'), tools=TICKETS
    )
    uses = [use for chunk in chunks(reply) if (use := chunk.get("tool_use")) is not None]
    streamed = "".join(use["function"]["arguments"] or "" for use in uses)
    assert json.loads(streamed) == {"ticket_id": 4, "amount": 900.5}
    assert uses[0]["function"]["name"] == "tickets__refund_customer"
