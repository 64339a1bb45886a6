"""Groups a flat `perf report --stdio` (self time by symbol) by crate, and lists the top symbols.

Usage: perf_crates.py N < perf.txt — prints the share of each crate (the symbol's first path
segment; `[k]` samples are the kernel, libc names are `libc`) and the N hottest symbols.
"""
import re
import sys
from collections import Counter

LINE = re.compile(r"^\s+([0-9.]+)%\s+\[(.)\]\s+(.*?)\s*$")
PATH = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)::")


def crate(kind: str, symbol: str) -> str:
    if kind == "k":
        return "kernel"
    m = PATH.search(symbol.lstrip("<&*"))
    if m:
        return m.group(1)
    if symbol.startswith("0x"):
        return "unknown"
    return "libc/alloc"


def main() -> None:
    top = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    by_crate: Counter = Counter()
    symbols = []
    for line in sys.stdin:
        m = LINE.match(line)
        if not m:
            continue
        share, kind, symbol = float(m.group(1)), m.group(2), m.group(3)
        by_crate[crate(kind, symbol)] += share
        symbols.append((share, symbol))
    print("  ".join(f"{name} {share:.1f}%" for name, share in by_crate.most_common(12)))
    for share, symbol in sorted(symbols, reverse=True)[:top]:
        print(f"{share:5.2f}%  {symbol[:110]}")


main()
