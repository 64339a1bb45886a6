#!/usr/bin/env python3
"""Propagation through a running `mdz sync` (watch mode), for scripts/bench-data.sh.

sync_latency.py BASE TOKEN FILE_ID LOCAL_PATH CHANGES

Alternates two kinds of change on one synced document, CHANGES of each, one at a time:
  remote: a REST save (PUT /api/v1/files/{id}); timed from just before the request is sent
          until the local file holds the new text;
  local:  a write of the local file (as an editor saves it); timed from just before the write
          until GET /api/v1/files/{id} returns the new text.
Each change waits up to 10 s (a change not seen by then is counted as missed), then 300 ms
for the sync to settle before the next. Prints one line per direction:
  "remote->local p50 X p99 Y ms (n N, missed M)". Asserts nothing.
"""
import json
import sys
import time
import urllib.request

TIMEOUT_S = 10.0
SETTLE_S = 0.3
POLL_LOCAL_S = 0.002
POLL_SERVER_S = 0.01


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[round((len(values) - 1) * p)]


def request(method, url, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read())


def read_local(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def wait_for(check, poll):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll)
    return False


def main():
    base, token, file_id, local, changes = sys.argv[1:6]
    changes = int(changes)
    url = f"{base}/api/v1/files/{file_id}"
    text = request("GET", url, token)["content"]
    lat = {"remote->local": [], "local->remote": []}
    missed = {"remote->local": 0, "local->remote": 0}
    for i in range(changes):
        # Remote: a REST save reaches the folder.
        want = f"{text}\nbench remote change {i}\n"
        start = time.monotonic()
        request("PUT", url, token, {"content": want})
        if wait_for(lambda: read_local(local) == want, POLL_LOCAL_S):
            lat["remote->local"].append((time.monotonic() - start) * 1000)
        else:
            missed["remote->local"] += 1
        time.sleep(SETTLE_S)
        # Local: an edit of the file reaches the server.
        want = f"{text}\nbench local change {i}\n"
        start = time.monotonic()
        with open(local, "w", encoding="utf-8") as f:
            f.write(want)
        if wait_for(lambda: request("GET", url, token)["content"] == want, POLL_SERVER_S):
            lat["local->remote"].append((time.monotonic() - start) * 1000)
        else:
            missed["local->remote"] += 1
        time.sleep(SETTLE_S)
    for kind, values in lat.items():
        print(
            f"{kind} p50 {pct(values, 0.5):.1f} p99 {pct(values, 0.99):.1f} ms "
            f"(n {len(values)}, missed {missed[kind]})"
        )


if __name__ == "__main__":
    main()
