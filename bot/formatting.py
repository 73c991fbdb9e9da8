"""Turn the model's Markdown into Slack mrkdwn that looks right and cannot ping or spoof.

The model writes standard Markdown; section blocks and `text` speak mrkdwn. Model text is
untrusted, so every character it wrote is escaped (`&`, `<`, `>`), and the only `<...>` in the
output are links this module built from Markdown links with an http(s)/mailto URL. Bare
`@here`/`@channel`/`@everyone` get a zero-width space after the `@` (we never send link_names),
in code too: nothing in code is converted, but it is escaped like everything else.

The conversion is line-based and tolerant of partial text, because it runs on every streamed
frame: an unclosed fence is closed for display, and with `partial=True` an unclosed `**`, `__`,
`~~` or backtick on the last line is closed too, so a half-written word does not flicker.
"""

from __future__ import annotations

import re

_ZWSP = "\u200b"
# No word boundary: "@here__x__" renders as "@here*x*", so every "@here…" gets the space.
_BROADCAST = re.compile(r"@(?=here|channel|everyone)", re.IGNORECASE)
# Private-use characters mark protected spans and emphasis while a line is rewritten; any in the
# model's text are dropped first so they cannot forge one.
_PRIVATE = re.compile("[\ue000-\ue003]")
_HOLE_OPEN, _HOLE_CLOSE, _BOLD, _ITALIC = "\ue000", "\ue001", "\ue002", "\ue003"
_HOLE = re.compile(f"{_HOLE_OPEN}(\\d+){_HOLE_CLOSE}")

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*$")
_TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?: *\1){2,} *$")
_QUOTE = re.compile(r"^ {0,3}>+ ?(.*)$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_TASK = re.compile(r"^\[([ xX])\]\s+")

_LINK = re.compile(
    r"!?\[((?:[^\[\]\\\n]|\\.)*)\]"
    r"\(\s*<?([^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^\s<>|]+)>", re.IGNORECASE)
_SAFE_URL = re.compile(r"^(?:https?://|mailto:)[^\s<>|\"]+$", re.IGNORECASE)
_BACKTICKS = re.compile(r"`+")
_SPECIAL = re.compile(r"[\\`!\[<]")  # where an inline construct can start
_MARKERS = re.compile(r"[*_~]")
_ESCAPABLE = "\\`*_{}[]()#+-.!|~<>&\"'"

_EMPHASIS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*"), f"{_BOLD}{_ITALIC}\\1{_ITALIC}{_BOLD}"),
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), f"{_BOLD}\\1{_BOLD}"),
    (re.compile(r"(?<![\w\\])__(?=\S)(.+?)(?<=\S)__(?!\w)"), f"{_BOLD}\\1{_BOLD}"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), f"{_ITALIC}\\1{_ITALIC}"),
    (re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)"), f"{_ITALIC}\\1{_ITALIC}"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), "~\\1~"),
)
_RULE_TEXT = "──────────"


def escape_mrkdwn(text: str) -> str:
    """Make any text safe to drop into mrkdwn: no mentions, links or broadcasts survive."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@" + _ZWSP, escaped)


def markdown_to_mrkdwn(md: str, *, partial: bool = False) -> str:
    """Render Markdown as mrkdwn; `partial` closes inline markers left open on the last line."""
    lines = _PRIVATE.sub("", md.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _fence_marker(line)
        if marker:
            out.append("```")
            i += 1
            while i < len(lines) and not _closes(marker, lines[i]):
                out.append(_code_line(lines[i]))
                i += 1
            out.append("```")  # the closing fence, or a temporary one for a fence still open
            i += 1
            continue
        end = _table_end(lines, i)
        if end > i:
            out.extend(_render_table(lines[i:end]))
            i = end
            continue
        if partial and i == len(lines) - 1:
            line = _close_dangling(line)
        out.append(_convert_line(line))
        i += 1
    return "\n".join(out)


def open_fence(md: str) -> str | None:
    """The opening line of the fenced code block `md` ends inside, or None when it ends outside."""
    opening: str | None = None
    for line in _PRIVATE.sub("", md.replace("\r\n", "\n").replace("\r", "\n")).split("\n"):
        if opening is None:
            if _fence_marker(line):
                opening = line
        elif _closes(closing_fence(opening), line):
            opening = None
    return opening


def closing_fence(opening: str) -> str:
    """The fence that closes the block opened by `opening` (a line `open_fence` returned)."""
    marker = _fence_marker(opening)
    if marker is None:
        raise ValueError(f"not a fence: {opening!r}")
    return marker


def _fence_marker(line: str) -> str | None:
    """The backticks or tildes opening a fence on `line`, or None (CommonMark, simplified)."""
    opened = _FENCE_OPEN.match(line)
    if opened is None or (opened.group(1)[0] == "`" and "`" in opened.group(2)):
        return None
    return opened.group(1)


def _closes(marker: str, line: str) -> bool:
    closing = _FENCE_CLOSE.match(line)
    if closing is None:
        return False
    return closing.group(1)[0] == marker[0] and len(closing.group(1)) >= len(marker)


def _code_line(line: str) -> str:
    # Slack ends a code block at any ```, so one inside the code is broken with a zero-width space.
    return escape_mrkdwn(line).replace("```", "``" + _ZWSP + "`")


def _table_end(lines: list[str], start: int) -> int:
    """Index after the GFM table starting at `start`, or `start` when there is none."""
    if start + 1 >= len(lines) or "|" not in lines[start]:
        return start
    delimiter = lines[start + 1]
    if "|" not in delimiter or not _TABLE_DELIMITER.match(delimiter):
        return start
    end = start + 2
    while end < len(lines) and "|" in lines[end] and not _fence_marker(lines[end]):
        end += 1
    return end


def _render_table(rows: list[str]) -> list[str]:
    """A table as an aligned code block: mrkdwn has no tables, but monospace lines up."""
    cells = [_table_cells(row) for i, row in enumerate(rows) if i != 1]
    columns = max(len(row) for row in cells)
    widths = [max((len(row[c]) if c < len(row) else 0) for row in cells) for c in range(columns)]

    def fmt(row: list[str]) -> str:
        padded = [(row[c] if c < len(row) else "").ljust(widths[c]) for c in range(columns)]
        return _code_line("| " + " | ".join(padded) + " |")

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return ["```", fmt(cells[0]), rule, *(fmt(row) for row in cells[1:]), "```"]


def _table_cells(row: str) -> list[str]:
    inner = row.strip()
    inner = inner.removeprefix("|")
    if inner.endswith("|") and not inner.endswith("\\|"):
        inner = inner[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _convert_line(line: str) -> str:
    """One line outside code: block syntax at the start, inline syntax in the rest."""
    if _RULE.match(line):
        return _RULE_TEXT
    heading = _HEADING.match(line)
    if heading:
        title = _inline(heading.group(1) or "", bold="")
        return f"*{title}*" if title.strip() else ""
    quote = _QUOTE.match(line)
    if quote:
        # mrkdwn quotes do not nest, so inner `>` markers go. A raw `>` at the start of a line
        # cannot open anything (only `<` can, and that is always escaped).
        inner = quote.group(1)
        while nested := _QUOTE.match(inner):
            inner = nested.group(1)
        return "> " + _convert_line(inner)
    bullet = _BULLET.match(line)
    if bullet:
        indent, rest = bullet.groups()
        task = _TASK.match(rest)
        if task:
            rest = ("☐ " if task.group(1) == " " else "☑ ") + rest[task.end() :]
        return f"{indent}• {_inline(rest)}"
    return _inline(line)


def _inline(text: str, bold: str = "*") -> str:
    """Inline Markdown to mrkdwn; code spans and links are set aside before the rest changes."""
    holes: list[str] = []

    def hole(rendered: str) -> str:
        holes.append(rendered)
        return f"{_HOLE_OPEN}{len(holes) - 1}{_HOLE_CLOSE}"

    parts: list[str] = []
    i = 0
    while i < len(text):
        special = _SPECIAL.search(text, i)
        if special is None:
            parts.append(text[i:])
            break
        parts.append(text[i : special.start()])
        i = special.start()
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPABLE:
            parts.append(hole(escape_mrkdwn(text[i + 1])))
            i += 2
            continue
        if char == "`":
            run = _BACKTICKS.match(text, i)
            assert run is not None
            closing = _find_run(text, run.group(), run.end())
            if closing == -1:
                parts.append(run.group())
                i = run.end()
                continue
            parts.append(hole("`" + escape_mrkdwn(text[run.end() : closing]) + "`"))
            i = closing + len(run.group())
            continue
        if char in "![":
            link = _LINK.match(text, i)
            if link and _SAFE_URL.match(link.group(2)):
                parts.append(hole(_link(link.group(2), link.group(1))))
                i = link.end()
                continue
        if char == "<":
            auto = _AUTOLINK.match(text, i)
            if auto:
                parts.append(hole(f"<{escape_mrkdwn(auto.group(1))}>"))
                i = auto.end()
                continue
        parts.append(char)
        i += 1

    converted = escape_mrkdwn("".join(parts))
    if _MARKERS.search(converted):
        for pattern, replacement in _EMPHASIS:
            converted = pattern.sub(replacement, converted)
        converted = converted.replace(_BOLD, bold).replace(_ITALIC, "_")
    if holes:
        converted = _HOLE.sub(lambda found: holes[int(found.group(1))], converted)
    return converted


def _link(url: str, label: str) -> str:
    """A Slack link; the label is plain text because mrkdwn does not format inside links."""
    plain = re.sub(r"\\(.)", r"\1", label)
    plain = re.sub(r"\*\*|__|~~|`", "", plain).strip()
    if not plain:
        return f"<{escape_mrkdwn(url)}>"
    return f"<{escape_mrkdwn(url)}|{escape_mrkdwn(plain)}>"


def _close_dangling(line: str) -> str:
    """Close inline markers left open at the end of a streamed frame, for display only."""
    code_free: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "\\":
            code_free.append(line[i : i + 2].replace("*", " ").replace("_", " ").replace("~", " "))
            i += 2
            continue
        if line[i] == "`":
            run = _BACKTICKS.match(line, i)
            assert run is not None
            closing = _find_run(line, run.group(), run.end())
            if closing == -1:  # an open code span runs to the end: close it, or drop a bare opener
                rest = line[run.end() :]
                return line + run.group() if rest.strip() else line[: run.start()]
            i = closing + len(run.group())
            continue
        code_free.append(line[i])
        i += 1
    plain = "".join(code_free)
    for marker in ("~~", "__", "**"):
        if plain.count(marker) % 2:
            last = line.rfind(marker)
            if line[last + len(marker) :].strip():
                line += marker
            else:
                line = line[:last] + line[last + len(marker) :]
    return line


def _find_run(text: str, run: str, start: int) -> int:
    """Position of the next backtick run exactly as long as `run`, or -1."""
    position = text.find(run, start)
    while position != -1:
        match = _BACKTICKS.match(text, position)
        assert match is not None
        if match.group() == run:
            return position
        position = text.find(run, match.end())
    return -1
