"""Markdown → Slack mrkdwn: what people see formatted, and what hostile model text cannot do."""

from __future__ import annotations

import random
import re

import pytest

from bot.formatting import closing_fence, escape_mrkdwn, markdown_to_mrkdwn, open_fence

ZWSP = "\u200b"
# A link this module generates: the only `<...>` allowed in the output.
GENERATED_LINK = re.compile(r"<(?:https?://|mailto:)[^\s<>|]+(?:\|[^<>]*)?>", re.IGNORECASE)


def assert_inert(rendered: str) -> None:
    """No bracket construct other than generated links, no live broadcast word."""
    without_links = GENERATED_LINK.sub("", rendered)
    assert "<" not in without_links
    for line in without_links.split("\n"):
        assert ">" not in line.removeprefix("> ")
    assert not re.search(r"@(here|channel|everyone)", rendered, re.IGNORECASE)


@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ("**bold**", "*bold*"),
        ("__bold__", "*bold*"),
        ("*italic*", "_italic_"),
        ("_italic_", "_italic_"),
        ("~~strike~~", "~strike~"),
        ("***both***", "*_both_*"),
        ("*it has **bold** inside*", "_it has *bold* inside_"),
        ("a **b** c *d* e", "a *b* c _d_ e"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("# Title", "*Title*"),
        ("### Title with **bold** ###", "*Title with bold*"),
        ("#hashtag is not a heading", "#hashtag is not a heading"),
        ("- one\n- two", "• one\n• two"),
        ("* one\n+ two", "• one\n• two"),
        ("- top\n  - nested\n    - deeper", "• top\n  • nested\n    • deeper"),
        ("- [ ] todo\n- [x] done", "• ☐ todo\n• ☑ done"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted **text**", "> quoted *text*"),
        ("> - quoted item", "> • quoted item"),
        ("> > nested\n>> also", "> nested\n> also"),
        ("---", "──────────"),
        ("line one\n\nline two", "line one\n\nline two"),
        ("inline `code **not bold**` here", "inline `code **not bold**` here"),
        ("``a ` b``", "`a ` b`"),
        (r"\*not italic\*", "*not italic*"),
    ],
)
def test_markdown_becomes_mrkdwn(md: str, expected: str) -> None:
    """Each Markdown construct renders as its mrkdwn equivalent."""
    assert markdown_to_mrkdwn(md) == expected


@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ("[docs](https://example.com/a)", "<https://example.com/a|docs>"),
        ("[docs](http://example.com)", "<http://example.com|docs>"),
        ("[mail me](mailto:a@example.com)", "<mailto:a@example.com|mail me>"),
        ("[q](https://e.com/?a=1&b=2)", "<https://e.com/?a=1&amp;b=2|q>"),
        ("[a <b> & c](https://e.com)", "<https://e.com|a &lt;b&gt; &amp; c>"),
        ("[**bold label**](https://e.com)", "<https://e.com|bold label>"),
        ("[](https://e.com)", "<https://e.com>"),
        ("![chart](https://e.com/c.png)", "<https://e.com/c.png|chart>"),
        (
            "[wiki](https://en.wikipedia.org/wiki/A_(b))",
            "<https://en.wikipedia.org/wiki/A_(b)|wiki>",
        ),
        ('[t](https://e.com "title")', "<https://e.com|t>"),
        ("<https://e.com/x>", "<https://e.com/x>"),
    ],
)
def test_links_become_slack_links(md: str, expected: str) -> None:
    """Markdown links with a web or mail URL become `<url|label>` with an escaped label."""
    assert markdown_to_mrkdwn(md) == expected


@pytest.mark.parametrize(
    "md",
    [
        "[click](javascript:alert(1))",
        "[x](ftp://host/file)",
        "[x](/relative/path)",
        "[x](https://e.com|spoof)",
        "<https://e.com|spoof>",
        "<http://evil.example|your bank>",
    ],
)
def test_unsafe_links_stay_text(md: str) -> None:
    """Links with other schemes, or with a `|` that could relabel them, are not links."""
    rendered = markdown_to_mrkdwn(md)
    assert GENERATED_LINK.search(rendered) is None
    assert_inert(rendered)


@pytest.mark.parametrize(
    ("md", "expected"),
    [
        ("<!here>", "&lt;!here&gt;"),
        ("<!channel> now", "&lt;!channel&gt; now"),
        ("<!everyone>", "&lt;!everyone&gt;"),
        ("<!subteam^S1>", "&lt;!subteam^S1&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<#C1>", "&lt;#C1&gt;"),
        ("<http://evil|label>", "&lt;http://evil|label&gt;"),
        ("a & b", "a &amp; b"),
        ("already &lt; escaped", "already &amp;lt; escaped"),
        ("@here look", f"@{ZWSP}here look"),
        ("@Channel and @EVERYONE", f"@{ZWSP}Channel and @{ZWSP}EVERYONE"),
        ("@heretic too", f"@{ZWSP}heretic too"),
        ("**<!here>**", "*&lt;!here&gt;*"),
        ("`<!here>`", "`&lt;!here&gt;`"),
        ("`@here`", f"`@{ZWSP}here`"),
        ("# <!channel>", "*&lt;!channel&gt;*"),
        ("- <@U1>", "• &lt;@U1&gt;"),
        ("\ue000" + "0\ue001", "0"),
    ],
)
def test_hostile_text_is_neutralised(md: str, expected: str) -> None:
    """Mentions, broadcasts and hand-written links from the model cannot ping or link."""
    assert markdown_to_mrkdwn(md) == expected


def test_escape_mrkdwn_escapes_in_order_and_breaks_broadcasts() -> None:
    """`&` first so entities are not double-escaped, then `<` and `>`; broadcasts get a ZWSP."""
    assert escape_mrkdwn("<&>") == "&lt;&amp;&gt;"
    assert escape_mrkdwn("ping @here <!here>") == f"ping @{ZWSP}here &lt;!here&gt;"


def test_fenced_code_is_kept_escaped_and_unconverted() -> None:
    """Inside a fence nothing is converted, the language tag goes, and `< > &` are escaped."""
    md = "```python\nx = '**y**' <@U1> & z\n```\nafter **b**"
    assert markdown_to_mrkdwn(md) == "```\nx = '**y**' &lt;@U1&gt; &amp; z\n```\nafter *b*"


def test_tilde_fence_and_backticks_inside_code() -> None:
    """A ~~~ fence renders as ``` and a ``` inside the code cannot end Slack's block early."""
    rendered = markdown_to_mrkdwn("~~~\nprint('```')\n~~~")
    assert rendered == f"```\nprint('``{ZWSP}`')\n```"


def test_unclosed_fence_is_closed_for_display() -> None:
    """A fence still open at the end (streaming) shows as a code block, closed temporarily."""
    assert markdown_to_mrkdwn("text\n```js\nlet a = 1 <") == "text\n```\nlet a = 1 &lt;\n```"


def test_partial_text_closes_dangling_markers() -> None:
    """On a streamed frame an unclosed `**`, `~~` or backtick at the end does not show raw."""
    assert markdown_to_mrkdwn("Hello **wor", partial=True) == "Hello *wor*"
    assert markdown_to_mrkdwn("Hello **", partial=True) == "Hello "
    assert markdown_to_mrkdwn("run `ls -", partial=True) == "run `ls -`"
    assert markdown_to_mrkdwn("so ~~old", partial=True) == "so ~old~"
    assert markdown_to_mrkdwn("a **b** c", partial=True) == "a *b* c"
    assert markdown_to_mrkdwn("Hello **wor") == "Hello **wor"


def test_partial_closing_applies_to_last_line_only() -> None:
    """Earlier lines are complete; only the line being written is repaired."""
    assert markdown_to_mrkdwn("a **b\nc **d", partial=True) == "a **b\nc *d*"


def test_table_becomes_aligned_code_block() -> None:
    """mrkdwn has no tables: a table becomes a monospace block whose columns line up.

    Widths count the characters people see, so `&lt;` pads like the `<` it displays as.
    """
    md = "Intro\n| name | qty |\n|---|--:|\n| apple | 3 |\n| kiwi <b> | 12 |\nafter"
    assert markdown_to_mrkdwn(md) == (
        "Intro\n```\n"
        "| name     | qty |\n"
        "|----------|-----|\n"
        "| apple    | 3   |\n"
        "| kiwi &lt;b&gt; | 12  |\n"
        "```\nafter"
    )


def test_pipes_without_delimiter_row_are_text() -> None:
    """A line with pipes but no `|---|` row under it is just text."""
    assert markdown_to_mrkdwn("a | b\nc | d") == "a | b\nc | d"


def test_open_fence_tracks_the_enclosing_block() -> None:
    """`open_fence` names the fence a text ends inside, which the splitter repairs."""
    assert open_fence("text") is None
    assert open_fence("```py\ncode") == "```py"
    assert open_fence("```py\ncode\n```\n") is None
    assert open_fence("````\n```\nstill code") == "````"
    assert open_fence("~~~\n```\n") == "~~~"
    assert closing_fence("```py") == "```"
    assert closing_fence("  ~~~~ x") == "~~~~"
    with pytest.raises(ValueError, match="not a fence"):
        closing_fence("text")


HOSTILE_TOKENS = [
    "<!here>",
    "<!channel>",
    "<!everyone>",
    "<!subteam^S1|@team>",
    "<@U123>",
    "<#C1|general>",
    "<http://evil|label>",
    "<https://ok.example>",
    "[ok](https://ok.example)",
    "[x](javascript:1)",
    "@here",
    "@channel",
    "@everyone",
    "&",
    "&lt;",
    "<",
    ">",
    "**",
    "*",
    "_",
    "__",
    "~~",
    "`",
    "```",
    "```py",
    "\n",
    "\n\n",
    "# ",
    "- ",
    "> ",
    "| a | b |",
    "|---|---|",
    "\\",
    "[",
    "](",
    ")",
    " ",
    "word",
    "\ue000",
    "\ue001",
    "\ue002",
    "1",
    "[l](https://e.com/<!here>)",
    "<mailto:a@b.c>",
]


def test_random_hostile_text_stays_inert_in_every_prefix() -> None:
    """Whatever the model writes, and at every streamed prefix, nothing can ping or spoof."""
    rng = random.Random(20240517)
    for _ in range(300):
        md = "".join(rng.choice(HOSTILE_TOKENS) for _ in range(rng.randint(1, 40)))
        for end in range(0, len(md) + 1, max(1, len(md) // 7)):
            assert_inert(markdown_to_mrkdwn(md[:end], partial=True))
        assert_inert(markdown_to_mrkdwn(md))
