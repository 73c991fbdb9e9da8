"""What each message of a streamed answer shows: its text and Block Kit blocks.

The streamer decides when to send; this decides what. The answer's Markdown is cut into pieces
(bot.splitting), one per message; each piece becomes a `Frame` of sections, and the last one also
carries the live status line, the action blocks while streaming, and the footer at the end.
Frames are plain values, so the streamer can skip an edit that would change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.formatting import escape_mrkdwn, markdown_to_mrkdwn
from bot.splitting import AnswerPieces, Piece, split_rendered

Block = dict[str, Any]

EMPTY_ANSWER = "(no answer)"
MAX_ACTION_BLOCKS = 10  # with up to two sections and two context lines, far below 50 blocks
_LINE_LIMIT = 2000  # status and footer lines; a context element holds 3,000


@dataclass(frozen=True, slots=True)
class Frame:
    """What one message should show; compared to skip edits that change nothing."""

    text: str
    blocks: list[Block]


@dataclass(slots=True)
class Display:
    """The parts of the display that are not the answer text."""

    placeholder: str = ""
    status: str | None = None
    actions: list[Block] | None = None
    footer: str | None = None
    final_actions: list[Block] | None = None
    final: bool = False


class AnswerFrames:
    """One answer's frames; sealed pieces never change, so each is rendered only once."""

    def __init__(self, message_limit: int) -> None:
        self._pieces = AnswerPieces(message_limit)
        self._sealed: list[Frame] = []

    def seal_at(self, text: str, end: int) -> bool:
        """Seal the live piece at offset `end` of `text` (bot.splitting.AnswerPieces.seal_at)."""
        self._pieces.update(text)
        return self._pieces.seal_at(end)

    def frames(self, text: str, display: Display) -> list[Frame]:
        """One frame per message: sealed pieces, then the live tail with status and actions."""
        self._pieces.update(text)
        pieces: list[Piece | None] = list(self._pieces.pieces) or [None]
        last = len(pieces) - 1
        frames: list[Frame] = []
        for index, piece in enumerate(pieces):
            if index == last:
                frames.append(_frame(piece, display, last=True))
                continue
            if index == len(self._sealed):
                self._sealed.append(_frame(piece, display, last=False))
            frames.append(self._sealed[index])
        return frames


def sendable(blocks: list[Block], id_prefix: str) -> list[Block]:
    """Blocks as Slack gets them: fresh block_ids on ours (Slack asks for new ones on update)."""
    return [
        _without_mark({**block, "block_id": f"{id_prefix}-{n}"} if block.get("_ours") else block)
        for n, block in enumerate(blocks)
    ]


def _frame(piece: Piece | None, want: Display, *, last: bool) -> Frame:
    live = last and not want.final
    rendered = markdown_to_mrkdwn(piece.markdown, partial=live) if piece else ""
    blocks: list[Block] = [_section(chunk) for chunk in split_rendered(rendered)]
    if not rendered.strip():
        if live:
            text = _line(want.status or want.placeholder)
            blocks = [_context(text)]
        else:
            text = _line((want.footer or EMPTY_ANSWER) if last else "")
            blocks = [_section(text)]
    else:
        text = rendered
        if live and want.status:
            blocks.append(_context(_line(want.status)))
        if last and want.final and want.footer:
            blocks.append(_context(_line(want.footer)))
    if live and want.actions:
        blocks.extend(want.actions)
    if last and want.final and want.final_actions:
        blocks.extend(want.final_actions)
    return Frame(text, blocks)


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, "_ours": True}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}], "_ours": True}


def _line(text: str) -> str:
    """A status or footer line: plain text, escaped, one line, bounded."""
    flat = " ".join(text.split()) or "…"
    if len(flat) > _LINE_LIMIT:
        flat = flat[: _LINE_LIMIT - 1] + "…"
    return escape_mrkdwn(flat)


def _without_mark(block: Block) -> Block:
    return {k: v for k, v in block.items() if k != "_ours"}
