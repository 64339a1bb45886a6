"""Verify webhook deliveries with the standardwebhooks library.

Reads {"secret": "whsec_...", "requests": [{"headers": {...}, "body": "..."}]} on stdin and
prints one JSON list: for each request {"ok": true, "payload": ...} or {"ok": false,
"error": "..."}.
"""

import json
import sys

from standardwebhooks import Webhook, WebhookVerificationError


def main() -> None:
    job = json.load(sys.stdin)
    hook = Webhook(job["secret"])
    out = []
    for req in job["requests"]:
        try:
            payload = hook.verify(req["body"], req["headers"])
            out.append({"ok": True, "payload": payload})
        except WebhookVerificationError as e:
            out.append({"ok": False, "error": str(e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
