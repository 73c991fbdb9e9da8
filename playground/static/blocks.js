// Block Kit to DOM nodes, close enough to Slack's look that a card reads the same here: section
// (text, fields, accessory), header, divider, context, actions, context_actions (👍 / 👎),
// markdown, rich_text, image and, in modals, input. Unknown blocks say so instead of vanishing.

import { markdown } from "./markdown.js";
import { el, emojiFor, emojify, mrkdwn } from "./mrkdwn.js";

/**
 * ctx: { names (for mentions), onAction(element, blockId) → Promise, errors: {block_id: text},
 *        onFeedback(positive) → Promise (absent where feedback cannot be given) }
 */
export function renderBlocks(blocks, ctx) {
  const out = document.createDocumentFragment();
  for (const block of blocks ?? []) out.append(renderBlock(block, ctx));
  return out;
}

function renderBlock(block, ctx) {
  switch (block?.type) {
    case "section":
      return section(block, ctx);
    case "header": {
      const node = el("div", "bk-header");
      node.append(textObject(block.text, ctx));
      return node;
    }
    case "divider":
      return el("hr", "bk-divider");
    case "context":
      return context(block, ctx);
    case "actions":
      return actions(block, ctx);
    case "context_actions":
      return contextActions(block, ctx);
    case "markdown": {
      const node = markdown(block.text);
      node.classList.add("bk-markdown");
      return node;
    }
    case "rich_text":
      return richText(block, ctx);
    case "image":
      return image(block);
    case "input":
      return input(block, ctx);
    default:
      return unsupported(`${block?.type ?? "unknown"} block`);
  }
}

export function textObject(object, ctx) {
  if (!object) return document.createDocumentFragment();
  if (object.type === "mrkdwn") return mrkdwn(object.text, ctx.names);
  const span = el("span", "plain");
  span.textContent = object.emoji === false ? object.text : emojify(String(object.text ?? ""));
  return span;
}

function section(block, ctx) {
  const node = el("div", "bk-section");
  const body = el("div", "bk-section-body");
  if (block.text) {
    const text = el("div", "bk-text");
    text.append(textObject(block.text, ctx));
    body.append(text);
  }
  if (block.fields?.length) {
    const fields = el("div", "bk-fields");
    for (const field of block.fields) {
      const cell = el("div", "bk-field");
      cell.append(textObject(field, ctx));
      fields.append(cell);
    }
    body.append(fields);
  }
  node.append(body);
  if (block.accessory) {
    const accessory = el("div", "bk-accessory");
    accessory.append(element(block.accessory, block.block_id, ctx));
    node.append(accessory);
  }
  return node;
}

function context(block, ctx) {
  const node = el("div", "bk-context");
  for (const item of block.elements ?? []) {
    if (item.type === "image") {
      node.append(imagePlaceholder(item.alt_text, "bk-context-image"));
    } else {
      const span = el("span", "bk-context-item");
      span.append(textObject(item, ctx));
      node.append(span);
    }
  }
  return node;
}

function actions(block, ctx) {
  const node = el("div", "bk-actions");
  for (const item of block.elements ?? []) node.append(element(item, block.block_id, ctx));
  return node;
}

/** The small row under an answer; its feedback buttons are Slack's 👍 / 👎. */
function contextActions(block, ctx) {
  const node = el("div", "bk-context-actions");
  for (const item of block.elements ?? []) {
    if (item.type !== "feedback_buttons") {
      node.append(unsupported(item.type));
      continue;
    }
    node.append(thumb(item.positive_button, "👍", true, ctx), thumb(item.negative_button, "👎", false, ctx));
  }
  return node;
}

function thumb(button, face, positive, ctx) {
  const node = el("button", "bk-feedback");
  node.type = "button";
  node.textContent = face;
  node.title = button?.accessibility_label ?? button?.text?.text ?? (positive ? "Good" : "Bad");
  node.setAttribute("aria-label", node.title);
  node.disabled = !ctx.onFeedback;
  node.addEventListener("click", async () => {
    node.disabled = true;
    try {
      const answer = await ctx.onFeedback(positive);
      if (answer?.ok) node.classList.add("chosen");
    } finally {
      node.disabled = false;
    }
  });
  return node;
}

/** An interactive element; only buttons do something here, the rest say what they are. */
function element(item, blockId, ctx) {
  if (item.type === "image") return imagePlaceholder(item.alt_text, "bk-accessory-image");
  if (item.type !== "button") return unsupported(item.type);
  const button = el("button", `bk-button${item.style ? ` ${item.style}` : ""}`);
  button.type = "button";
  button.append(textObject(item.text, ctx));
  button.dataset.actionId = item.action_id ?? "";
  button.addEventListener("click", async () => {
    if (item.confirm && !window.confirm(confirmText(item.confirm))) return;
    if (item.url) window.open(item.url, "_blank", "noopener");
    button.disabled = true;
    try {
      await ctx.onAction(item, blockId);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function confirmText(confirm) {
  return [confirm.title?.text, confirm.text?.text].filter(Boolean).join("\n\n");
}

function image(block) {
  const figure = el("figure", "bk-image");
  if (block.title) {
    const caption = el("figcaption");
    caption.textContent = block.title.text;
    figure.append(caption);
  }
  figure.append(imagePlaceholder(block.alt_text, "bk-image-box"));
  return figure;
}

/** Images are not fetched (no outside requests from the page): their alt text stands in. */
function imagePlaceholder(alt, className) {
  const box = el("span", className);
  box.textContent = `🖼 ${alt ?? "image"}`;
  box.title = alt ?? "";
  return box;
}

function unsupported(what) {
  const node = el("div", "bk-unsupported");
  node.textContent = `[${what}: not shown in the playground]`;
  return node;
}

// ---- rich_text (what people's messages carry) ---------------------------------------------

function richText(block, ctx) {
  const node = el("div", "bk-rich-text");
  for (const part of block.elements ?? []) node.append(richPart(part, ctx));
  return node;
}

function richPart(part, ctx) {
  switch (part.type) {
    case "rich_text_section": {
      const span = el("span", "rt-section");
      for (const child of part.elements ?? []) span.append(richInline(child, ctx));
      return span;
    }
    case "rich_text_preformatted": {
      const pre = el("pre", "code-block");
      for (const child of part.elements ?? []) pre.append(richInline(child, ctx));
      return pre;
    }
    case "rich_text_quote": {
      const quote = el("blockquote");
      for (const child of part.elements ?? []) quote.append(richInline(child, ctx));
      return quote;
    }
    case "rich_text_list": {
      const list = el(part.style === "ordered" ? "ol" : "ul");
      for (const item of part.elements ?? []) {
        const li = el("li");
        li.append(richPart(item, ctx));
        list.append(li);
      }
      return list;
    }
    default:
      return richInline(part, ctx);
  }
}

function richInline(item, ctx) {
  const names = ctx.names;
  let node;
  switch (item.type) {
    case "text":
      node = document.createTextNode(item.text ?? "");
      break;
    case "link":
      node = /^(https?:|mailto:)/i.test(item.url ?? "") ? el("a") : el("span");
      if (node.tagName === "A") {
        node.href = item.url;
        node.target = "_blank";
        node.rel = "noopener noreferrer";
      }
      node.textContent = item.text || item.url || "";
      break;
    case "user":
      node = mentionSpan(`@${names.userName(item.user_id) ?? item.user_id}`, item.user_id === names.me);
      break;
    case "usergroup":
      node = mentionSpan(`@${names.groupHandle(item.usergroup_id) ?? item.usergroup_id}`, false);
      break;
    case "channel":
      node = mentionSpan(`#${names.channelName(item.channel_id) ?? item.channel_id}`, false);
      break;
    case "broadcast":
      node = mentionSpan(`@${item.range}`, true);
      break;
    case "emoji":
      node = document.createTextNode(item.unicode ? String.fromCodePoint(...item.unicode.split("-").map((h) => parseInt(h, 16))) : emojiFor(item.name));
      break;
    default:
      return document.createTextNode("");
  }
  return styled(node, item.style);
}

function mentionSpan(text, loud) {
  const span = el("span", loud ? "mention loud" : "mention");
  span.textContent = text;
  return span;
}

function styled(node, style) {
  let out = node;
  for (const [flag, tag] of [["code", "code"], ["strike", "s"], ["italic", "em"], ["bold", "strong"]]) {
    if (!style?.[flag]) continue;
    const wrapper = el(tag);
    wrapper.append(out);
    out = wrapper;
  }
  return out;
}

// ---- input (modals) ---------------------------------------------------------------------

const TEXT_INPUTS = {
  plain_text_input: "text",
  email_text_input: "email",
  url_text_input: "url",
  number_input: "number",
};

function input(block, ctx) {
  const node = el("div", "bk-input");
  const id = `input-${block.block_id}`;
  const label = el("label", "bk-label");
  label.htmlFor = id;
  label.append(textObject(block.label, ctx));
  if (block.optional) {
    const optional = el("span", "bk-optional");
    optional.textContent = " (optional)";
    label.append(optional);
  }
  node.append(label);
  const item = block.element ?? {};
  const kind = TEXT_INPUTS[item.type];
  if (kind) {
    const field = item.multiline ? el("textarea") : el("input");
    if (!item.multiline) field.type = kind;
    field.id = id;
    field.value = item.initial_value ?? "";
    if (item.max_length) field.maxLength = item.max_length;
    if (item.placeholder) field.placeholder = item.placeholder.text;
    field.dataset.blockId = block.block_id;
    field.dataset.actionId = item.action_id ?? "";
    field.dataset.type = item.type;
    field.dataset.optional = block.optional ? "true" : "false";
    node.append(field);
  } else {
    node.append(unsupported(item.type ?? "input"));
  }
  if (block.hint) {
    const hint = el("div", "bk-hint");
    hint.append(textObject(block.hint, ctx));
    node.append(hint);
  }
  const error = el("div", "bk-error");
  error.dataset.errorFor = block.block_id;
  error.textContent = ctx.errors?.[block.block_id] ?? "";
  node.append(error);
  return node;
}
