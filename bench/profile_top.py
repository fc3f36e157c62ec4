"""Top frames of a py-spy profile, as markdown tables for RESULTS.md.

``py-spy record --format raw -o me.txt --pid <worker>`` writes collapsed stacks (one line per
distinct stack, ``frame;frame;... count``). This sums them per function (file and name, line
numbers dropped, so one function is one row): *own* is the share of samples where the
function is the innermost frame, *total* the share where it is anywhere on the stack
(counted once per stack, so recursion does not exceed 100 %). Idle samples (the event loop
waiting in ``select``/``epoll``) are kept: they show how much of the time the worker had
nothing to do.

Usage: ``python -m bench.profile_top me.txt [--top 15]``
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

#: Frames on at least this share of the samples are the process's spine, not a cost centre.
SPINE = 0.45

_LINE = re.compile(r"^(?P<name>.*) \((?P<file>.*?)(?::\d+)?\)$")


def _function(frame: str) -> str:
    match = _LINE.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/stridegraph/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/stridegraph/":
                path = "stridegraph/" + path
            break
    return f"{match['name']} ({path})"


def top_frames(text: str) -> tuple[int, Counter[str], Counter[str]]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [_function(f) for f in stack.split(";") if f]
        if frames:
            own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    return samples, own, total


def markdown(text: str, top: int) -> str:
    samples, own, total = top_frames(text)
    if not samples:
        return "(no samples)"
    lines = [f"{samples:,} samples.", "", "| own % | total % | function |", "|---:|---:|---|"]
    for name, count in own.most_common(top):
        lines.append(
            f"| {100 * count / samples:.1f} | {100 * total[name] / samples:.1f} | `{name}` |"
        )
    lines += [
        "",
        f"By total, without the {SPINE:.0%}+ spine (runpy, uvicorn, the event loop, the ASGI"
        " stack every request shares):",
        "",
        "| total % | own % | function (by total) |",
        "|---:|---:|---|",
    ]
    inner = [(n, c) for n, c in total.most_common() if c < SPINE * samples]
    for name, count in inner[:top]:
        lines.append(
            f"| {100 * count / samples:.1f} | {100 * own[name] / samples:.1f} | `{name}` |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(markdown(args.raw.read_text(), args.top))


if __name__ == "__main__":
    main()
