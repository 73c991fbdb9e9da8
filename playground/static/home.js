// The app's Home tab: opening it tells the bot (`app_home_opened`, so it publishes), and the view
// it published is drawn with the same block renderer as messages. Its buttons click through the
// Home (no message, no channel); modals the bot opens from them show as any other.

import { renderBlocks } from "./blocks.js";
import { el } from "./mrkdwn.js";

export class HomeTab {
  /** send(path, body) → Promise of the JSON answer, as the page's other actions. */
  constructor(root, send) {
    this.root = root;
    this.send = send;
    this.shown = null; // the blocks on screen, as JSON
    this.asked = false; // whether the bot was told this person opened Home
    this.answered = false;
  }

  /** Tell the bot the person opened Home (each time they do, as Slack does). */
  async open() {
    this.asked = true;
    this.answered = false;
    this.shown = null;
    try {
      await this.send("/api/home", { tab: "home" });
    } finally {
      this.answered = true;
    }
  }

  /** home: {id, blocks} as last published, or null. */
  render(home, names) {
    const key = home ? JSON.stringify(home.blocks) : `none:${this.answered}`;
    if (key === this.shown) return;
    this.shown = key;
    if (!home) {
      const note = el("p", "home-empty");
      note.textContent = this.answered ? "The app has not published a Home tab for you." : "Opening Home…";
      this.root.replaceChildren(note);
      return;
    }
    const ctx = {
      names,
      onAction: (element) => this.send("/api/home/actions", { action_id: element.action_id, value: element.value ?? null }),
    };
    const view = el("div", "home-view");
    view.append(renderBlocks(home.blocks, ctx));
    this.root.replaceChildren(view);
  }
}
