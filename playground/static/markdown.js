// The `markdown` block: standard Markdown (not mrkdwn), to DOM nodes, never through innerHTML.
// Headings, paragraphs, lists, quotes, fenced code, rules; **bold**, *italic*, ~~strike~~,
// `code` and [links](https://…).

import { el } from "./mrkdwn.js";

export function markdown(text) {
  const out = el("div", "markdown");
  const lines = String(text ?? "").split("\n");
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    if (/^```/.test(line)) {
      const body = [];
      for (i += 1; i < lines.length && !/^```/.test(lines[i]); i += 1) body.push(lines[i]);
      i += 1;
      const pre = el("pre", "code-block");
      pre.textContent = body.join("\n");
      out.append(pre);
    } else if (/^#{1,6}\s/.test(line)) {
      const level = /^#+/.exec(line)[0].length;
      const heading = el(`h${Math.min(level + 2, 6)}`);
      heading.append(spans(line.replace(/^#+\s+/, "")));
      out.append(heading);
      i += 1;
    } else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      out.append(el("hr"));
      i += 1;
    } else if (/^\s*>/.test(line)) {
      const quote = el("blockquote");
      for (; i < lines.length && /^\s*>/.test(lines[i]); i += 1) {
        if (quote.childNodes.length) quote.append(el("br"));
        quote.append(spans(lines[i].replace(/^\s*>\s?/, "")));
      }
      out.append(quote);
    } else if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const list = el(ordered ? "ol" : "ul");
      for (; i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i]); i += 1) {
        const item = el("li");
        item.append(spans(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, "")));
        list.append(item);
      }
      out.append(list);
    } else if (!line.trim()) {
      i += 1;
    } else {
      const paragraph = el("p");
      for (; i < lines.length && lines[i].trim() && !startsBlock(lines[i]); i += 1) {
        if (paragraph.childNodes.length) paragraph.append(el("br"));
        paragraph.append(spans(lines[i]));
      }
      out.append(paragraph);
    }
  }
  return out;
}

function startsBlock(line) {
  return /^(```|#{1,6}\s|\s*>|\s*([-*+]|\d+[.)])\s+)/.test(line);
}

const INLINE = [
  [/^`([^`]+)`/, (m) => text("code", m[1])],
  [/^\*\*(.+?)\*\*/, (m) => wrap("strong", m[1])],
  [/^__(.+?)__/, (m) => wrap("strong", m[1])],
  [/^~~(.+?)~~/, (m) => wrap("s", m[1])],
  [/^\*(?!\s)(.+?)\*/, (m) => wrap("em", m[1])],
  [/^_(?!\s)(.+?)_(?!\w)/, (m) => wrap("em", m[1])],
  [/^\[([^\]]+)\]\(([^)\s]+)\)/, (m) => link(m[1], m[2])],
  [/^<(https?:\/\/[^>\s]+)>/, (m) => link(m[1], m[1])],
];

function spans(source) {
  const out = document.createDocumentFragment();
  let plain = "";
  for (let i = 0; i < source.length; ) {
    const rest = source.slice(i);
    const boundary = i === 0 || /[\s(\["'*_~]/.test(source[i - 1]);
    const hit = INLINE.find(([re], n) => (n < 2 || n > 5 || boundary) && re.test(rest));
    if (hit) {
      const match = hit[0].exec(rest);
      if (plain) out.append(document.createTextNode(plain));
      plain = "";
      out.append(hit[1](match));
      i += match[0].length;
    } else {
      plain += source[i];
      i += 1;
    }
  }
  if (plain) out.append(document.createTextNode(plain));
  return out;
}

function text(tag, content) {
  const node = el(tag);
  node.textContent = content;
  return node;
}

function wrap(tag, content) {
  const node = el(tag);
  node.append(spans(content));
  return node;
}

function link(label, href) {
  if (!/^(https?:|mailto:)/i.test(href)) return document.createTextNode(label);
  const anchor = el("a");
  anchor.href = href;
  anchor.target = "_blank";
  anchor.rel = "noopener noreferrer";
  anchor.append(spans(label));
  return anchor;
}
