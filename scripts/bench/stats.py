#!/usr/bin/env python3
"""Figures for the benchmark scripts.

stats.py pgbench LOG...      p50 and p99 (ms) of pgbench per-transaction logs (`-l`), each
                             transaction timed from its start (schedule lag left out, as the
                             load generators time a request from when it is sent)
stats.py runs LABEL V...     min / median / max of one figure over the runs
stats.py field NAME          from a line on stdin, the number after the word NAME
"""
import statistics
import sys


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[round((len(values) - 1) * p)]


def pgbench(paths):
    lat = []
    for path in paths:
        with open(path) as f:
            for line in f:
                parts = line.split()
                # client_id transaction_no time script_no time_epoch time_us [schedule_lag]
                if len(parts) < 6 or parts[2] == "skipped":
                    continue
                t = int(parts[2])
                lag = int(parts[6]) if len(parts) > 6 else 0
                lat.append((t - lag) / 1000.0)
    print(f"{pct(lat, 0.5):.2f} {pct(lat, 0.99):.2f} {len(lat)}")


def runs(label, values):
    v = [float(x) for x in values]
    print(
        f"{label}: min {min(v):.2f} / median {statistics.median(v):.2f} / max {max(v):.2f} ms"
        f" ({len(v)} runs)"
    )


def field(name):
    words = sys.stdin.read().split()
    for i, w in enumerate(words[:-1]):
        if w == name:
            print(words[i + 1])
            return
    print("nan")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "pgbench":
        pgbench(args)
    elif cmd == "runs":
        runs(args[0], args[1:])
    elif cmd == "field":
        field(args[0])
    else:
        sys.exit(f"unknown command {cmd}")
