"""Screenshot of the Attributions tab for the README (docs/tensorboard-attributions.png).

    pip install playwright          # the Python driver only; no browser download
    python tools/screenshot_dashboard.py runs/demo [out.png]

Serves the run with `gradcallback tensorboard` on loopback and photographs the tab with Debian's
headless Chromium (`apt-get install chromium`), flags as in tools/screenshot.py. The tab opens
on its own choice of probe (the largest alert); the shot shows the last logged step with
integrated gradients beside gradient_norm and the names group's tokens outlined.
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from serving import CHROMIUM_FLAGS as FLAGS  # noqa: E402  (tools/serving.py)
from serving import plugin_frame, serving  # noqa: E402  (after the sys.path line: serving imports gradcallback)

PORT = 6124


def main() -> None:
    logdir = sys.argv[1] if len(sys.argv) > 1 else "runs/demo"
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/tensorboard-attributions.png").resolve()
    with serving(logdir, PORT):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1500, "height": 820})
            page.goto(f"http://127.0.0.1:{PORT}/#gradcallback")
            frame = plugin_frame(page)
            frame.wait_for_selector(".gc-root[data-gc-ready]", timeout=60000)
            methods = frame.locator("select[data-gc=method] option").all_text_contents()
            if "integrated_gradients" in methods and "gradient_norm" in methods:
                frame.select_option("select[data-gc=method]", "gradient_norm")
                frame.select_option("select[data-gc=compare]", "integrated_gradients")
            frame.wait_for_selector(".gc-root[data-gc-pending='0']")
            # the last logged step, where both methods ran
            frame.eval_on_selector(
                "[data-gc=slider]", "s => { s.value = s.max; s.dispatchEvent(new Event('input')); }")
            frame.wait_for_selector(".gc-root[data-gc-pending='0']")
            token = frame.locator(".gc-pane").first.locator(".gc-group").first  # hover a group token: the tooltip
            if token.count():
                token.hover()
            page.wait_for_timeout(500)
            page.screenshot(path=str(out))
            browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
