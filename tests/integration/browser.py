"""Headless Chromium driven over the DevTools protocol (no Playwright download: Debian's chromium)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1400,1800",
]


class Browser:
    """One Chromium process and one page of it."""

    def __init__(self, executable: str, profile: Path) -> None:
        from websockets.sync.client import connect

        profile.mkdir(parents=True, exist_ok=True)
        self.log = open(profile.parent / "chromium.log", "w")
        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"chromium did not open its DevTools port; see {self.log.name}")
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"]
        self.ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=30)
        self.ids = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.ids += 1
        self.ws.send(json.dumps({"id": self.ids, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.ids:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def blank(self) -> None:
        """Leave the current page (its scripts stop using the CPU)."""
        self.goto("about:blank")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, wanted: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if wanted in text:
                return text
            time.sleep(0.5)
        raise AssertionError(f"the page never showed {wanted!r}; it showed:\n{text[:3000]}")

    def click(self, label: str) -> None:
        """Click the innermost visible element whose own text is `label` (a tab, a link, a button)."""
        clicked = self.evaluate(
            """(() => {
              const label = LABEL;
              const all = [...document.querySelectorAll('button, a, [role=tab], li, span, div')];
              const hits = all.filter(e => e.innerText && e.innerText.trim() === label && e.offsetParent);
              if (!hits.length) return false;
              hits[hits.length - 1].click();
              return true;
            })()""".replace("LABEL", json.dumps(label))
        )
        if not clicked:
            raise AssertionError(f"nothing labelled {label!r} to click on {self.evaluate('location.href')}")

    def choose(self, value: str) -> None:
        """Pick `value` in the select that offers it, as a person would (change + input events)."""
        done = self.evaluate(
            f"""(() => {{
              const select = [...document.querySelectorAll('select')]
                .find(s => [...s.options].some(o => o.value === {json.dumps(value)}));
              if (!select) return false;
              select.value = {json.dumps(value)};
              select.dispatchEvent(new Event('input', {{bubbles: true}}));
              select.dispatchEvent(new Event('change', {{bubbles: true}}));
              return true;
            }})()"""
        )
        if not done:
            raise AssertionError(f"no select offers {value!r}")

    def type_into(self, index: int, text: str) -> None:
        """Focus the index-th text field (input or textarea) of the page and type `text` into it."""
        focused = self.evaluate(
            f"""(() => {{
              const fields = [...document.querySelectorAll('textarea, input[type=text], input:not([type])')]
                .filter(e => e.offsetParent);
              const field = fields[{index}];
              if (!field) return false;
              field.focus();
              return true;
            }})()"""
        )
        if not focused:
            raise AssertionError(f"no text field number {index} on the page")
        self.send("Input.insertText", text=text)

    def field_values(self) -> list[str]:
        """What the visible form fields (selects, text inputs, text areas) hold, in page order."""
        return self.evaluate(
            """[...document.querySelectorAll('select, textarea, input[type=text], input:not([type])')]
              .filter(e => e.offsetParent).map(e => e.value)"""
        )

    def loaded_images(self, fragment: str) -> list[int]:
        """Natural widths of the page's images whose address holds `fragment` (0: not loaded)."""
        found = f"[...document.images].filter(i => i.src.includes({json.dumps(fragment)}))"
        return self.evaluate(f"{found}.map(i => i.naturalWidth)")

    def scroll_to_image(self, fragment: str) -> None:
        found = f"[...document.images].find(i => i.src.includes({json.dumps(fragment)}))"
        self.evaluate(found + "?.scrollIntoView({block: 'center'})")

    def screenshot(self, path: Path) -> Path:
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
