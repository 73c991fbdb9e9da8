"""The playground in a real browser: Debian's Chromium, driven by Playwright, against
`python -m bot` started with no Slack settings, as a newcomer runs it.

Two people in two browser windows: alice asks, bob approves, alice answers a question in the
thread. Skipped when /usr/bin/chromium is missing; `.ci/run` installs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from bot.settings import BotSettings
from playground.session import open_playground
from tests.bot_process import playground_process

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)",
)
# Headless on a closed network: no first-run, sync, update or background connections.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000
WATER = "I'll save a note titled “Water” so the team can find it later."


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        await launched.close()


async def open_as(browser: Browser, url: str, user: str, errors: list[str]) -> Page:
    """A window of its own (its own tab storage) where `user` is picked in the page; script
    errors and dialogs (there should be none) go to `errors`."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    await page.goto(url)
    await expect(page.locator("#status")).to_have_text("live", timeout=WAIT_MS)
    await page.select_option("#user-picker", user)
    await expect(page.locator("#conversations")).to_contain_text("general")
    return page


async def send(page: Page, box: str, text: str) -> None:
    await page.fill(f"{box} textarea", text)
    await page.press(f"{box} textarea", "Enter")


async def watch_first_answer(page: Page) -> None:
    """Remember every text the first answer in the open thread shows, as it is edited."""
    await page.evaluate(
        """() => {
          window.answerTexts = [];
          const seen = () => {
            const text = document.querySelector("#thread-messages li.from-bot .bk-text");
            const last = window.answerTexts.at(-1);
            if (text && text.innerText !== last) window.answerTexts.push(text.innerText);
          };
          new MutationObserver(seen).observe(document.body, {
            subtree: true, childList: true, characterData: true,
          });
        }"""
    )


async def test_ask_approve_as_someone_else_and_answer_a_question(
    tmp_path: Path, browser: Browser
) -> None:
    async with playground_process(tmp_path, DEMO_TOKENS_PER_SECOND="8") as playground:
        errors: list[str] = []
        alice = await open_as(browser, playground.url, "UALICE", errors)
        bob = await open_as(browser, playground.url, "UBOB", errors)
        await bob.reload()  # the person is remembered per tab
        await expect(bob.locator("#user-picker")).to_have_value("UBOB")
        await expect(bob.locator("#conversations")).to_contain_text("countersign")

        # alice asks in #general; her thread opens and the answer streams into it
        await watch_first_answer(alice)
        await send(alice, "#composer", "@countersign save a note about water")
        thread = alice.locator("#thread-messages")
        await expect(thread.locator(".mention").first).to_have_text("@countersign")
        await expect(thread).to_contain_text(WATER, timeout=WAIT_MS)
        card = thread.locator("li", has_text="Approval needed")
        await expect(card.get_by_role("button", name="Approve", exact=True)).to_be_visible()
        texts = await alice.evaluate("window.answerTexts")
        assert any(text and text != WATER and WATER.startswith(text[:20]) for text in texts), (
            f"the answer did not grow in place: {texts}"
        )

        # bob, in his own window, opens the thread and approves
        await bob.locator(".thread-link").click()
        bobs_card = bob.locator("#thread-messages li", has_text="Approval needed")
        await bobs_card.get_by_role("button", name="Approve", exact=True).click()
        await expect(card).to_contain_text("Approved by @bob", timeout=WAIT_MS)
        await expect(card.get_by_role("button")).to_have_count(0)
        await expect(thread).to_contain_text("Done — saved the note “Water”.", timeout=WAIT_MS)
        await expect(bob.locator("#log")).to_contain_text("chat.update")

        # a question: alice answers by replying in the thread, and the run continues
        await alice.click("#thread-close")
        await send(alice, "#composer", "@countersign remind me about the meeting")
        await expect(thread).to_contain_text("When is the meeting", timeout=WAIT_MS)
        await send(alice, "#thread-composer", "tomorrow at 10")
        await expect(thread).to_contain_text("Reminder: the meeting", timeout=WAIT_MS)
        reminder = thread.locator("li", has_text="Approval needed")
        await expect(reminder).to_contain_text("tomorrow at 10")

        # bob denies it with a reason, in the bot's modal
        await bob.locator(".thread-link").last.click()
        bobs_card = bob.locator("#thread-messages li", has_text="Approval needed")
        await bobs_card.get_by_role("button", name="Deny").click()
        modal = bob.locator(".modal")
        await expect(modal).to_contain_text("Deny request", timeout=WAIT_MS)
        await modal.locator("textarea").fill("we have a calendar for that")
        await modal.get_by_role("button", name="Deny").click()
        await expect(modal).to_have_count(0, timeout=WAIT_MS)
        await expect(reminder).to_contain_text("Denied by @bob", timeout=WAIT_MS)
        await expect(reminder).to_contain_text("we have a calendar for that")
        assert errors == []


async def test_mrkdwn_and_block_kit_render_as_slack_shows_them_and_never_as_html(
    browser: Browser,
) -> None:
    settings = BotSettings(_env_file=None, host="127.0.0.1", port=0)  # type: ignore[call-arg]
    async with open_playground(settings) as playground:
        errors: list[str] = []
        page = await open_as(browser, playground.url, "UALICE", errors)
        hostile = "<img src=x onerror=alert(1)> *bold* _it_ ~no~ `x<y` <https://example.com|site>"
        await send(page, "#composer", hostile)
        message = page.locator("#messages li").last
        await expect(message).to_contain_text("<img src=x onerror=alert(1)>")
        await expect(message.locator("img")).to_have_count(0)
        await expect(message.locator("strong")).to_have_text("bold")
        await expect(message.locator("em")).to_have_text("it")
        await expect(message.locator("s")).to_have_text("no")
        await expect(message.locator("code")).to_have_text("x<y")
        await expect(message.locator("a")).to_have_attribute("href", "https://example.com")

        rendered = await page.evaluate(
            """async (text) => {
              const { mrkdwn } = await import("/static/mrkdwn.js");
              const names = { me: "UALICE", userName: (id) => ({ UBOB: "bob" })[id],
                              groupHandle: (id) => ({ S0APPROVERS: "approvers" })[id],
                              channelName: () => undefined };
              const box = document.createElement("div");
              box.append(mrkdwn(text, names));
              return box.innerHTML;
            }""",
            "*Hi* <@UBOB>, ask <!subteam^S0APPROVERS> &amp; me &lt;3\n"
            "&gt; quoted <!date^0^{date_num}|then>\n```<b>&amp;</b>```",
        )
        assert rendered == (
            '<strong>Hi</strong> <span class="mention">@bob</span>, ask '
            '<span class="mention">@approvers</span> &amp; me &lt;3'
            '<blockquote>quoted <time class="date" datetime="1970-01-01T00:00:00.000Z"'
            f' title="{await page.evaluate("new Date(0).toString()")}">1970-01-01</time>'
            '</blockquote><pre class="code-block">&lt;b&gt;&amp;&lt;/b&gt;</pre>'
        )

        blocks = await page.evaluate(
            """async (blocks) => {
              const { renderBlocks } = await import("/static/blocks.js");
              const names = { me: "UALICE", userName: () => "bob", groupHandle: () => undefined,
                              channelName: () => undefined };
              const box = document.createElement("div");
              box.append(renderBlocks(blocks, { names, onAction: async () => {} }));
              const all = (selector) => [...box.querySelectorAll(selector)];
              return {
                header: box.querySelector(".bk-header").textContent,
                fields: all(".bk-field").map((f) => f.innerHTML),
                dividers: all("hr.bk-divider").length,
                context: box.querySelector(".bk-context").textContent,
                buttons: all("button").map((b) => `${b.className}:${b.textContent}`),
                markdown: box.querySelector(".bk-markdown").innerHTML,
                unknown: box.querySelector(".bk-unsupported").textContent,
              };
            }""",
            [
                {"type": "header", "text": {"type": "plain_text", "text": "Hi <b>"}},
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": "*title*\n~old~"},
                        {"type": "plain_text", "text": "*not bold*"},
                    ],
                },
                {"type": "divider"},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "by <@UBOB>"}]},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Go"},
                            "style": "primary",
                            "action_id": "a",
                        },
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "No"},
                            "style": "danger",
                            "action_id": "b",
                        },
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Later"},
                            "action_id": "c",
                        },
                    ],
                },
                {"type": "markdown", "text": "**b** and [docs](https://example.com)\n- one"},
                {"type": "video", "title": {"type": "plain_text", "text": "v"}},
            ],
        )
        assert blocks == {
            "header": "Hi <b>",
            "fields": [
                "<strong>title</strong><br><s>old</s>",
                '<span class="plain">*not bold*</span>',
            ],
            "dividers": 1,
            "context": "by @bob",
            "buttons": [
                "bk-button primary:Go",
                "bk-button danger:No",
                "bk-button:Later",
            ],
            "markdown": (
                '<p><strong>b</strong> and <a href="https://example.com" target="_blank"'
                ' rel="noopener noreferrer">docs</a></p><ul><li>one</li></ul>'
            ),
            "unknown": "[video block: not shown in the playground]",
        }
        assert errors == []
