"""Time and peak memory of the guideline diff on two 200,000-character versions that differ in 2%
of their words, against the difflib word diff Concord used before, in the same run.

Each measurement runs in its own process, which reads the two versions from files: its peak
memory is its peak resident size above what it held just before the diff. The difflib baseline is
quadratic, so it gets a time limit: when it runs out, the ratio is printed as a lower bound.
Smaller sizes show how each one grows.
Run: .venv/bin/python bench/bench_guideline_diff.py [--baseline-timeout SECONDS] [--chars N]
"""

import argparse
import difflib
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.utils.html import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = re.compile(r"\s+|[^\s]+")
SIZES = (12_500, 25_000, 50_000, 100_000, 200_000)


def guideline_pair(n_chars: int, seed: int = 7) -> tuple[str, str]:
    """A Markdown-like guideline (headings, list items, paragraphs of up to 200 words on one line)
    from a vocabulary of 5,000 words, and a copy with 2% of its words replaced."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(5_000)]
    lines, size = [], 0
    while size < n_chars:
        kind = rng.random()
        words = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(8, 200)))
        line = f"## {words[:40]}\n" if kind < 0.05 else (f"- {words}\n" if kind < 0.3 else f"{words}\n\n")
        lines.append(line)
        size += len(line)
    old = "".join(lines)[:n_chars]
    tokens = TOKEN.findall(old)
    for k, token in enumerate(tokens):
        if not token.isspace() and rng.random() < 0.02:
            tokens[k] = rng.choice(vocabulary)
    return old, "".join(tokens)


def difflib_word_diff(old: str, new: str) -> tuple[str, int, int]:
    """The diff Concord shipped before: difflib over word and whitespace tokens."""
    a, b = TOKEN.findall(old), TOKEN.findall(new)
    parts, added, removed = [], 0, 0
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
            removed += sum(1 for t in a[i1:i2] if not t.isspace())
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
            added += sum(1 for t in b[j1:j2] if not t.isspace())
    return "".join(parts), added, removed


def concord_diff(old: str, new: str) -> tuple[str, int, int]:
    from projects.guideline_diff import diff_guideline_text

    diff = diff_guideline_text(old, new)
    return str(diff.html), diff.added, diff.removed


def _resident_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def measure(which: str, folder: Path) -> dict:
    """Run in a child process: one diff, its wall time and peak memory above the starting point."""
    old = (folder / "old.md").read_text()
    new = (folder / "new.md").read_text()
    function = concord_diff if which == "concord" else difflib_word_diff
    function("warm up", "warm-up")
    before_kb = _resident_kb()
    start = time.perf_counter()
    _html, added, removed = function(old, new)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kb
    return {"seconds": seconds, "peak_mb": max(peak_kb, 0) / 1024, "added": added, "removed": removed}


def run_child(which: str, n_chars: int, timeout: float) -> dict | None:
    folder = Path(tempfile.mkdtemp(prefix="bench-diff-"))
    old, new = guideline_pair(n_chars)
    (folder / "old.md").write_text(old)
    (folder / "new.md").write_text(new)
    command = [sys.executable, __file__, "--child", which, "--folder", str(folder)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    finally:
        shutil.rmtree(folder)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-timeout", type=float, default=600.0, help="seconds for each difflib run")
    parser.add_argument("--chars", type=int, default=200_000, help="size of the headline comparison")
    parser.add_argument("--child", choices=["concord", "difflib"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.folder)))
        return

    limit = args.baseline_timeout
    print(f"Guideline diff, two versions differing in 2% of their words (difflib limit {limit:.0f} s)")
    columns = ("characters", "new s", "MB", "difflib s", "MB", "time ratio", "memory ratio")
    print("{:>10}  {:>9} {:>6}  {:>9} {:>6}  {:>10} {:>12}".format(*columns))
    sizes = sorted({*(s for s in SIZES if s < args.chars), args.chars})
    baseline_gave_up = False
    for n_chars in sizes:
        ours = run_child("concord", n_chars, timeout=600)
        theirs = None if baseline_gave_up else run_child("difflib", n_chars, args.baseline_timeout)
        if ours is None:
            print(f"{n_chars:>10}  the new diff did not finish in 600 s")
            continue
        if theirs is None:
            baseline_gave_up = True
            bound = args.baseline_timeout / max(ours["seconds"], 1e-6)
            print(
                f"{n_chars:>10}  {ours['seconds']:9.3f} {ours['peak_mb']:6.1f}  "
                f"{'> limit':>9} {'?':>6}  {'> ' + format(bound, ',.0f') + 'x':>10} {'?':>12}"
            )
            continue
        time_ratio = theirs["seconds"] / max(ours["seconds"], 1e-6)
        memory_ratio = theirs["peak_mb"] / max(ours["peak_mb"], 0.1)
        print(
            f"{n_chars:>10}  {ours['seconds']:9.3f} {ours['peak_mb']:6.1f}  "
            f"{theirs['seconds']:9.3f} {theirs['peak_mb']:6.1f}  {time_ratio:9.0f}x {memory_ratio:11.1f}x"
        )
        if (ours["added"], ours["removed"]) != (theirs["added"], theirs["removed"]):
            print(
                f"{'':>10}  words +{ours['added']} -{ours['removed']} (new) "
                f"against +{theirs['added']} -{theirs['removed']} (difflib)"
            )
    print("time ratio = difflib time / new time; memory ratio = difflib peak / new peak (>= 0.1 MB)")


if __name__ == "__main__":
    main()
