"""JupyterLab in Chromium: run a notebook that shows a "Try it" widget, move a slider with the keyboard,
and check the exact readout and the figure. Skips without Chromium or Playwright unless CI is set."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, chromium_path
from mtlbook.explorers.start import _render, digits_overlap

pytestmark = pytest.mark.browser
SCREENSHOT = REPO / "build" / "browser-test.png"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


def _require_browser():
    missing = []
    if chromium_path() is None:
        missing.append("Chromium (/usr/bin/chromium; Debian package 'chromium')")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright")
    if missing:
        message = f"browser test needs {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so this is a failure)")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 with a random token, serving a notebook made for the test."""
    _require_browser()
    root, home = tmp_path / "book", tmp_path / "jupyter"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import mtlbook as mb\ncfg = mb.setup()"),
        nbformat.v4.new_code_cell("from mtlbook.explorers.start import digits_viewer\nviewer = digits_viewer()\nviewer.ui"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    nbformat.write(nb, root / "widget.ipynb")
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), MTLBOOK_PROGRESS="0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start")
                time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _expected(**values) -> str:
    settings = {"canvas": 10, "shift": 2, "jitter": 0, "overlay": "max"} | values
    text, fig = _render(digits_overlap(**settings))
    if fig is not None:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return text


def test_widget_readout_follows_the_slider(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token = lab
    SCREENSHOT.parent.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/widget.ipynb?token={token}")
            page.wait_for_function(
                """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                           const k = w && w.sessionContext && w.sessionContext.session
                                     && w.sessionContext.session.kernel;
                           return k && k.status === 'idle'; }""", timeout=120_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            readout = page.locator(".mtl-readout pre")
            expect(readout).to_have_text(_expected(), timeout=120_000)
            expect(page.locator(".mtl-figure img")).to_have_count(1, timeout=60_000)

            page.locator(".mtl-shift .noUi-handle").focus()
            page.keyboard.press("ArrowLeft")
            expect(readout).to_have_text(_expected(shift=1), timeout=60_000)
            page.keyboard.press("ArrowLeft")
            expect(readout).to_have_text(_expected(shift=0), timeout=60_000)
            expect(page.locator(".mtl-figure img")).to_have_count(1)
            assert page.get_by_text("Error displaying widget").count() == 0
        finally:
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            browser.close()
