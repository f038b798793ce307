"""TensorBoard as a user sees it: a real server on the event files and headless Chromium at
1600 px (Playwright drives it; its locators reach into TensorBoard's shadow DOM)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def need_browser():
    """Skip where no Chromium or Playwright is installed, except in CI (.ci/run installs both)."""
    missing = CHROMIUM is None or shutil.which("playwright") is None and not _importable("playwright")
    if missing and os.environ.get("CI") != "true":
        pytest.skip("no chromium/playwright installed (.ci/run installs them; there a missing one fails)")


def _importable(name: str) -> bool:
    with contextlib.suppress(ImportError):
        __import__(name)
        return True
    return False


@contextlib.contextmanager
def tensorboard(logdir):
    """``tensorboard --logdir logdir`` on a free local port; yields its address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextlib.contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            browser.close()


def ticked_hparams(page, address: str) -> list[str]:
    """The hyperparameters whose columns the HPARAMS table shows by default, in order."""
    page.goto(f"{address}/#hparams")
    boxes = page.locator("tf-hparams-query-pane paper-checkbox")
    boxes.first.wait_for(timeout=60_000)
    return [box.inner_text().strip() for box in boxes.all() if box.get_attribute("aria-checked") == "true"]


def run_names_shown_whole(page, address: str, names: list[str]) -> dict[str, bool]:
    """For each run name: is it in the Time Series run list on one line (a longer name wraps
    inside the list's cell and is clipped by the pane)?"""
    page.goto(f"{address}/#timeseries")
    shown = {}
    for name in names:
        label = page.get_by_text(name, exact=True).first
        label.wait_for(timeout=60_000)
        shown[name] = label.evaluate("e => e.getBoundingClientRect().height"
                                      " < 2 * parseFloat(getComputedStyle(e).fontSize)")
    return shown
