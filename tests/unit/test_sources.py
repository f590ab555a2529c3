"""`data.allowed_roots`: which batch locations from outside the config the gate may read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.data.sources import allowed_roots, check_batch_source, is_under
from gatekeeper.errors import ConfigError
from tests.builders import make_config
from tests.fuzzing import examples


@pytest.mark.parametrize(
    ("location", "root", "inside"),
    [
        ("https://data.example.com/batches/2026-11.csv", "https://data.example.com/batches/", True),
        ("https://data.example.com/batches/a/b.parquet", "https://data.example.com/batches", True),
        ("https://data.example.com/batches-evil/x.csv", "https://data.example.com/batches", False),
        ("https://data.example.com/batches/../private/x.csv", "https://data.example.com/batches/", False),
        ("https://data.example.com/batches/%2e%2e/private/x.csv", "https://data.example.com/batches/", False),
        ("https://data.example.com/batches/x?y=.csv", "https://data.example.com/batches/", False),
        ("http://data.example.com/batches/x.csv", "https://data.example.com/batches/", False),
        ("https://127.0.0.1:8080/batches/x.csv", "https://data.example.com/batches/", False),
        ("s3://bucket/labels/x.parquet", "s3://bucket/labels/", True),
        ("s3://other/labels/x.parquet", "s3://bucket/labels/", False),
        ("/data/batches/x.csv", "https://data.example.com/", False),
    ],
)
def test_urls_and_paths_against_roots(location: str, root: str, inside: bool) -> None:
    assert is_under(location, root) is inside


def test_local_paths_resolve_dots_and_links(tmp_path: Path) -> None:
    root = tmp_path / "batches"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "secrets.csv"
    outside.write_text("a\n1\n")
    os.symlink(outside, root / "link.csv")
    assert is_under(str(root / "sub" / "x.csv"), str(root))
    assert not is_under(str(root / ".." / "secrets.csv"), str(root))
    assert not is_under(str(root / "link.csv"), str(root))  # a link out of the root is outside
    assert not is_under(str(tmp_path / "batches-evil" / "x.csv"), str(root))


def test_the_default_root_is_the_folder_of_the_configs_batch(tmp_path: Path) -> None:
    config = make_config(
        data={"train": "/d/t.parquet", "new_labels": "/d/in/new.parquet", "evaluation": "/d/e"}
    )
    assert allowed_roots(config) == [str(Path("/d/in").resolve())]
    assert check_batch_source(config, "/d/in/2026-11.parquet") == "/d/in/2026-11.parquet"
    with pytest.raises(ConfigError, match=r"'/etc/passwd' are outside the allowed roots .*data\.new_labels"):
        check_batch_source(config, "/etc/passwd")


@settings(max_examples=examples(300), deadline=None)
@given(st.text(alphabet="ab./%2e_-?=#:", min_size=0, max_size=30))
def test_no_generated_suffix_leaves_a_url_root(suffix: str) -> None:
    """Whatever is appended to a root, a location judged inside it resolves to a path under it."""
    root = "https://data.example.com/batches/"
    location = root + suffix
    if is_under(location, root):
        from posixpath import normpath
        from urllib.parse import unquote, urlsplit

        path = normpath(unquote(urlsplit(location).path))
        assert path == "/batches" or path.startswith("/batches/")
