"""The shell commands of the README and the docs site, run as written by the tests.

Every ```bash block in README.md and docs/*.md is preceded by `<!-- run: NAME -->`. A test runs a
page's blocks called NAME with `DocScript(page, NAME, ...)`, command by command in the order written,
and `finish()` fails unless every one of them ran. Blocks named `ci` are the install and test commands
`.ci/run` runs itself (tests/unit/test_docs.py checks they are there, word for word).

What a test may change, and only through `replace`: loopback ports and database paths, so that
parallel tests do not share a server (e.g. {"4200": "51234"}). Long-running commands (servers,
workers, receivers) are started in the background and waited on by a condition the test gives."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PAGES = ("README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")))
SHELL_FENCE = re.compile(r"^```(?:bash|sh|shell|console)\s*$", re.MULTILINE)
BLOCK = re.compile(
    r"(?:<!-- run: (?P<name>[\w-]+) -->\n)?```(?:bash|sh|shell|console)\n(?P<body>.*?)^```", re.S | re.M
)


@dataclass(frozen=True)
class Block:
    page: str
    name: str | None
    line: int
    commands: tuple[str, ...]


def _strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a # inside quotes, or glued to a word, stays)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def split_commands(body: str) -> tuple[str, ...]:
    """A block's commands: comments and blank lines dropped, `\\` continuations joined."""
    commands, pending = [], ""
    for raw in body.splitlines():
        line = _strip_comment(raw)
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        line = (pending + line.strip()).strip()
        pending = ""
        if line:
            commands.append(" ".join(line.split()) if "'" not in line and '"' not in line else line)
    return tuple(commands)


def blocks(page: str) -> list[Block]:
    text = (REPO / page).read_text()
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("body"))
        found.append(Block(page, match.group("name"), line, split_commands(match.group("body"))))
    return found


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]


def reader_env(folder: Path) -> dict[str, str]:
    """A reader's shell in `folder`: no Prefect API or MLflow server configured (the commands start
    their own), Prefect's home in the folder, a login name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "MLFLOW_TRACKING"))}
    env["PREFECT_HOME"] = str(folder / "prefect-home")
    env.setdefault("USER", "doc-reader")
    return env


def commands_of(page: str, name: str) -> list[str]:
    named = [c for b in blocks(page) if b.name == name for c in b.commands]
    if not named:
        raise AssertionError(f"{page} has no block marked <!-- run: {name} -->")
    return named


@dataclass
class DocScript:
    """Run the commands of `page`'s blocks called `name`, in order, as a person would in one shell."""

    page: str
    name: str
    cwd: Path
    env: dict[str, str]
    replace: dict[str, str] = field(default_factory=dict)
    logs: Path | None = None
    pending: list[str] = field(init=False)
    background: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.pending = commands_of(self.page, self.name)
        self.env = dict(self.env)

    def _take(self, prefix: str) -> str:
        if not self.pending:
            raise AssertionError(f"{self.page} ({self.name}): no command left for {prefix!r}")
        command = self.pending[0]
        if not command.startswith(prefix):
            raise AssertionError(f"{self.page} ({self.name}): next command is {command!r}, not {prefix!r}...")
        self.pending.pop(0)
        for old, new in self.replace.items():
            command = command.replace(old, new)
        return command

    def run(
        self, prefix: str, *, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """The next command (which must start with `prefix`), to its end; `export` lines set the
        script's environment for the commands after them."""
        command = self._take(prefix)
        if command.startswith("export "):
            done = subprocess.run(
                ["bash", "-c", f"{command} && env -0"],
                cwd=self.cwd, env=self.env, capture_output=True, timeout=60, check=True,
            )  # fmt: skip
            pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
            self.env = dict(pairs)
            return subprocess.CompletedProcess(command, 0, "", "")
        done = subprocess.run(
            ["bash", "-c", command], cwd=self.cwd, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(
                f"{self.page} ({self.name}): `{command}` exited {done.returncode}:\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )
        return done

    def start(
        self, prefix: str, ready: Callable[[], Any], *, name: str | None = None, timeout: float = 180
    ) -> subprocess.Popen[bytes]:
        """The next command, left running (its output in `logs/<name>.log`); returns once `ready()` is
        truthy, and fails if the command exits first."""
        from tests.integration.servers import wait_until

        command = self._take(prefix)
        log = open(self.logs / f"{name or prefix.replace(' ', '-')}.log", "wb") if self.logs else None
        try:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"], cwd=self.cwd, env=self.env,
                stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        finally:
            if log:
                log.close()  # the process holds its own copy
        self.background[command] = process

        def started() -> Any:
            if process.poll() is not None:
                raise AssertionError(f"{self.page} ({self.name}): `{command}` exited {process.returncode}")
            return ready()

        wait_until(f"{self.page} ({self.name}): `{command}` ready", started, timeout)
        return process

    def finish(self) -> None:
        """Fail unless every command of the blocks ran."""
        assert not self.pending, f"{self.page} ({self.name}): commands not run: {self.pending}"

    def stop(self) -> None:
        stop_all(list(self.background.values()))


def stop_all(processes: list[subprocess.Popen[bytes]], grace: float = 30) -> None:
    """SIGTERM each process group (each was started in a session of its own), last started first;
    SIGKILL what has not ended after `grace` seconds."""
    for process in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
