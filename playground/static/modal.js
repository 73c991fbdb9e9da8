// The modal the bot opened with views.open: title, blocks with inputs, Cancel and Submit.
// Submitting sends view.state.values exactly as Slack would; errors from the bot's
// `response_action: errors` appear under their fields, and what was typed stays.

import { renderBlocks } from "./blocks.js";
import { el } from "./mrkdwn.js";

const REQUIRED = "Please complete this required field.";

export class Modal {
  constructor(layer, { onSubmit, onClose }) {
    this.layer = layer;
    this.onSubmit = onSubmit;
    this.onClose = onClose;
    this.shown = null; // "id + blocks" of the view on screen
    layer.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.view) this.close();
    });
  }

  /** Show `view` (or hide when null); a view that only changed its errors keeps its inputs. */
  render(view, names) {
    this.view = view;
    if (!view) {
      this.shown = null;
      this.layer.hidden = true;
      this.layer.replaceChildren();
      return;
    }
    const key = `${view.id}:${JSON.stringify(view.blocks)}`;
    if (key !== this.shown) {
      this.shown = key;
      this.layer.replaceChildren(this.build(view, names));
      this.layer.hidden = false;
      this.layer.querySelector("textarea, input")?.focus();
    }
    this.showErrors(view.errors ?? {});
  }

  build(view, names) {
    const dialog = el("form", "modal");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    dialog.noValidate = true;
    const header = el("header", "modal-header");
    const title = el("h2");
    title.textContent = view.title?.text ?? "";
    dialog.setAttribute("aria-label", title.textContent);
    const close = el("button", "icon-button");
    close.type = "button";
    close.textContent = "×";
    close.title = "Close";
    close.addEventListener("click", () => this.close());
    header.append(title, close);
    const body = el("div", "modal-body");
    body.append(renderBlocks(view.blocks, { names, errors: view.errors, onAction: async () => {} }));
    const footer = el("footer", "modal-footer");
    const cancel = el("button", "bk-button");
    cancel.type = "button";
    cancel.textContent = view.close?.text ?? (view.submit ? "Cancel" : "Close");
    cancel.addEventListener("click", () => this.close());
    footer.append(cancel);
    if (view.submit) {
      const submit = el("button", "bk-button primary");
      submit.type = "submit";
      submit.textContent = view.submit.text;
      footer.append(submit);
    }
    dialog.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit(dialog);
    });
    dialog.append(header, body, footer);
    return dialog;
  }

  async submit(dialog) {
    const button = dialog.querySelector("button[type=submit]");
    const { values, missing } = collect(dialog);
    if (Object.keys(missing).length) {
      this.showErrors(missing);
      return;
    }
    button.disabled = true;
    try {
      const answer = await this.onSubmit(this.view.id, values);
      if (answer?.errors) this.showErrors(answer.errors);
    } finally {
      button.disabled = false;
    }
  }

  close() {
    if (this.view) this.onClose(this.view.id);
  }

  showErrors(errors) {
    for (const node of this.layer.querySelectorAll("[data-error-for]")) {
      node.textContent = errors[node.dataset.errorFor] ?? "";
      node.closest(".bk-input")?.classList.toggle("invalid", Boolean(node.textContent));
    }
  }
}

/** view.state.values from the inputs: block_id → action_id → {type, value}; empty is null. */
function collect(dialog) {
  const values = {};
  const missing = {};
  for (const field of dialog.querySelectorAll("[data-action-id][data-block-id]")) {
    const { blockId, actionId, type, optional } = field.dataset;
    const value = field.value === "" ? null : field.value;
    if (value === null && optional !== "true") missing[blockId] = REQUIRED;
    values[blockId] = { ...(values[blockId] ?? {}), [actionId]: { type, value } };
  }
  return { values, missing };
}
