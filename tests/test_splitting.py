"""Splitting long answers into Slack-sized pieces: nothing lost, nothing doubled, stable."""

from __future__ import annotations

import itertools
import random

import pytest

from bot.formatting import markdown_to_mrkdwn
from bot.splitting import (
    MESSAGE_LIMIT,
    SECTION_LIMIT,
    AnswerPieces,
    Piece,
    rendered_length,
    slack_length,
    split_for_slack,
    split_rendered,
)

WORDS = ["alpha", "beta", "gamma", "**bold**", "`code`", "<!here>", "&", "naïve", "🙂", "x" * 30]
BREAKS = [" ", " ", " ", " ", "\n", "\n\n", "\n- ", "\n```py\nprint(1)\n```\n", "\n| a | b |\n"]


def random_answer(rng: random.Random, size: int) -> str:
    """Markdown-ish text with words, breaks, fences, hostile bits and astral characters."""
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(WORDS))
        parts.append(rng.choice(BREAKS))
    return "".join(parts)[:size]


def feed(pieces: AnswerPieces, text: str, rng: random.Random) -> list[tuple[Piece, ...]]:
    """Grow the text in random steps, as a stream would; return `sealed` after each step."""
    history: list[tuple[Piece, ...]] = []
    end = 0
    while end < len(text):
        end = min(len(text), end + rng.randint(1, 120))
        pieces.update(text[:end])
        history.append(pieces.sealed)
    return history


def test_short_text_is_one_piece() -> None:
    """Text that fits stays one piece, unchanged."""
    assert split_for_slack("Hello **world**") == ["Hello **world**"]
    assert split_for_slack("") == []


def test_prefers_paragraph_breaks() -> None:
    """Given paragraphs, each piece ends at a paragraph break."""
    paragraphs = [f"Paragraph {i}. " + "word " * 150 for i in range(10)]
    text = "\n\n".join(paragraphs)
    pieces = split_for_slack(text, limit=2000)
    assert len(pieces) > 1
    for piece in pieces[:-1]:
        assert piece.endswith("\n\n")
    assert "".join(pieces) == text


def test_falls_back_to_lines_then_spaces() -> None:
    """Without paragraphs it cuts at line ends; without lines, at spaces, never inside a word."""
    lines = "\n".join(f"line {i} " + "abc " * 20 for i in range(200))
    for piece in split_for_slack(lines, limit=1000)[:-1]:
        assert piece.endswith("\n")
    words = " ".join(f"w{i:05d}" for i in range(3000))
    pieces = split_for_slack(words, limit=1000)
    assert "".join(pieces) == words
    for piece in pieces[:-1]:
        assert piece.endswith(" ")


def test_a_word_longer_than_the_limit_is_cut() -> None:
    """Only a single word longer than the limit is cut inside; the words around it are not."""
    text = "short words here " + "y" * 2500 + " and after"
    pieces = split_for_slack(text, limit=1000)
    assert pieces[0] == "short words here "
    assert "".join(pieces) == text
    assert all(rendered_length(piece) <= 1000 for piece in pieces)


def test_hostile_characters_count_after_escaping() -> None:
    """`<` costs four characters once escaped; pieces are measured as rendered, entities whole."""
    text = "<" * 3000
    pieces = split_for_slack(text, limit=1000)
    assert "".join(pieces) == text
    for piece in pieces:
        rendered = markdown_to_mrkdwn(piece)
        assert slack_length(rendered) <= 1000
        assert rendered.replace("&lt;", "") == ""


def test_code_fence_is_closed_and_reopened() -> None:
    """A cut inside a fence closes it at the end of the piece and reopens it, same fence."""
    code = "\n".join(f"print({i})  # <{i}>" for i in range(300))
    text = f"Intro\n\n````python\n{code}\n````\nOutro"
    pieces = AnswerPieces(1000)
    pieces.update(text)
    all_pieces = pieces.pieces
    assert len(all_pieces) > 2
    assert "".join(piece.body for piece in all_pieces) == text
    for before, after in itertools.pairwise(all_pieces):
        if before.suffix:
            assert before.suffix.strip() == "````"
            assert after.prefix == "````python\n"
    for piece in all_pieces:
        rendered = markdown_to_mrkdwn(piece.markdown)
        assert rendered.count("```") % 2 == 0
        assert slack_length(rendered) <= 1000


def test_random_answers_split_losslessly_within_limits() -> None:
    """Bodies concatenate to the input exactly; every piece renders within the limit."""
    rng = random.Random(7)
    for _ in range(40):
        limit = rng.choice([120, 500, 1500, MESSAGE_LIMIT])
        text = random_answer(rng, rng.randint(0, 12_000))
        pieces = AnswerPieces(limit)
        pieces.update(text)
        assert "".join(piece.body for piece in pieces.pieces) == text
        for piece in pieces.pieces:
            assert rendered_length(piece.markdown) <= limit
            assert piece.body.strip()


def test_sealed_pieces_never_change_while_streaming() -> None:
    """As the text grows, a sealed piece stays exactly as it was sealed."""
    rng = random.Random(11)
    for _ in range(15):
        text = random_answer(rng, rng.randint(2000, 15_000))
        pieces = AnswerPieces(rng.choice([300, 1200, MESSAGE_LIMIT]))
        history = feed(pieces, text, rng)
        for earlier, later in itertools.pairwise(history):
            assert later[: len(earlier)] == earlier
        assert "".join(piece.body for piece in pieces.pieces) == text
        assert all(rendered_length(p.markdown) <= pieces.limit for p in pieces.pieces)


def test_tail_is_what_follows_the_sealed_pieces() -> None:
    """The tail holds the unsealed rest; right after a seal it may be empty."""
    pieces = AnswerPieces(100)
    pieces.update("a " * 40)
    assert pieces.sealed == ()
    assert pieces.tail.body == "a " * 40
    pieces.update("a " * 80)
    assert pieces.sealed
    assert "".join(p.body for p in pieces.sealed) + pieces.tail.body == "a " * 80


def test_text_may_only_grow() -> None:
    """Changing text that was already received is refused: sealed pieces are promises."""
    pieces = AnswerPieces(100)
    pieces.update("hello")
    with pytest.raises(ValueError, match="only grow"):
        pieces.update("help")
    with pytest.raises(ValueError, match="at least"):
        AnswerPieces(5)


def test_split_rendered_fits_section_blocks() -> None:
    """Rendered mrkdwn is cut for 3,000-character sections without breaking an entity."""
    rendered = markdown_to_mrkdwn("<&> " * 2000 + "\n```\n" + "code line\n" * 400 + "```")
    chunks = split_rendered(rendered)
    assert len(chunks) > 1
    for chunk in chunks:
        assert slack_length(chunk) <= SECTION_LIMIT
        assert chunk.count("```") % 2 == 0
    assert split_rendered("&lt;" * 1000, limit=30)[0] == "&lt;" * 7


def test_slack_length_counts_utf16_units() -> None:
    """Astral characters count twice, so the limit holds however Slack counts."""
    assert slack_length("abc") == 3
    assert slack_length("🙂") == 2
