"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1:PORT. Each message it accepts
is parsed with Python's email package and written to DIR/<n>.json as {to, from, subject,
text, html} (bodies decoded from their transfer encoding). Prints "ready" once listening and
runs until killed or until its stdin closes (so it never outlives the test that started it)."""

import argparse
import email
import email.policy
import json
import os
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        plain = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "to": envelope.rcpt_tos,
            "from": envelope.mail_from,
            "subject": str(msg["subject"]),
            "text": plain.get_content() if plain else None,
            "html": html.get_content() if html else None,
        }
        tmp = os.path.join(self.directory, f".{os.getpid()}-{n}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        # Renamed into place: a reader never sees half a message.
        os.rename(tmp, os.path.join(self.directory, f"{time.time_ns()}-{n}.json"))
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
