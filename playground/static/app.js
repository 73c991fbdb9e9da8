// The playground page: who you are (per tab), the conversations, a thread panel (with the app's
// status line, session and Stop), the app's Home tab, the bot's modals and the API log, kept
// live by the server's event stream (/api/events).

import { showAgentBar, showPrompts, showSession } from "./agent.js";
import { HomeTab } from "./home.js";
import { CallLog } from "./log.js";
import { messageItem } from "./messages.js";
import { Modal } from "./modal.js";
import { el } from "./mrkdwn.js";

const TRIES = ["save a note about water", "what did I save about water?", "remind me about the meeting"];
const $ = (selector) => document.querySelector(selector);

const tab = {
  get user() { return sessionStorage.getItem("countersign.user"); },
  set user(id) { sessionStorage.setItem("countersign.user", id); },
  get channel() { return sessionStorage.getItem("countersign.channel"); },
  set channel(id) { sessionStorage.setItem("countersign.channel", id); },
  get thread() { return sessionStorage.getItem("countersign.thread") || null; },
  set thread(ts) { ts ? sessionStorage.setItem("countersign.thread", ts) : sessionStorage.removeItem("countersign.thread"); },
  get home() { return sessionStorage.getItem("countersign.home") === "true"; },
  set home(open) { sessionStorage.setItem("countersign.home", String(open)); },
};

let state = emptyState();
let source = null;
const seen = {}; // channel → how many messages this tab has shown (for unread marks)
const names = makeNames();
const log = new CallLog($("#log"), names);
const modal = new Modal($("#modal-layer"), {
  onSubmit: (viewId, values) => send(`/api/views/${encodeURIComponent(viewId)}/submit`, { values }),
  onClose: (viewId) => send(`/api/views/${encodeURIComponent(viewId)}/close`, {}),
});
const homeTab = new HomeTab($("#home"), send);

function emptyState() {
  return { directory: null, conversations: [], messages: {}, ephemerals: [], view: null, about: null, agent: {}, home: null };
}

// ---- who is looking ---------------------------------------------------------------------

/** `?user=UBOB` picks the person for a new tab; then the picker does, per tab. */
function startingUser() {
  const asked = new URLSearchParams(location.search).get("user");
  if (asked && !tab.user) tab.user = asked;
  return tab.user || "UALICE";
}

function switchUser(id) {
  tab.user = id;
  state = emptyState();
  homeTab.asked = false;
  for (const key of Object.keys(seen)) delete seen[key];
  connect();
}

function makeNames() {
  return {
    get me() { return tab.user; },
    get bot() { return state.directory?.bot; },
    /** The app as Slack names it in its own UI ("Countersign is thinking…", "Countersign · Home"). */
    get app() {
      const name = state.directory?.users.find((u) => u.id === state.directory.bot)?.name ?? "countersign";
      return name.charAt(0).toUpperCase() + name.slice(1);
    },
    userName: (id) => state.directory?.users.find((u) => u.id === id)?.name,
    groupHandle: (id) => state.directory?.usergroups.find((g) => g.id === id)?.handle,
    channelName: (id) => state.conversations.find((c) => c.id === id)?.name,
    channelLabel: (id) => {
      const channel = state.conversations.find((c) => c.id === id || c.name === id);
      if (!channel) return id;
      return channel.kind === "im" ? `DM ${channel.name}` : `#${channel.name}`;
    },
  };
}

// ---- live updates -----------------------------------------------------------------------

function connect() {
  source?.close();
  const user = startingUser();
  tab.user = user;
  source = new EventSource(`/api/events?user=${encodeURIComponent(user)}`);
  source.addEventListener("state", (event) => {
    const parts = JSON.parse(event.data);
    if (parts.about && state.about && parts.about.instance !== state.about.instance) {
      state = emptyState(); // the playground restarted: nothing from before exists any more
      log.clear();
    }
    const messages = { ...state.messages, ...(parts.messages ?? {}) };
    state = { ...state, ...parts, messages };
    render();
    if (tab.home && !homeTab.asked && state.directory) openHome(); // a reload on Home opens it again
  });
  source.addEventListener("calls", (event) => log.add(JSON.parse(event.data)));
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("error", () => setLive(false));
}

function setLive(live) {
  const status = $("#status");
  status.textContent = live ? "live" : "reconnecting…";
  status.classList.toggle("down", !live);
}

// ---- actions ----------------------------------------------------------------------------

async function send(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: tab.user, ...body }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) toast(answer.error ?? `${response.status} ${response.statusText}`);
  else if (answer.ok === false) toast(`The bot answered ${answer.status || "nothing in time"}.`);
  return answer;
}

function onAction(message, element) {
  return send("/api/actions", {
    channel: message.channel,
    ts: message.ts,
    action_id: element.action_id,
    value: element.value ?? null,
  });
}

function onFeedback(message, positive) {
  return send("/api/feedback", { channel: message.channel, ts: message.ts, positive });
}

function stopSession(threadTs) {
  return send("/api/sessions/stop", { channel: tab.channel, thread_ts: threadTs });
}

/** Post as the person; a new message for the bot opens its thread, where the answer comes. */
async function say(text, threadTs) {
  const answer = await send("/api/messages", { channel: tab.channel, text, thread_ts: threadTs ?? null });
  if (answer.ts) {
    const channel = current();
    const forBot = channel?.kind === "im" || /@countersign\b|<@/.test(text);
    if (!threadTs && forBot) openThread(answer.ts);
  }
  return answer;
}

async function post(form, threadTs) {
  const box = form.querySelector("textarea");
  const text = box.value.trim();
  if (!text) return;
  box.disabled = true;
  try {
    if ((await say(text, threadTs)).ts) box.value = "";
  } finally {
    box.disabled = false;
    box.focus();
  }
}

async function openHome() {
  tab.home = true;
  tab.thread = null;
  render();
  await homeTab.open();
  render();
}

function openThread(ts) {
  tab.thread = ts;
  render();
  $("#thread-composer textarea").focus();
}

function toast(text) {
  const note = el("div", "toast");
  note.textContent = text;
  $("#toasts").append(note);
  setTimeout(() => note.remove(), 6000);
}

// ---- rendering ----------------------------------------------------------------------------

function current() {
  return state.conversations.find((c) => c.id === tab.channel) ?? state.conversations[0];
}

function render() {
  if (!state.directory) return;
  renderPicker();
  const channel = current();
  if (!channel) return;
  tab.channel = channel.id;
  renderSidebar(channel);
  for (const part of ["#messages", "#composer", "#prompts"]) $(part).hidden = tab.home;
  $("#home").hidden = !tab.home;
  if (tab.home) {
    renderHomeHeader();
    $("#empty").hidden = true;
    $("#thread").hidden = true;
    homeTab.render(state.home, names);
  } else {
    renderHeader(channel);
    renderChannel(channel);
    renderThread(channel);
  }
  modal.render(state.view, names);
}

/** What Slack shows around a thread (or, with no ts, the conversation): see agent_snapshot.py. */
function agentOf(channelId, ts) {
  const entry = state.agent?.[channelId];
  return ts ? entry?.threads[ts] : entry?.top;
}

function renderPicker() {
  const picker = $("#user-picker");
  const people = state.directory.users.filter((u) => !u.is_bot);
  if (picker.options.length !== people.length) {
    picker.replaceChildren(
      ...people.map((u) => {
        const option = el("option");
        option.value = u.id;
        option.textContent = `${u.name} (${u.id})`;
        return option;
      }),
    );
  }
  picker.value = tab.user;
}

function renderSidebar(channel) {
  const nav = $("#conversations");
  const groups = [
    ["Channels", state.conversations.filter((c) => c.kind !== "im")],
    ["Direct messages", state.conversations.filter((c) => c.kind === "im")],
  ];
  const items = [];
  for (const [title, list] of groups) {
    const heading = el("h3");
    heading.textContent = title;
    items.push(heading);
    for (const c of list) {
      const button = el("button", "conversation");
      button.type = "button";
      button.dataset.channel = c.id;
      button.classList.add(c.kind);
      button.textContent = c.name;
      const count = (state.messages[c.id] ?? []).length;
      if (c.id === channel.id) seen[c.id] = count;
      button.classList.toggle("active", c.id === channel.id && !tab.home);
      button.classList.toggle("unread", count > (seen[c.id] ?? 0));
      button.addEventListener("click", () => {
        if (tab.channel !== c.id) tab.thread = null;
        // Opening the DM is opening the app's Messages tab: Slack tells the app, which
        // offers its suggested prompts.
        if (c.kind === "im" && tab.channel !== c.id) send("/api/home", { tab: "messages" });
        tab.channel = c.id;
        tab.home = false;
        render();
      });
      items.push(button);
    }
  }
  items.push(...appEntries());
  nav.replaceChildren(...items);
}

/** Slack lists apps apart; opening one shows its Home tab. */
function appEntries() {
  const heading = el("h3");
  heading.textContent = "Apps";
  const button = el("button", "conversation app");
  button.type = "button";
  button.textContent = `${names.app} · Home`;
  button.classList.toggle("active", tab.home);
  button.addEventListener("click", () => openHome());
  return [heading, button];
}

function renderHomeHeader() {
  const title = $("#channel-title");
  title.textContent = `${names.app} · Home`;
  title.className = "app";
  $("#channel-about").textContent = "The app's Home tab, as it published it for you (views.publish)";
}

function renderHeader(channel) {
  const title = $("#channel-title");
  title.textContent = channel.name;
  title.className = channel.kind;
  const about = state.about;
  const approvers = about.approvers.length
    ? about.approvers.map((id) => (id.startsWith("S") ? `@${names.groupHandle(id) ?? id}` : `@${names.userName(id) ?? id}`)).join(", ")
    : "anyone in the conversation";
  const facts = [
    `model ${about.model}`,
    `approvers: ${approvers}`,
    about.allow_self_approval ? "self-approval allowed" : "no self-approval",
    `questions answered by ${about.ask_human_responders === "anyone" ? "anyone" : "the requester"}`,
  ];
  $("#channel-about").textContent = facts.join(" · ");
}

/** Top-level messages and the ephemerals outside threads, oldest first. */
function renderChannel(channel) {
  const all = (state.messages[channel.id] ?? []).map((m) => ({ ...m, channel: channel.id }));
  const top = all.filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const ephemerals = state.ephemerals.filter((e) => e.channel === channel.id && !e.thread_ts);
  const entries = [
    ...top.map((m) => ({
      message: m,
      replies: all.filter((r) => r.thread_ts === m.ts && r.ts !== m.ts),
      agent: agentOf(channel.id, m.ts),
    })),
    ...ephemerals.map((e) => ({ message: e, ephemeral: true })),
  ].sort((a, b) => compareTs(a.message.ts, b.message.ts));
  const list = $("#messages");
  reconcile(list, entries, (entry) => messageItem(entry.message, { names, onAction, onFeedback, openThread }, entry));
  const empty = $("#empty");
  empty.hidden = entries.length > 0;
  if (!empty.hidden) renderTries(channel);
  $("#composer textarea").placeholder =
    channel.kind === "im" ? `Message ${channel.name}` : `Message #${channel.name} (mention @countersign to ask it)`;
  showPrompts($("#prompts"), agentOf(channel.id, null), (text) => say(text, null), channel.id);
}

function renderTries(channel) {
  const prefix = channel.kind === "im" ? "" : "@countersign ";
  const chips = TRIES.map((text) => {
    const chip = el("button", "try");
    chip.type = "button";
    chip.textContent = prefix + text;
    chip.addEventListener("click", () => {
      const box = $("#composer textarea");
      box.value = prefix + text;
      box.focus();
    });
    return chip;
  });
  $("#tries").replaceChildren(...chips);
}

function renderThread(channel) {
  const panel = $("#thread");
  const all = (state.messages[channel.id] ?? []).map((m) => ({ ...m, channel: channel.id }));
  const parent = all.find((m) => m.ts === tab.thread);
  panel.hidden = !parent;
  if (!parent) return; // closed, or just posted and not streamed back yet
  $("#thread-where").textContent = names.channelLabel(channel.id);
  const agent = agentOf(channel.id, parent.ts);
  const where = `${channel.id}/${parent.ts}`;
  showSession($("#thread-session"), agent);
  showAgentBar($("#thread-agent"), agent, { botName: names.app, onStop: () => stopSession(parent.ts) }, where);
  showPrompts($("#thread-prompts"), agent, (text) => say(text, parent.ts), where);
  const replies = all.filter((m) => m.thread_ts === parent.ts && m.ts !== parent.ts);
  const ephemerals = state.ephemerals.filter((e) => e.channel === channel.id && e.thread_ts === parent.ts);
  const entries = [
    { message: parent, key: "parent" },
    ...[...replies.map((m) => ({ message: m })), ...ephemerals.map((e) => ({ message: e, ephemeral: true }))].sort(
      (a, b) => compareTs(a.message.ts, b.message.ts),
    ),
  ];
  reconcile($("#thread-messages"), entries, (entry) =>
    messageItem(entry.message, { names, onAction, onFeedback, openThread: null }, entry),
  );
}

/** Update a list in place: unchanged messages keep their nodes (and the reader's selection). */
function reconcile(list, entries, render) {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const existing = new Map([...list.children].map((node) => [node.dataset.key, node]));
  let previous = null;
  for (const entry of entries) {
    const key = `${entry.ephemeral ? "e" : "m"}${entry.message.ts}`;
    const signature = JSON.stringify([entry.message, entry.replies?.length, entry.replies?.at(-1)?.at, entry.agent, names.me]);
    let node = existing.get(key);
    if (!node || node.dataset.signature !== signature) {
      const fresh = render(entry);
      fresh.dataset.key = key;
      fresh.dataset.signature = signature;
      if (node) node.replaceWith(fresh);
      node = fresh;
    }
    existing.delete(key);
    const wanted = previous ? previous.nextSibling : list.firstChild;
    if (wanted !== node) list.insertBefore(node, wanted);
    previous = node;
  }
  for (const node of existing.values()) node.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function compareTs(a, b) {
  const [as, au] = a.split(".").map(Number);
  const [bs, bu] = b.split(".").map(Number);
  return as - bs || au - bu;
}

// ---- wiring -------------------------------------------------------------------------------

function composer(form, thread) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    post(form, thread ? tab.thread : null);
  });
  form.querySelector("textarea").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      post(form, thread ? tab.thread : null);
    }
  });
}

composer($("#composer"), false);
composer($("#thread-composer"), true);
$("#thread-close").addEventListener("click", () => {
  tab.thread = null;
  render();
});
$("#user-picker").addEventListener("change", (event) => switchUser(event.target.value));
connect();
