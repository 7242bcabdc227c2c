"""Fixtures of the explorer's browser tests: a live demo chain in its own process,
Debian's chromium driven by Playwright (never Playwright's own browser download),
and a page that fails the test on any script error or non-loopback request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "explorer"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 240.0
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class DemoChain:
    """The three live nodes: the demo chain, the lawful-access case world and the
    story's chain (``carchain demo``: the crash investigated, its picture published)."""

    demo: str
    case: str
    story: str
    crashed: str  # the vehicle whose data the demo shared (access log, consents)

    def url(self, node: str) -> str:
        """Return the base URL of ``node`` (``demo``, ``case`` or ``story``)."""
        return {"demo": self.demo, "case": self.case, "story": self.story}[node]

    def api(self, path: str, node: str = "demo", **params: Any) -> Any:
        """Read the node's API directly (what the page should show)."""
        base = self.url(node)
        resp = httpx.get(base + path, params=params, timeout=30)
        resp.raise_for_status()
        return resp.json()


def wait_for_urls(proc: subprocess.Popen[bytes], path: Path, log: Path) -> dict[str, str]:
    """Poll for the demo process's URL file until a deadline, failing if it exits."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if path.exists():
            return dict(json.loads(path.read_text()))
        if proc.poll() is not None:
            pytest.fail(f"demo node exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail("demo node did not come up in time")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoChain]:
    """Run the demo chain process; stop it by its pid at the end, even on failure.

    ``EXPLORER_TEST_CHAIN=DIR`` reuses a demo chain already started with
    ``python -m tests.explorer.demo_node DIR`` (faster reruns while editing pages).
    """
    reuse = os.environ.get("EXPLORER_TEST_CHAIN")
    if reuse:
        urls = json.loads((Path(reuse) / "urls.json").read_text())
        yield DemoChain(urls["demo"], urls["case"], urls["story"], urls["crashed"])
        return
    out = tmp_path_factory.mktemp("explorer-chain")
    log = out / "node.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.explorer.demo_node", str(out)],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        urls = wait_for_urls(proc, out / "urls.json", log)
        yield DemoChain(urls["demo"], urls["case"], urls["story"], urls["crashed"])
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


@pytest.fixture(scope="module")  # not the session: sync Playwright runs an event loop in
def browser() -> Iterator[Any]:  # the main thread, which later tests' asyncio.run() refuses
    """Debian's chromium under Playwright (``make setup-browser`` installs it)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup-browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Explorer:
    """A browser page on the explorer, recording script errors and foreign requests."""

    page: Any
    chain: DemoChain
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def open(self, route: str, node: str = "demo") -> Any:
        """Go to ``#route`` and wait until the page rendered it."""
        self.page.goto(f"{self.chain.url(node)}/explorer/#{route}")
        return self.rendered(route.split("?")[0])

    def rendered(self, path: str) -> Any:
        """Wait until the view finished rendering ``path``; return the view."""
        sel = f'#view[aria-busy="false"][data-path="{path}"]'
        self.page.wait_for_selector(sel, timeout=30_000)
        return self.page.locator("#view")

    def text(self) -> str:
        return str(self.page.inner_text("#view"))

    def shot(self, name: str) -> None:
        """Save a screenshot of the page (its top 2 400 px) as a test artefact."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        size = self.page.viewport_size
        height = min(int(self.page.evaluate("document.documentElement.scrollHeight")), 2400)
        clip = {"x": 0, "y": 0, "width": size["width"], "height": height}
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, clip=clip)


def make_explorer(browser: Any, chain: DemoChain, viewport: dict[str, int]) -> Explorer:
    """Open a fresh context; requests leaving loopback are refused and recorded."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    ex = Explorer(page, chain)
    page.on("pageerror", lambda exc: ex.errors.append(str(exc)))
    # A 404 answer the page handles (an unknown id) is logged as a failed resource: not an error.
    page.on(
        "console",
        lambda m: (
            ex.errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith("data:") or host == "127.0.0.1":
            route.continue_()
        else:
            ex.foreign.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return ex


def open_explorer(browser: Any, chain: DemoChain, viewport: dict[str, int]) -> Iterator[Explorer]:
    """Yield an explorer page of ``viewport``; fail on a script error or foreign request."""
    ex = make_explorer(browser, chain, viewport)
    try:
        yield ex
    finally:
        ex.page.context.close()
    assert ex.errors == []
    assert ex.foreign == []


@pytest.fixture
def explorer(browser: Any, chain: DemoChain) -> Iterator[Explorer]:
    """A laptop-sized explorer page."""
    yield from open_explorer(browser, chain, LAPTOP)


@pytest.fixture
def phone(browser: Any, chain: DemoChain) -> Iterator[Explorer]:
    """A phone-sized explorer page (touch, small viewport)."""
    yield from open_explorer(browser, chain, PHONE)
