"""Screenshot a local HTML file (e.g. a dataset version's ``report.html``) with headless Chromium.

    python scripts/screenshot.py output/demo/versions/<version>/report.html report.png

Debian's ``chromium`` (``/usr/bin/chromium``, or ``CHROMIUM``) driven by Playwright, with the
browser test's flags: headless, no sandbox, no background networking. Nothing is fetched.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-dev-shm-usage"]


def screenshot(page_file: Path, out: Path, width: int = 1280) -> Path:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(page_file.resolve().as_uri())
            page.wait_for_load_state("load")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path, help="an HTML file")
    ap.add_argument("out", type=Path, help="the PNG to write")
    ap.add_argument("--width", type=int, default=1280)
    a = ap.parse_args()
    if not a.page.is_file():
        raise SystemExit(f"{a.page}: no such file")
    print(screenshot(a.page, a.out, a.width))


if __name__ == "__main__":
    main()
