// One message as Slack lays it out: avatar, name, time, the blocks (or the text when there are
// none; a native stream's markdown text above its blocks, marked while it grows), reactions, and
// under a thread's parent its reply count and the app's status line. Ephemeral messages say that
// only you can see them.

import { sessionBadge, statusLine } from "./agent.js";
import { renderBlocks } from "./blocks.js";
import { markdown } from "./markdown.js";
import { el, emojiFor, mrkdwn } from "./mrkdwn.js";

/**
 * ctx: { names, onAction(message, element, blockId), onFeedback(message, positive),
 *        openThread(ts) | null }
 * extra: { ephemeral, replies: [messages] | null, agent: the thread's agent entry | undefined }
 */
export function messageItem(message, ctx, extra = {}) {
  const author = message.user ?? "";
  const item = el("li", "message");
  item.classList.toggle("from-bot", Boolean(message.bot || extra.ephemeral));
  item.classList.toggle("ephemeral", Boolean(extra.ephemeral));
  item.dataset.ts = message.ts;
  const avatar = el("div", "avatar");
  const name = extra.ephemeral ? ctx.names.userName(ctx.names.bot) : ctx.names.userName(author) ?? author;
  avatar.textContent = (name || "?").charAt(0).toUpperCase();
  avatar.style.setProperty("--hue", String(hue(extra.ephemeral ? ctx.names.bot : author)));
  const content = el("div", "content");
  const meta = el("div", "meta");
  const who = el("span", "author");
  who.textContent = name;
  meta.append(who);
  if (message.bot || extra.ephemeral) {
    const badge = el("span", "app-badge");
    badge.textContent = "APP";
    meta.append(badge);
  }
  const time = el("time");
  time.textContent = clock(message.at);
  time.title = new Date(message.at * 1000).toString();
  meta.append(time);
  content.append(meta);
  if (extra.ephemeral) {
    const only = el("div", "only-you");
    only.textContent = "👁 Only visible to you";
    content.append(only);
  }
  const body = el("div", "body");
  const blockCtx = {
    names: ctx.names,
    onAction: (element, blockId) => ctx.onAction(message, element, blockId),
    onFeedback: ctx.onFeedback && ((positive) => ctx.onFeedback(message, positive)),
  };
  if (message.streamed) {
    const text = markdown(message.text);
    text.classList.add("bk-markdown");
    body.append(text, renderBlocks(message.blocks, blockCtx));
  } else {
    body.append(typed(message) ? mrkdwn(message.text, ctx.names) : renderBlocks(message.blocks, blockCtx));
  }
  content.append(body);
  if (message.streaming) content.append(streamingMark());
  if (message.reactions?.length) content.append(reactions(message.reactions, ctx.names.me));
  if (extra.replies?.length && ctx.openThread) content.append(threadSummary(message, extra, ctx));
  if (ctx.openThread && extra.agent?.status) {
    content.append(statusLine(extra.agent.status, ctx.names.app));
  }
  item.append(avatar, content);
  return item;
}

/** A native stream still growing (chat.startStream, not yet stopped or expired). */
function streamingMark() {
  const mark = el("div", "streaming");
  mark.textContent = "streaming";
  mark.title = "a native stream: the text grows until the app stops it";
  return mark;
}

/** Shown from its text: no blocks, or a person's typing (the local Slack sends their text as
 * unstyled rich_text, where Slack's own composer would have styled *bold* and the like). */
function typed(message) {
  if (!message.blocks?.length) return true;
  return !message.bot && message.blocks.every((block) => block.type === "rich_text");
}

function reactions(list, me) {
  const row = el("div", "reactions");
  for (const reaction of list) {
    const chip = el("span", reaction.users.includes(me) ? "reaction mine" : "reaction");
    chip.textContent = `${emojiFor(reaction.name)} ${reaction.users.length}`;
    chip.title = `:${reaction.name}:`;
    row.append(chip);
  }
  return row;
}

function threadSummary(parent, extra, ctx) {
  const replies = extra.replies;
  const row = el("div", "thread-summary");
  const open = el("button", "thread-link");
  open.type = "button";
  open.textContent = replies.length === 1 ? "1 reply" : `${replies.length} replies`;
  open.addEventListener("click", () => ctx.openThread(parent.ts));
  const last = el("span", "last-reply");
  last.textContent = `Last reply ${clock(replies[replies.length - 1].at)}`;
  row.append(open, last);
  const session = extra.agent?.session;
  if (session) row.append(sessionBadge(session.status));
  return row;
}

export function clock(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit" });
}

function hue(id) {
  let h = 0;
  for (const ch of String(id)) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}
