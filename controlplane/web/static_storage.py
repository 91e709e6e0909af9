"""Static files: hashed names and compressed copies wherever they were collected.

Django's manifest storage hands out plain names while DEBUG is on, so the demo served
a 4.8 MB script uncompressed with max-age=0. This storage hands out the hashed name
whenever ``collectstatic`` has run (``run_embedded`` runs it at start, the image at
build), which WhiteNoise serves compressed and cached for a year; a file that was not
collected (``runserver`` straight from a checkout) keeps its plain name.
"""

from __future__ import annotations

from typing import Any

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False

    def url(self, name: Any, force: bool = False) -> str:
        try:
            return super().url(name, force=True)
        except ValueError:
            return super().url(name, force=force)
