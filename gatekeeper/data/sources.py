"""Where a batch named from outside the config may come from: `data.allowed_roots`.

A labels-arrived event, `--batch` or a deployment parameter can name any path or URL; the gate
reads only those under an allowed root (a folder, or a URL prefix), checked before anything is
read, so an event cannot make the gate fetch a loopback URL or copy a file from elsewhere on the
machine into quarantine. Without `allowed_roots` the one root is the folder of the config's own
`data.new_labels`: where this team's batches already land.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import urlsplit

from gatekeeper.config import GateConfig
from gatekeeper.errors import ConfigError


def allowed_roots(config: GateConfig) -> list[str]:
    """The configured roots, or the folder (URL prefix) of `data.new_labels`."""
    if config.data.allowed_roots:
        return list(config.data.allowed_roots)
    own = config.data.new_labels
    if "://" in own:
        return [own.rsplit("/", 1)[0] + "/"]
    return [str(Path(own).resolve().parent)]


def _url_under(url: str, root: str) -> bool:
    u, r = urlsplit(url), urlsplit(root)
    if (u.scheme, u.netloc) != (r.scheme, r.netloc) or u.query or u.fragment:
        return False
    path = posixpath.normpath(u.path or "/")
    if ".." in u.path.split("/") or "%2e" in u.path.lower() or "%2f" in u.path.lower():
        return False  # no way up out of the root, spelled or escaped
    base = posixpath.normpath(r.path or "/")
    return base == "/" or path == base or path.startswith(base.rstrip("/") + "/")


def is_under(location: str, root: str) -> bool:
    """`location` lies inside `root`: the same scheme and host and a path below the root's, after
    resolving `..` and (for local paths) symbolic links."""
    if ("://" in location) != ("://" in root):
        return False
    if "://" in location:
        return _url_under(location, root)
    return Path(location).resolve().is_relative_to(Path(root).resolve())


def check_batch_source(config: GateConfig, location: str) -> str:
    """`location` if it lies under an allowed root; otherwise a ConfigError naming it and the roots."""
    roots = allowed_roots(config)
    if any(is_under(location, root) for root in roots):
        return location
    where = "data.allowed_roots" if config.data.allowed_roots else "the folder of data.new_labels"
    raise ConfigError(
        f"new labels at {location!r} are outside the allowed roots {roots} ({where}); expected a path or URL "
        "under one of them: add its folder to `data.allowed_roots` in the config if this source is trusted "
        "(nothing was read)"
    )
