"""Collected static files: hashed names even with DEBUG on, compressed copies, long
caching, and a chart bundle small enough for a fast cold load."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.templatetags.static import static
from django.test import override_settings

HASHED = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "controlplane.web.static_storage.HashedStaticFilesStorage"},
}


@pytest.fixture
def collected(tmp_path: Path) -> Any:
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=HASHED, DEBUG=True):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield tmp_path


def test_collected_files_have_hashed_names_and_compressed_copies(collected: Path) -> None:
    url = static("vendor/plotly-basic.min.js")
    assert url != "/static/vendor/plotly-basic.min.js"
    name = url.removeprefix("/static/")
    assert (collected / name).is_file()
    compressed = collected / f"{name}.gz"
    assert compressed.is_file()
    size = len(gzip.decompress(compressed.read_bytes()))
    assert compressed.stat().st_size < size / 2
    # the whole chart bundle travels in well under the 1.5 MB a cold dashboard may load
    assert compressed.stat().st_size < 600_000


def test_a_file_that_was_not_collected_keeps_its_plain_name(tmp_path: Path) -> None:
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=HASHED, DEBUG=True):
        assert static("css/app.css") == "/static/css/app.css"
