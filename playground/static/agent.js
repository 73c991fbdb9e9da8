// What Slack draws around an AI app's thread, outside any message: the status line ("Countersign
// is thinking…"), the agent session (its title, whether it works, waits or is done, and Slack's
// own ■ Stop while it works) and the suggested prompts above the composer.

import { el } from "./mrkdwn.js";

/** How Slack words a session's status. */
const SESSION_LABELS = { active: "active", processing: "processing", suspended: "waiting", closed: "done" };

// ---- into the page's boxes (redrawn only when what they show changed) ---------------------

/** The thread's session line, in the thread panel's header. */
export function showSession(box, info) {
  const line = sessionLine(info);
  redraw(box, JSON.stringify([threadTitle(info), info?.session?.status]), () => (line ? [line] : []));
}

/** The status line and ■ Stop under the thread; `where` names the thread (Stop acts on it). */
export function showAgentBar(box, info, ctx, where) {
  redraw(box, JSON.stringify([where, info?.status, info?.session?.status]), () => {
    const bar = agentBar(info, ctx);
    return bar ? [bar] : [];
  });
}

/** Suggested prompts above a composer; `where` names the conversation or thread they send to. */
export function showPrompts(box, info, onPick, where) {
  redraw(box, JSON.stringify([where, info?.prompts ?? null]), () => promptChips(info?.prompts, onPick));
  box.hidden = !info?.prompts?.prompts?.length;
}

function redraw(box, key, nodes) {
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(...nodes());
}

// ---- the parts ------------------------------------------------------------------------------

/** info: a thread's `agent` entry ({status, session, title, prompts}) or undefined. */
export function threadTitle(info) {
  return info?.session?.title ?? info?.title ?? null;
}

/** The session's title and a badge for its status, or null when the thread has no session. */
export function sessionLine(info) {
  if (!info?.session && !info?.title) return null;
  const line = el("div", "session-line");
  const title = threadTitle(info);
  if (title) {
    const name = el("span", "session-title");
    name.textContent = title;
    line.append(name);
  }
  if (info.session) line.append(sessionBadge(info.session.status));
  return line;
}

export function sessionBadge(status) {
  const badge = el("span", `session-badge ${status}`);
  badge.textContent = SESSION_LABELS[status] ?? status;
  badge.title = `agent session: ${status}`;
  return badge;
}

/** The grey italic line under a thread, as Slack prefixes it with the app's name. */
export function statusLine(text, botName) {
  const line = el("div", "agent-status");
  line.textContent = `${botName ?? "The app"} ${text}`;
  return line;
}

/**
 * Under the thread: the status line while set, and ■ Stop while the session is processing.
 * ctx: { botName, onStop() → Promise }. Null when there is nothing to show.
 */
export function agentBar(info, ctx) {
  const working = info?.session?.status === "processing";
  if (!info?.status && !working) return null;
  const bar = el("div", "agent-bar");
  bar.append(info.status ? statusLine(info.status, ctx.botName) : el("span", "agent-status"));
  if (working) {
    const stop = el("button", "stop-session");
    stop.type = "button";
    stop.textContent = "■ Stop";
    stop.title = "Stop the app's work on this thread (Slack's own Stop)";
    stop.addEventListener("click", async () => {
      stop.disabled = true;
      try {
        await ctx.onStop();
      } finally {
        stop.disabled = false;
      }
    });
    bar.append(stop);
  }
  return bar;
}

/** Suggested prompts ({title, prompts: [{title, message}]}) as chips; a click sends the message. */
export function promptChips(entry, onPick) {
  if (!entry?.prompts?.length) return [];
  const nodes = [];
  if (entry.title) {
    const title = el("span", "prompts-title");
    title.textContent = entry.title;
    nodes.push(title);
  }
  for (const prompt of entry.prompts) {
    const chip = el("button", "try prompt");
    chip.type = "button";
    chip.textContent = prompt.title;
    chip.title = prompt.message;
    chip.addEventListener("click", async () => {
      chip.disabled = true;
      try {
        await onPick(prompt.message);
      } finally {
        chip.disabled = false;
      }
    });
    nodes.push(chip);
  }
  return nodes;
}
