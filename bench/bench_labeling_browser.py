"""Benchmark: in Chromium, the time from a label key to the next example painted on the labeling page.

Usage (PostgreSQL only; the database is created and migrated if missing):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench_labeling_browser \\
    .venv/bin/python bench/bench_labeling_browser.py [--examples 50000] [--labels 100] [--pace 0.4]

The same data as bench_labeling.py, served by gunicorn as in production. One labeler in Debian's
Chromium (Playwright, /usr/bin/chromium) presses a label key every `--pace` seconds (a fast
human) `--labels` times. For each key the page records when the keydown arrived and when the next
example was painted (the first frame after #current-example changed: a requestAnimationFrame and
then a task, which runs after that frame is drawn). Prints p50/p95/max (target p95 < 50 ms), and,
as the baseline from the same run, the same measure for a full reload of the page.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"  # never the production default

from bench.bench_labeling import (  # noqa: E402
    SLUG,
    drop_project,
    ensure_database,
    server_arguments,
    setup_data,
    start_server,
)

CHROMIUM = "/usr/bin/chromium"

# Installed in the page before its own scripts: keydown times and paint times of new examples.
PROBE = """
window.__keys = []; window.__painted = [];
document.addEventListener("keydown", () => window.__keys.push(performance.now()), true);
document.addEventListener("DOMContentLoaded", () => {
  const holder = document.getElementById("current-example");
  if (!holder) return;
  new MutationObserver(() => {
    if (!holder.querySelector("section.lease")) return;
    requestAnimationFrame(() => setTimeout(() => window.__painted.push(performance.now()), 0));
  }).observe(holder, { childList: true });
});
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--pace", type=float, default=0.4, help="seconds between label keys")
    server_arguments(parser)
    parser.add_argument("--port", type=int, default=8767)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    ensure_database()
    cookies, _project_id = setup_data(args.examples, 1)
    from django.db import connections

    connections.close_all()
    session = dict(part.split("=", 1) for part in cookies[0]["cookie"].split("; "))
    server = start_server(args.port, args.workers, args.threads)
    base = f"http://127.0.0.1:{args.port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            # The probe is the benchmark's own script, installed by the browser (not by the page).
            context = browser.new_context(base_url=base)
            context.add_cookies([{"name": k, "value": v, "url": base} for k, v in session.items()])
            context.add_init_script(PROBE)
            page = context.new_page()
            reloads = []
            for _ in range(5):  # the baseline: a full page load, as without the queue
                began = time.perf_counter()
                page.goto(f"/projects/{SLUG}/label/")
                page.wait_for_selector("#current-example section.lease")
                page.evaluate("() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)))")
                reloads.append((time.perf_counter() - began) * 1000)
            keys = "1234"
            for n in range(args.labels):
                page.keyboard.press(keys[n % 4])
                time.sleep(args.pace)
            try:
                page.wait_for_function(
                    "n => Number(document.getElementById('session-count')?.textContent) >= n",
                    arg=args.labels,
                    timeout=60_000,
                )
            except Exception:
                state = page.evaluate(
                    "() => [document.getElementById('session-count')?.textContent,"
                    " document.getElementById('save-status')?.textContent,"
                    " document.getElementById('work-area')?.dataset.exampleId]"
                )
                sys.exit(f"the page did not save {args.labels} labels (saved, status, example): {state}")
            pressed = page.evaluate("() => window.__keys")
            painted = page.evaluate("() => window.__painted")
            browser.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        connections.close_all()
        drop_project()

    # Each key is followed by the paint of the example it brought on screen.
    delays = []
    for at in pressed:
        after = [p for p in painted if p >= at]
        if after:
            delays.append(after[0] - at)
    missing = len(pressed) - len(delays)
    p95 = percentile(delays, 0.95)
    print(
        f"\nChromium, {len(pressed)} label keys every {args.pace:g} s "
        f"({args.examples:,} examples in the project)"
    )
    print(
        f"key -> next example painted: p50 {percentile(delays, 0.5):.1f} ms  p95 {p95:.1f} ms  "
        f"max {max(delays):.1f} ms  (n={len(delays)}, {missing} without a paint)"
    )
    print(f"baseline, a full page load: p50 {percentile(reloads, 0.5):.0f} ms (n={len(reloads)})")
    print(
        f"p95 = {p95 / percentile(reloads, 0.5):.1%} of a page load; "
        f"target p95 < 50 ms: {'OK' if p95 < 50 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
