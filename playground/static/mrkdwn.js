// Slack's mrkdwn to DOM nodes. Text arrives in Slack's wire format (&amp; &lt; &gt; are
// entities, <…> is markup) and is never parsed as HTML: every piece becomes a text node or an
// element built here, so a message can show anything but cannot inject anything.

const EMOJI = {
  white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️", hourglass: "⌛",
  hourglass_flowing_sand: "⏳", eyes: "👀", thinking_face: "🤔", memo: "📝", pencil2: "✏️",
  question: "❓", stop_sign: "🛑", thumbsup: "👍", "+1": "👍", thumbsdown: "👎", tada: "🎉",
  robot_face: "🤖", wave: "👋", rotating_light: "🚨", lock: "🔒", bell: "🔔", sparkles: "✨",
  speech_balloon: "💬", arrows_counterclockwise: "🔄", information_source: "ℹ️",
};
const OPENERS = new Set([..." \t\n([{\"'“‘-–—/:;,.!?"]);
const CLOSERS = new Set([..." \t\n)]}\"'”’-–—/:;,.!?…"]);
const STYLES = { "*": "strong", _: "em", "~": "s" };

/** Decode the three entities Slack escapes; nothing else is special. */
export function decodeEntities(text) {
  return text.replace(/&(lt|gt|amp);/g, (_, name) => ({ lt: "<", gt: ">", amp: "&" })[name]);
}

/** `:name:` → its emoji, for the names above; others stay as typed. */
export function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] ?? whole);
}

export function emojiFor(name) {
  return EMOJI[name] ?? `:${name}:`;
}

/** A DocumentFragment for `text`; `ctx` resolves mentions (see mentionLabel). */
export function mrkdwn(text, ctx) {
  const out = document.createDocumentFragment();
  const source = String(text ?? "");
  const fence = /```([\s\S]*?)```/g;
  let pos = 0;
  for (let match; (match = fence.exec(source)); ) {
    paragraphs(out, source.slice(pos, match.index), ctx);
    const pre = el("pre", "code-block");
    pre.textContent = decodeEntities(match[1].replace(/^\n/, ""));
    out.append(pre);
    pos = fence.lastIndex;
  }
  paragraphs(out, source.slice(pos), ctx);
  return out;
}

/** Lines, with runs of `>` lines as block quotes. */
function paragraphs(out, text, ctx) {
  if (!text) return;
  const lines = text.split("\n");
  let quote = null;
  lines.forEach((line, index) => {
    const quoted = /^(>|&gt;)/.exec(line);
    if (quoted) {
      if (!quote) {
        quote = el("blockquote");
        out.append(quote);
      } else {
        quote.append(document.createElement("br"));
      }
      quote.append(inline(line.slice(quoted[0].length).replace(/^ /, ""), ctx));
      return;
    }
    if (quote) {
      quote = null;
      if (line === "" && index === lines.length - 1) return;
    } else if (index > 0) {
      out.append(document.createElement("br"));
    }
    out.append(inline(line, ctx));
  });
}

/** One line: `code`, <markup>, *bold*, _italic_, ~strike~ (nested), and plain text. */
export function inline(text, ctx) {
  const out = document.createDocumentFragment();
  let plain = "";
  const flush = () => {
    if (plain) out.append(document.createTextNode(emojify(decodeEntities(plain))));
    plain = "";
  };
  for (let i = 0; i < text.length; ) {
    const ch = text[i];
    if (ch === "`") {
      const end = text.indexOf("`", i + 1);
      if (end > i + 1) {
        flush();
        const code = el("code");
        code.textContent = decodeEntities(text.slice(i + 1, end));
        out.append(code);
        i = end + 1;
        continue;
      }
    } else if (ch === "<") {
      const end = text.indexOf(">", i + 1);
      if (end > i + 1) {
        flush();
        out.append(markup(text.slice(i + 1, end), ctx));
        i = end + 1;
        continue;
      }
    } else if (STYLES[ch] && opens(text, i)) {
      const end = closing(text, i);
      if (end > 0) {
        flush();
        const styled = el(STYLES[ch]);
        styled.append(inline(text.slice(i + 1, end), ctx));
        out.append(styled);
        i = end + 1;
        continue;
      }
    }
    plain += ch;
    i += 1;
  }
  flush();
  return out;
}

function opens(text, i) {
  const before = i === 0 ? " " : text[i - 1];
  const after = text[i + 1];
  return OPENERS.has(before) && after !== undefined && !/\s/.test(after) && after !== text[i];
}

function closing(text, start) {
  const marker = text[start];
  for (let j = start + 2; j < text.length; j += 1) {
    if (text[j] === "`" || text[j] === "<") {
      const end = text.indexOf(text[j] === "`" ? "`" : ">", j + 1);
      if (end > j) j = end;
      continue;
    }
    if (text[j] !== marker || /\s/.test(text[j - 1])) continue;
    const after = j + 1 === text.length ? " " : text[j + 1];
    if (CLOSERS.has(after)) return j;
  }
  return -1;
}

/** `<@U…>`, `<#C…|name>`, `<!here>`, `<!subteam^S…>`, `<!date^…|fallback>`, `<url|label>`. */
function markup(inner, ctx) {
  const bar = inner.indexOf("|");
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? "" : decodeEntities(inner.slice(bar + 1));
  if (target.startsWith("@")) {
    const id = target.slice(1);
    return mention(`@${ctx?.userName?.(id) ?? (label || id)}`, id === ctx?.me);
  }
  if (target.startsWith("#")) {
    return mention(`#${label || ctx?.channelName?.(target.slice(1)) || target.slice(1)}`, false);
  }
  if (target.startsWith("!subteam^")) {
    const id = target.slice("!subteam^".length);
    const handle = ctx?.groupHandle?.(id);
    return mention(handle ? `@${handle}` : label || `@${id}`, false);
  }
  if (target.startsWith("!date^")) return date(target, label);
  if (target.startsWith("!")) {
    const name = target.slice(1);
    return mention(["here", "channel", "everyone"].includes(name) ? `@${name}` : label || name, true);
  }
  const href = decodeEntities(target);
  if (/^(https?:|mailto:)/i.test(href)) {
    const link = el("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = label || href.replace(/^mailto:/i, "");
    return link;
  }
  return document.createTextNode(`<${decodeEntities(inner)}>`);
}

function mention(text, loud) {
  const span = el("span", loud ? "mention loud" : "mention");
  span.textContent = text;
  return span;
}

/** `<!date^1700000000^{date_short_pretty} at {time}|fallback>` in the reader's time zone. */
function date(target, fallback) {
  const [, epoch, format = "", link] = target.split("^");
  const when = new Date(Number(epoch) * 1000);
  const span = el("time", "date");
  if (!Number.isFinite(when.getTime())) {
    span.textContent = fallback;
    return span;
  }
  span.dateTime = when.toISOString();
  span.title = when.toString();
  span.textContent = format.replace(/\{(\w+)\}/g, (whole, token) => dateToken(when, token) ?? whole);
  if (link && /^https?:/i.test(link)) {
    const anchor = el("a");
    anchor.href = link;
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
    anchor.append(span);
    return anchor;
  }
  return span;
}

function dateToken(when, token) {
  const fmt = (options) => new Intl.DateTimeFormat(undefined, options).format(when);
  const pretty = (fallback) => {
    const days = Math.round((startOfDay(when) - startOfDay(new Date())) / 86_400_000);
    return { 0: "today", "-1": "yesterday", 1: "tomorrow" }[days] ?? fallback;
  };
  const long = { weekday: "long", year: "numeric", month: "long", day: "numeric" };
  const medium = { year: "numeric", month: "long", day: "numeric" };
  const short = { year: "numeric", month: "short", day: "numeric" };
  switch (token) {
    case "date_num":
      return when.toISOString().slice(0, 10);
    case "date":
      return fmt(medium);
    case "date_short":
      return fmt(short);
    case "date_long":
      return fmt(long);
    case "date_pretty":
      return pretty(fmt(medium));
    case "date_short_pretty":
      return pretty(fmt(short));
    case "date_long_pretty":
      return pretty(fmt(long));
    case "time":
      return fmt({ hour: "numeric", minute: "2-digit" });
    case "time_secs":
      return fmt({ hour: "numeric", minute: "2-digit", second: "2-digit" });
    case "ago":
      return ago(when);
    default:
      return null;
  }
}

function ago(when) {
  const seconds = Math.round((Date.now() - when.getTime()) / 1000);
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const [unit, size] = units.find(([, s]) => Math.abs(seconds) >= s) ?? units[3];
  return new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }).format(-Math.round(seconds / size), unit);
}

function startOfDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

export function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}
