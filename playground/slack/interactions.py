"""What Slack does around a person's click or submit: find the button, apply the modal's ack."""

from __future__ import annotations

from .methods import Methods
from .records import Delivery, JSONObject


def find_button(
    blocks: list[JSONObject], action_id: str, value: str | None, *, where: str
) -> tuple[JSONObject, str]:
    """The button and its block_id; a person cannot click a button that is not shown."""
    shown: list[str] = []
    for index, block in enumerate(blocks):
        if block.get("type") == "actions":
            elements = block.get("elements", [])
        elif block.get("type") == "section":
            elements = [block["accessory"]] if isinstance(block.get("accessory"), dict) else []
        else:
            continue
        for el in elements:
            if el.get("type") != "button":
                continue
            shown.append(f"{el.get('action_id')}={el.get('value')!r}")
            if el.get("action_id") == action_id and (value is None or el.get("value") == value):
                # Slack gives every block an id; ours is stable so payloads are reproducible.
                return el, str(block.get("block_id") or f"emulated-block-{index}")
    wanted = action_id if value is None else f"{action_id}={value!r}"
    raise AssertionError(f"no button {wanted} in {where}; buttons shown: {shown or 'none'}")


def find_feedback(blocks: list[JSONObject], *, where: str) -> tuple[JSONObject, str]:
    """The first `feedback_buttons` element shown and its block_id (thumbs up / down)."""
    for index, block in enumerate(blocks):
        if block.get("type") != "context_actions":
            continue
        for el in block.get("elements", []):
            if isinstance(el, dict) and el.get("type") == "feedback_buttons":
                return el, str(block.get("block_id") or f"emulated-block-{index}")
    raise AssertionError(f"no feedback buttons in {where}")


def apply_view_ack(methods: Methods, entry: JSONObject, delivery: Delivery) -> None:
    """A view_submission ack: empty closes the view; `errors`, `update`, `push`, `clear`.

    A failed or missing ack leaves the modal open, as Slack shows an error inside it.
    """
    if not delivery.ok:
        return
    try:
        ack = delivery.json() or {}
    except ValueError:
        ack = {}
    action = ack.get("response_action") if isinstance(ack, dict) else None
    root = entry["view"]["root_view_id"]
    if action == "errors":
        entry["errors"] = ack.get("errors")
    elif action == "update" and isinstance(ack.get("view"), dict):
        entry["errors"] = None
        methods.replace_view(entry, ack["view"])
    elif action == "push" and isinstance(ack.get("view"), dict):
        methods.store_view(ack["view"], entry["user"], None, root=root)
    elif action == "clear":
        for other in methods.ws.views:
            if other["view"]["root_view_id"] == root:
                other["open"] = False
    else:
        entry["open"] = False
