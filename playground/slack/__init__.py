"""A Slack workspace in a box: a real Web API server plus signed Slack -> bot delivery.

The bot uses the real `AsyncWebClient(base_url=emulator.api_url)` and real Bolt, so this speaks
Slack's wire format and enforces Slack's limits (blocks.py, limits.py). In the tests, the test
plays the people and asserts on what they would see; in the playground, people in a browser do.

    async with SlackEmulator() as slack:
        slack.deliver_to(bot_url)                     # or: await slack.wait_for_socket()
        msg, _ = await slack.user_says("UALICE", "C0GENERAL", "<@UBOT> hi")
        await slack.wait_until(lambda: len(slack.thread("C0GENERAL", msg.ts)) > 1)

Default workspace: team T0001 with app A0001; the bot UBOT ("countersign", bot_id BBOT); people
UALICE "alice", UBOB "bob", UCAROL "carol"; C0GENERAL "general" (public, everyone), G0PRIVATE
"private" (private, everyone), D0ALICE and D0BOB (DMs with the bot); usergroup S0APPROVERS
"approvers" = [UBOB].

The agent surface: App Home (`views.publish`, `open_home`, `click_home`), feedback buttons
(`click_feedback`), native streaming (`chat.startStream/appendStream/stopStream`, `is_streaming`,
`stream_lifetime`, `stop_session`), assistant threads (`thread_status`, `status_history`,
`suggested_prompts`, `thread_title`) and agent sessions (`session`).

Modules: records (what tests read), workspace (state), agent_state (agent-surface state),
blocks (size/shape rules), limits (rate limits, faults), methods and agent_methods (Web API
methods), web_api (HTTP plumbing, response_url), payloads (events and interactions), delivery
(signing, HTTP, Socket Mode), emulator (the facade).
"""

from .delivery import sign_request
from .emulator import SlackEmulator
from .errors import SlackError
from .limits import Limit, RateLimiter
from .records import Call, Delivery, Message

__all__ = [
    "Call",
    "Delivery",
    "Limit",
    "Message",
    "RateLimiter",
    "SlackEmulator",
    "SlackError",
    "sign_request",
]
