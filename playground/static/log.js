// The Slack API log: every Web API call the bot makes (and its response_url answers), live,
// with its time and outcome; a click on a line shows what the bot sent and what Slack answered.

import { el } from "./mrkdwn.js";

const OPEN_KEY = "countersign.log.open";

export class CallLog {
  constructor(root, names) {
    this.root = root;
    this.names = names;
    this.list = root.querySelector("ol");
    this.toggle = root.querySelector("button.log-toggle");
    this.seen = new Set();
    this.errors = 0;
    this.setOpen(localStorage.getItem(OPEN_KEY) !== "false");
    this.toggle.addEventListener("click", () => this.setOpen(this.root.classList.contains("closed")));
  }

  setOpen(open) {
    this.root.classList.toggle("closed", !open);
    this.toggle.setAttribute("aria-expanded", String(open));
    localStorage.setItem(OPEN_KEY, String(open));
  }

  clear() {
    this.list.replaceChildren();
    this.seen.clear();
    this.errors = 0;
  }

  add(calls) {
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 24;
    for (const call of calls) {
      if (this.seen.has(call.index)) continue;
      this.seen.add(call.index);
      if (!call.ok) this.errors += 1;
      this.list.append(this.line(call));
    }
    const errors = this.errors ? ` · ${this.errors} failed` : "";
    const count = this.seen.size === 1 ? "1 call" : `${this.seen.size} calls`;
    this.toggle.querySelector(".count").textContent = count + errors;
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  line(call) {
    const item = el("li", call.ok ? "call ok" : "call failed");
    const summary = el("button", "call-line");
    summary.type = "button";
    const time = el("time");
    time.textContent = clock(call.at);
    const method = el("span", "method");
    method.textContent = call.method;
    const where = el("span", "where");
    if (call.channel) where.textContent = this.names.channelLabel(call.channel);
    const outcome = el("span", "outcome");
    outcome.textContent = call.ok ? "ok" : `${call.error} (${call.status})`;
    if (call.ignored_retry_after) outcome.textContent += " · ignored Retry-After";
    summary.append(time, method, where, outcome);
    summary.addEventListener("click", () => this.details(item, call.index));
    item.append(summary);
    return item;
  }

  async details(item, index) {
    const open = item.querySelector("pre");
    if (open) {
      open.remove();
      return;
    }
    const pre = el("pre", "call-details");
    pre.textContent = "…";
    item.append(pre);
    const response = await fetch(`/api/calls/${index}`);
    const call = await response.json();
    pre.textContent = JSON.stringify({ sent: call.params, answered: call.response }, null, 2);
    item.scrollIntoView({ block: "start" });
  }
}

function clock(epochSeconds) {
  const when = new Date(epochSeconds * 1000);
  const time = when.toLocaleTimeString(undefined, { hour12: false });
  return `${time}.${String(when.getMilliseconds()).padStart(3, "0")}`;
}
