"""Cut a long answer into pieces that each fit one Slack message, and keep them stable as it grows.

Limits (docs/slack-platform.md §0, §2): chat.update fails with `msg_too_long` near 4,000
characters of `text`, and a section block holds 3,000. A message piece renders to at most
`MESSAGE_LIMIT` = 3,500 characters of mrkdwn, measured in UTF-16 code units (never fewer than
Python's count, whichever way Slack counts). That leaves 500 for the few markers a streamed
frame closes for display, and keeps the `text` fallback under 4,000; the blocks of one message
are that same text cut again at `SECTION_LIMIT` into one or two sections.

Cuts prefer a paragraph break, then a line break, then a space, and fall inside a word only when
a single word is longer than the limit. A cut inside a fenced code block closes the fence at the
end of the piece and reopens it, with the same opening line, at the start of the next.

`AnswerPieces` is the streaming form: it receives the growing text and seals a piece only when
the text no longer fits, so a sealed piece never changes and one Slack message can own it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.formatting import closing_fence, markdown_to_mrkdwn, open_fence

MESSAGE_LIMIT = 3500
SECTION_LIMIT = 3000
_MIN_LIMIT = 20
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")

Measure = Callable[[str], int]


def slack_length(text: str) -> int:
    """Length in UTF-16 code units: at least `len(text)`, so safe whichever way Slack counts."""
    return len(text.encode("utf-16-le")) // 2


def rendered_length(md: str) -> int:
    """How long `md` is once rendered to mrkdwn, which is what Slack receives."""
    return slack_length(markdown_to_mrkdwn(md))


@dataclass(frozen=True, slots=True)
class Piece:
    """One message's share of the answer: `body` is its slice; the fences are repairs."""

    body: str
    prefix: str = ""
    suffix: str = ""

    @property
    def markdown(self) -> str:
        """The piece as Markdown that stands on its own (fences closed and reopened)."""
        return self.prefix + self.body + self.suffix


class AnswerPieces:
    """The growing answer cut into sealed pieces plus a live tail.

    Call `update()` with the whole text so far; it must extend the previous text. Pieces in
    `sealed` are final and never change; `tail` is what the last message shows now.
    """

    def __init__(self, limit: int = MESSAGE_LIMIT, *, measure: Measure = rendered_length) -> None:
        if limit < _MIN_LIMIT:
            raise ValueError(f"limit must be at least {_MIN_LIMIT}, got {limit}")
        self._limit = limit
        self._measure = measure
        # No piece holds more raw text than this, so a seal never renders the whole rest. Markdown
        # shrinks when rendered (markers, padding), but not fourfold outside pathological input.
        self._window = 4 * limit + 64
        self._text = ""
        self._sealed: list[Piece] = []
        self._offset = 0  # where the tail starts in the text
        self._prefix = ""  # fence reopened at the start of the tail

    @property
    def limit(self) -> int:
        """The most each piece may measure."""
        return self._limit

    @property
    def text(self) -> str:
        """Everything received so far."""
        return self._text

    @property
    def sealed(self) -> tuple[Piece, ...]:
        """Pieces that are final: the text after them no longer fits in their message."""
        return tuple(self._sealed)

    @property
    def tail(self) -> Piece:
        """The live piece after the sealed ones (may be empty right after a seal)."""
        return Piece(self._text[self._offset :], self._prefix)

    @property
    def pieces(self) -> list[Piece]:
        """Sealed pieces, then the tail if it holds any text."""
        tail = self.tail
        return [*self._sealed, tail] if tail.body else list(self._sealed)

    def update(self, text: str) -> None:
        """Take the whole text so far and seal whatever no longer fits."""
        if not text.startswith(self._text):
            raise ValueError("the text may only grow: it must start with the previous text")
        self._text = text
        while self._overflows():
            self._seal_one()

    def seal_at(self, end: int) -> bool:
        """Seal the live tail up to `end` (an offset into the text); the rest starts a new piece.

        For an answer that continues in a new message instead of waiting to edit the last one:
        the last message keeps exactly what it shows. False when there is nothing to seal.
        """
        end = min(end, len(self._text))
        if end <= self._offset:
            return False
        body = self._text[self._offset : end]
        self._sealed.append(_close(self._prefix, body))
        fence = open_fence(self._prefix + body)
        self._prefix = fence + "\n" if fence is not None else ""
        self._offset = end
        while self._overflows():
            self._seal_one()
        return True

    def _overflows(self) -> bool:
        tail = self.tail
        return len(tail.body) > self._window or self._measure(tail.markdown) > self._limit

    def _seal_one(self) -> None:
        prefix, rest = self._prefix, self._text[self._offset : self._offset + self._window + 1]

        def fits(cut: int) -> int | None:
            length = self._measure(_close(prefix, rest[:cut]).markdown)
            return length if length <= self._limit else None

        cut = choose_cut(rest, fits, self._limit)
        piece = _close(prefix, rest[:cut])
        self._sealed.append(piece)
        self._offset += cut
        fence = open_fence(prefix + rest[:cut])
        self._prefix = fence + "\n" if fence is not None else ""


def split_for_slack(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut Markdown into pieces that each render to at most `limit` characters of mrkdwn."""
    pieces = AnswerPieces(limit)
    pieces.update(text)
    return [piece.markdown for piece in pieces.pieces]


def split_rendered(mrkdwn: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut already-rendered mrkdwn into chunks for section blocks, by the same rules."""
    pieces = AnswerPieces(limit, measure=slack_length)
    pieces.update(mrkdwn)
    return [piece.markdown for piece in pieces.pieces]


def choose_cut(text: str, fits: Callable[[int], int | None], limit: int) -> int:
    """Where to end the piece that starts `text`: the best break whose piece still fits.

    A paragraph or line break is taken if its piece fills at least half the limit; otherwise
    the latest fitting whitespace; inside a word only when no whitespace break fits at all.
    """
    first_visible = len(text) - len(text.lstrip())

    def breaks(positions: Sequence[int]) -> list[int]:
        return [c for c in positions if first_visible < c < len(text)]

    paragraph = breaks([found.end() for found in _PARAGRAPH.finditer(text)])
    line = breaks([i + 1 for i, char in enumerate(text) if char == "\n"])
    space = breaks([i + 1 for i, char in enumerate(text) if char.isspace()])
    for candidates in (paragraph, line):
        best = _latest_fit(candidates, fits)
        if best is not None and best[1] >= limit // 2:
            return best[0]
    best = _latest_fit(space, fits)
    if best is not None:
        return best[0]
    hard = _latest_fit(range(1, len(text)), fits)
    if hard is None:
        return 1  # the limit is smaller than one character's rendering: still make progress
    entity = _PARTIAL_ENTITY.search(text[: hard[0]])
    if entity is not None and entity.start() > 0 and fits(entity.start()) is not None:
        return entity.start()  # do not cut an `&amp;` in two
    return hard[0]


def _latest_fit(
    candidates: Sequence[int], fits: Callable[[int], int | None]
) -> tuple[int, int] | None:
    """The last candidate whose piece fits, with its length; binary search, checked at the end.

    Rendering is nearly monotonic in length (closing `**` can shrink it), so the search may
    stop short of the very last fit, but whatever it returns has been measured to fit.
    """
    if not candidates:
        return None
    first = fits(candidates[0])
    if first is None:
        return None
    low, low_length, high = 0, first, len(candidates) - 1
    while low < high:
        middle = (low + high + 1) // 2
        length = fits(candidates[middle])
        if length is None:
            high = middle - 1
        else:
            low, low_length = middle, length
    return candidates[low], low_length


def _close(prefix: str, body: str) -> Piece:
    """The piece `prefix + body`, with its fence closed if it ends inside one."""
    fence = open_fence(prefix + body)
    if fence is None:
        return Piece(body, prefix)
    newline = "" if body.endswith("\n") or not (prefix + body) else "\n"
    return Piece(body, prefix, newline + closing_fence(fence))
