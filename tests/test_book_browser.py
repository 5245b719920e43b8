"""The built book works in a real browser, offline: widgets render, maths renders, no console errors, no
page fetches anything from outside the book, and the chapters' explorers answer their controls with no kernel
(their views are precomputed by the build and switched in the page: msa_lib.viz.explorer).

Headless Chromium (Debian's ``chromium``; ``make chromium`` installs it) is driven through the DevTools protocol
(``websocket-client``) while a local HTTP server serves ``_build/html``. For every page we record console errors,
uncaught exceptions, failed loads and every request that leaves ``127.0.0.1``.

These tests need the built book: they are skipped, saying so, when ``_build/html`` does not exist (run
``make book`` first). CI builds the book and then runs them with ``MSA_REQUIRE_BOOK=1``, which turns the skip
(and a missing Chromium) into a failure.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

HTML = REPO_ROOT / "_build" / "html"
REQUIRE = os.environ.get("MSA_REQUIRE_BOOK") == "1"
#: notebooks whose pages must show interactive widgets (the explorers of chapters 1, 2 and 5)
WIDGET_CHAPTERS = ("01_", "02_", "05_")
#: CSS class of a precomputed explorer (msa_lib.viz.explorer.DOM_CLASS; not imported: no msa_lib needed here)
EXPLORER_CLASS = "msa-explorer"
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--no-default-browser-check", "--disable-sync",
    "--disable-extensions", "--mute-audio", "--remote-allow-origins=*", "--remote-debugging-port=0",
    "--window-size=1280,1600",
]


def _unavailable(reason: str):
    if REQUIRE:
        pytest.fail(f"{reason} (MSA_REQUIRE_BOOK=1: the CI must check the built book)")
    pytest.skip(reason)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _pages() -> list[Path]:
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in HTML.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts
                  and p.read_text(errors="replace").find('http-equiv="Refresh"') < 0)


# ------------------------------------------------------------------------------------------ infrastructure
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


class CDP:
    """A minimal DevTools-protocol client for one page (flattened session on the browser's websocket)."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=True)

    def call(self, method: str, params: dict | None = None, *, session: bool = False, timeout: float = 60):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"CDP {method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)
        raise TimeoutError(f"CDP {method}: no reply in {timeout} s")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        return result.get("result", {}).get("value")

    def pump(self, seconds: float) -> None:
        """Collect events for ``seconds`` (a cheap evaluate keeps the socket busy)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.evaluate("1")
            time.sleep(0.1)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").is_file():
        _unavailable(f"the book has not been built ({HTML}/index.html missing): run `make book` first")
    exe = _chromium()
    if exe is None:
        _unavailable("Chromium not found: `make chromium` installs Debian's chromium")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="msa-chromium-")
    proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ws_url = None
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline and ws_url is None:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        found = re.search(r"DevTools listening on (ws://\S+)", line)
        if found:
            ws_url = found.group(1)
    if ws_url is None:
        proc.kill()
        server.shutdown()
        pytest.fail("Chromium did not start:\n" + "".join(lines[-20:]))
    # drain stderr so the browser never blocks on a full pipe
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield ws_url, base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


def load_page(browser, relpath: str, *, settle: float = 1.5, wait_widgets: bool = False) -> dict:
    """Open one page; return its problems and what rendered."""
    ws_url, base = browser
    cdp = CDP(ws_url)
    try:
        url = base + relpath
        cdp.call("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and cdp.evaluate("document.readyState") != "complete":
            time.sleep(0.2)
        expected_views = cdp.evaluate(
            "document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length") or 0
        if wait_widgets and expected_views:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if (cdp.evaluate("document.querySelectorAll('.jupyter-widgets').length") or 0) >= expected_views:
                    break
                time.sleep(0.25)
        # MathJax typesets asynchronously
        if cdp.evaluate("document.querySelectorAll('.math').length"):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not cdp.evaluate("document.querySelectorAll('mjx-container').length"):
                time.sleep(0.25)
        cdp.pump(settle)
        info = {
            "views": expected_views,
            "widgets": cdp.evaluate("document.querySelectorAll('.jupyter-widgets').length") or 0,
            "widget_classes": cdp.evaluate(
                "Array.from(document.querySelectorAll('.jupyter-widgets')).map(e => e.className).slice(0, 50)") or [],
            "math": cdp.evaluate("document.querySelectorAll('.math').length") or 0,
            "mathjax": cdp.evaluate("document.querySelectorAll('mjx-container').length") or 0,
            "images_broken": cdp.evaluate(
                "Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0).map(i => i.src)") or [],
        }
        console, external, failed = [], [], []
        for event in cdp.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                console.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                console.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
            elif method == "Network.requestWillBeSent":
                req_url = params.get("request", {}).get("url", "")
                if not req_url.startswith((base, "data:", "blob:", "about:")):
                    external.append(req_url)
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                failed.append(params.get("errorText", "?"))
        info.update(console=console, external=sorted(set(external)), failed=failed)
        return info
    finally:
        cdp.close()


# ------------------------------------------------------------------------------------------------- tests
def test_every_page_loads_offline_without_console_errors(browser):
    pages = _pages()
    assert pages, f"no pages in {HTML}"
    problems = {}
    for page in pages:
        rel = page.relative_to(HTML).as_posix()
        info = load_page(browser, rel, settle=0.5)
        issues = []
        if info["console"]:
            issues.append(f"console errors: {info['console'][:5]}")
        if info["external"]:
            issues.append(f"requests leaving the book: {info['external'][:5]}")
        if info["failed"]:
            issues.append(f"failed loads: {info['failed'][:5]}")
        if info["images_broken"]:
            issues.append(f"broken images: {info['images_broken'][:5]}")
        if info["math"] and not info["mathjax"]:
            issues.append(f"{info['math']} formulas not typeset by MathJax")
        if issues:
            problems[rel] = issues
    assert not problems, "pages with problems:\n" + "\n".join(f"  {k}: {v}" for k, v in problems.items())


def test_widgets_render_in_the_static_pages(browser):
    notebook_pages = sorted((HTML / "notebooks").glob("[0-9][0-9]_*.html"))
    assert notebook_pages, f"no notebook pages in {HTML / 'notebooks'}"
    with_state = [p for p in notebook_pages if "application/vnd.jupyter.widget-state+json" in p.read_text()]
    missing = [c for c in WIDGET_CHAPTERS
               if not any(p.name.startswith(c) for p in with_state) and any(p.name.startswith(c) for p in notebook_pages)]
    assert not missing, (
        f"chapters {missing} should show interactive explorers (ipywidgets) but their pages carry no widget state"
    )
    for page in with_state:
        info = load_page(browser, page.relative_to(HTML).as_posix(), wait_widgets=True)
        assert info["views"] > 0, f"{page.name}: widget state but no widget views"
        assert info["widgets"] >= info["views"], (
            f"{page.name}: {info['views']} widget views in the page, only {info['widgets']} rendered "
            f"(console: {info['console'][:3]})"
        )
        assert not info["console"], f"{page.name}: console errors {info['console'][:5]}"


# ------------------------------------------------------------------------------ explorers without a kernel
#: what each precomputed explorer shows: per explorer, a fingerprint of its visible images (bytes of the blob,
#: FNV-1a) and HTML views; "" while an image has not loaded. It first waits for two animation frames: the
#: widgets' layout messages (lumino) are processed at the next frame, and a control moved again before that
#: can find the view they were posted to already gone (a console error no reader, one move per frame at
#: most, can cause)
_SHOWN_JS = """(async () => {
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const out = [];
  for (const box of document.querySelectorAll('.%s')) {
    const parts = [];
    for (const img of box.querySelectorAll('img')) {
      if (!img.complete || img.naturalWidth === 0) { parts.push(''); continue; }
      const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
      let h = 2166136261;
      for (const b of bytes) { h = Math.imul(h ^ b, 16777619) >>> 0; }
      parts.push(`img ${img.naturalWidth}x${img.naturalHeight} ${bytes.length} ${h}`);
    }
    for (const e of box.querySelectorAll('.widget-html-content')) { parts.push(e.innerHTML); }
    out.push(parts.includes('') ? '' : parts.join(' | '));
  }
  return out;
})()""" % EXPLORER_CLASS

#: move control k of explorer i one step (+1 or -1), as a reader would: a <select> changed (and its change
#: event), a slider handle given an arrow key, a toggle button clicked; returns what was done
_MOVE_JS = """((i, k, step) => {
  const box = document.querySelectorAll('.%s')[i];
  const control = box.querySelector('.widget-hbox').children[k];
  const select = control.querySelector('select');
  if (select) {
    const n = select.options.length;
    select.selectedIndex = (select.selectedIndex + step + n) %% n;
    select.dispatchEvent(new Event('change', {bubbles: true}));
    return 'select ' + select.value;
  }
  const handle = control.querySelector('.noUi-handle');
  if (handle) {
    const key = step > 0 ? 'ArrowRight' : 'ArrowLeft';
    handle.focus();
    handle.dispatchEvent(new KeyboardEvent('keydown', {key: key, keyCode: step > 0 ? 39 : 37,
                                                       which: step > 0 ? 39 : 37, bubbles: true}));
    return 'slider ' + handle.getAttribute('aria-valuenow');
  }
  const buttons = Array.from(control.querySelectorAll('button'));
  if (buttons.length) {
    const now = buttons.findIndex(b => b.classList.contains('mod-active'));
    const next = buttons[(now + step + buttons.length) %% buttons.length];
    next.click();
    return 'button ' + next.textContent;
  }
  return null;
})""" % EXPLORER_CLASS


def _evaluate_async(cdp: CDP, expression: str):
    result = cdp.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      session=True)
    if "exceptionDetails" in result:
        raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
    return result.get("result", {}).get("value")


def _shown(cdp: CDP, previous: list[str] | None = None, timeout: float = 15) -> list[str]:
    """What the explorers show, once every image has loaded (and, given ``previous``, once it changed)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = _evaluate_async(cdp, _SHOWN_JS) or []
        if shown and all(shown) and (previous is None or shown != previous):
            return shown
        if time.monotonic() > deadline:
            return shown
        time.sleep(0.2)


def test_explorers_switch_views_in_the_static_pages(browser):
    """In each widget chapter's page, every precomputed explorer answers each of its controls: moving the
    control one step shows another view, moving it back shows the first one again, with no kernel."""
    ws_url, base = browser
    pages = [p for c in WIDGET_CHAPTERS for p in sorted((HTML / "notebooks").glob(f"{c}*.html"))]
    if not pages:
        _unavailable(f"no chapter page of {WIDGET_CHAPTERS} in {HTML / 'notebooks'}")
    for page in pages:
        assert EXPLORER_CLASS in page.read_text(), f"{page.name}: no precomputed explorer in the page's widget state"
        cdp = CDP(ws_url)
        try:
            cdp.call("Page.navigate", {"url": base + page.relative_to(HTML).as_posix()}, session=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and cdp.evaluate("document.readyState") != "complete":
                time.sleep(0.2)
            deadline = time.monotonic() + 30
            count = f"document.querySelectorAll('.{EXPLORER_CLASS}').length"
            while time.monotonic() < deadline and not cdp.evaluate(count):
                time.sleep(0.25)
            first = _shown(cdp)
            assert first and all(first), f"{page.name}: the explorers did not render their first view ({first})"
            for i in range(len(first)):
                n_controls = cdp.evaluate(f"document.querySelectorAll('.{EXPLORER_CLASS}')[{i}]"
                                          ".querySelector('.widget-hbox').children.length")
                assert n_controls, f"{page.name}: explorer {i} has no controls"
                for k in range(n_controls):
                    before = _shown(cdp)
                    moved = cdp.evaluate(f"{_MOVE_JS}({i}, {k}, 1)")
                    assert moved, f"{page.name}: explorer {i}, control {k}: not a select, a slider or buttons"
                    after = _shown(cdp, before)
                    assert after[i] != before[i], f"{page.name}: explorer {i} shows the same view after '{moved}'"
                    assert all(a == b for j, (a, b) in enumerate(zip(after, before)) if j != i), (
                        f"{page.name}: moving explorer {i} changed another explorer")
                    cdp.evaluate(f"{_MOVE_JS}({i}, {k}, -1)")
                    back = _shown(cdp, after)
                    assert back == before, f"{page.name}: explorer {i}, control {k} moved back: not the first view"
            cdp.pump(0.5)
            errors = [e for e in cdp.events if e.get("method") == "Runtime.exceptionThrown"
                      or (e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error")]
            assert not errors, f"{page.name}: errors while using the explorers: {errors[:3]}"
        finally:
            cdp.close()
