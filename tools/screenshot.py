"""Screenshot of TensorBoard's Images dashboard for the README (docs/tensorboard-images.png).

    pip install playwright          # the Python driver only; no browser download
    python tools/screenshot.py runs/demo [out.png]

Serves the run with TensorBoard on loopback and photographs it with Debian's headless
Chromium (`apt-get install chromium`), with the flags this machine's closed network needs.
"""

import sys
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving import serving  # noqa: E402  (tools/serving.py)

PORT = 6123
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
FILTER = "integrated_gradients/heatmap/probe_00[0-3]|gradient_norm/evolution/probe_000"


def main() -> None:
    logdir = sys.argv[1] if len(sys.argv) > 1 else "runs/demo"
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/tensorboard-images.png").resolve()
    with serving(logdir, PORT, ready="/data/runs"):  # `gradcallback tensorboard` keeps every image step
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1560, "height": 1300})
            page.goto(f"http://127.0.0.1:{PORT}/#images&tagFilter={urllib.request.quote(FILTER, safe='')}")
            page.wait_for_selector("img[src*='individualImage']", timeout=60000)
            page.get_by_text("Show actual image size").click()  # legible tokens
            page.wait_for_timeout(3000)  # the other cards' images
            page.screenshot(path=str(out))
            browser.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
