"""Headless Chromium driven through the DevTools protocol (over aiohttp's WebSocket client): open
a page, wait for a condition, read values from it and take a screenshot."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Any


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One headless Chromium with one tab, for ``with Browser() as b: b.open(url); b.screenshot()``."""

    def __init__(self, width: int = 1280, height: int = 1100) -> None:
        self.port, self.profile = free_port(), tempfile.mkdtemp(prefix="igan-chromium-")
        self.process = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             f"--remote-debugging-port={self.port}", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.ids = itertools.count(1)
        import aiohttp

        self.loop = asyncio.new_event_loop()
        self.session = self.loop.run_until_complete(self._session(aiohttp))
        self.socket = self.loop.run_until_complete(self.session.ws_connect(self._page_socket(), max_msg_size=0))

    @staticmethod
    async def _session(aiohttp):
        return aiohttp.ClientSession()

    def _page_socket(self, timeout: float = 30) -> str:
        end = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as answer:
                    pages = [t for t in json.load(answer) if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            if time.monotonic() > end:
                raise TimeoutError("chromium's DevTools endpoint did not answer")
            time.sleep(0.2)

    def send(self, method: str, **params: Any) -> dict:
        return self.loop.run_until_complete(asyncio.wait_for(self._send(method, params), 60))

    async def _send(self, method: str, params: dict) -> dict:
        call = next(self.ids)
        await self.socket.send_str(json.dumps({"id": call, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.receive_str())
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def open(self, url: str, until: str, timeout: float = 60) -> Any:
        """Load ``url`` and wait until the JavaScript ``until`` gives a truthy value; that value."""
        self.send("Page.navigate", url=url)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.evaluate(until)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"{url}: {until} stayed false for {timeout} s")

    def screenshot(self) -> bytes:
        import base64

        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.loop.run_until_complete(self.socket.close())
        self.loop.run_until_complete(self.session.close())
        self.loop.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)
