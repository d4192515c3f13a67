"""Notifications of served mode: the automation that turns the flow's failure events into a webhook call.

The flow emits `fairdistill.gate.failed` and `fairdistill.refresh.failed` (tasks/tracking.py); the
automation in deployments/notify-on-failure.yaml posts each to the URL in FAIRDISTILL_NOTIFY_WEBHOOK,
saved as the Prefect webhook block `fairdistill-notify`. Without the variable it is off.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import yaml

NOTIFY_FILE = Path(__file__).resolve().parents[1] / "deployments" / "notify-on-failure.yaml"
NOTIFY_BLOCK = "fairdistill-notify"


def apply_notifications(api_url: str, say: Callable[[str], None]) -> None:
    """Turn the failure automation on in the Prefect server at `api_url` when
    FAIRDISTILL_NOTIFY_WEBHOOK names a URL, and off when it does not."""
    from prefect.automations import Automation
    from prefect.blocks.webhook import Webhook
    from prefect.settings import PREFECT_API_URL, temporary_settings

    definition = yaml.safe_load(NOTIFY_FILE.read_text())
    url = os.environ.get("FAIRDISTILL_NOTIFY_WEBHOOK", "")
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        try:
            existing = Automation.read(name=definition["name"])
        except ValueError:  # not created yet
            existing = None
        if not url:
            if existing is not None and existing.enabled:
                existing.disable()
            say("notifications off (set FAIRDISTILL_NOTIFY_WEBHOOK to a URL to turn them on)")
            return
        block = Webhook(url=url).save(NOTIFY_BLOCK, overwrite=True)
        for action in definition["actions"]:
            action["block_document_id"] = str(block)
        if existing is not None:  # replaced, so that an edited file takes effect
            existing.delete()
        Automation.model_validate({**definition, "enabled": True}).create()
    say(f"notifications on: {definition['name']} calls webhook block {NOTIFY_BLOCK}")
