"""Headless Chromium driven by Playwright for Python: Debian's chromium through `executable_path`
(no Playwright browser download), with Playwright's waiting in place of hand-written polling."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Request, Response, sync_playwright

# The flags the machine's probe starts Chromium with: without the background-networking ones its
# connections are refused by the closed network, many at a time.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEXT_FIELDS = "textarea, input[type=text], input:not([type])"


class Browser:
    """One Chromium process and one page of it, with the few verbs the UI tests use."""

    def __init__(self, executable: str, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self._playwright = sync_playwright().start()
        try:
            self._context = self._playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=executable,
                headless=True,
                args=FLAGS,
                viewport={"width": 1400, "height": 1800},
            )
        except BaseException:
            self._playwright.stop()
            raise
        self.page = self._context.pages[0] if self._context.pages else self._context.new_page()
        # what the page asked of the servers and did not get: the first thing to read when a click
        # "did nothing" (a form the UI checks with the server before it posts it); API calls only
        self.failed_requests: list[str] = []
        self._context.on("response", self._note_response)
        self._context.on("requestfailed", self._note_failure)

    def _note_response(self, response: Response) -> None:
        if response.status >= 400 and "/api/" in response.url:
            self.failed_requests.append(f"{response.request.method} {response.url} -> {response.status}")

    def _note_failure(self, request: Request) -> None:
        self.failed_requests.append(f"{request.method} {request.url} failed: {request.failure}")

    def goto(self, url: str) -> None:
        self.page.goto(url, wait_until="commit")

    def blank(self) -> None:
        """Leave the current page (its scripts stop using the CPU)."""
        self.goto("about:blank")

    def text(self) -> str:
        return self.page.evaluate("document.body ? document.body.innerText : ''") or ""

    def overlay_text(self) -> str:
        """The text of what lies over the page: open dialogs (`p-modal`) and toasts (`p-toast`)."""
        shown: list[str] = self.page.locator(".p-modal, .p-toast-container").evaluate_all(
            "all => all.map(e => e.innerText.trim()).filter(t => t)"
        )
        return " | ".join(shown) or "(no dialog, no toast)"

    def wait_for_text(self, wanted: str, timeout: float = 60) -> str:
        """Wait until the page's visible text holds `wanted`; return that text."""
        try:
            self.page.wait_for_function(
                "wanted => document.body && document.body.innerText.includes(wanted)",
                arg=wanted,
                timeout=timeout * 1000,
                polling=250,
            )
        except PlaywrightError:
            shown = self.text()[:3000]
            raise AssertionError(f"the page never showed {wanted!r}; it showed:\n{shown}") from None
        return self.text()

    def click(self, label: str) -> None:
        """Click the innermost visible element whose whole text is `label` (a tab, a link, a button)."""
        hits = self.page.get_by_text(label, exact=True).locator("visible=true")
        try:
            hits.last.click(timeout=30_000)
        except PlaywrightError:
            raise AssertionError(f"nothing labelled {label!r} to click on {self.page.url}") from None

    def choose(self, field: str, value: str) -> None:
        """Pick `value` in the drop-down labelled `field` as a keyboard user would: focus it, open it
        with the down arrow, click the option. Prefect's forms draw their own drop-down
        (prefect-design's `p-select`, a button over a list of `p-select-option`s) where the
        pointer can hover; a mouse click on it does not open the list in headless Chromium."""
        exact = re.compile(rf"^\s*{re.escape(field)}\s*$")
        labelled = self.page.locator(".p-label").filter(has=self.page.locator("label").filter(has_text=exact))
        control = labelled.last.locator("button.p-select-button__control").first
        try:
            control.focus(timeout=30_000)
            self.page.keyboard.press("ArrowDown")
            wanted = re.compile(rf"^\s*{re.escape(value)}\s*$")
            self.page.locator(".p-select-option").filter(has_text=wanted).first.click(timeout=30_000)
        except PlaywrightError as exc:
            raise AssertionError(f"could not pick {value!r} in {field!r} on {self.page.url}: {exc}") from None

    def type_into(self, index: int, text: str) -> None:
        """Type `text` into the index-th visible text field (input or textarea) of the page."""
        field = self.page.locator(TEXT_FIELDS).locator("visible=true").nth(index)
        try:
            field.fill(text, timeout=30_000)
        except PlaywrightError:
            raise AssertionError(f"no text field number {index} on the page") from None

    def field_values(self) -> list[str]:
        """What the form fields on show hold, in page order: text inputs and text areas, and each
        drop-down's chosen value (a native select's, or the text a drawn `p-select` shows)."""
        fields = self.page.locator(f"select, {TEXT_FIELDS}, button.p-select-button__control")
        values: list[str] = fields.evaluate_all(
            """all => all.filter(f => f.offsetParent)
                 .map(f => f.tagName === 'BUTTON' ? f.innerText.trim() : f.value)"""
        )
        return values

    def loaded_images(self, fragment: str) -> list[int]:
        """Natural widths of the page's images whose address holds `fragment` (0: not loaded)."""
        images: list[int] = self.page.locator(f"img[src*={fragment!r}]").evaluate_all(
            "images => images.map(i => i.naturalWidth)"
        )
        return images

    def scroll_to_image(self, fragment: str) -> None:
        self.page.locator(f"img[src*={fragment!r}]").first.scroll_into_view_if_needed()

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        try:
            self._context.close()
        finally:
            self._playwright.stop()
