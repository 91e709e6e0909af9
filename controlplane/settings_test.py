"""Settings for the test suite: the same settings, with CONTROLPLANE_ENV=test.

Each pytest-xdist worker gets its own chDB directory, since chDB locks a directory to
one process.
"""

import os
import tempfile

os.environ["CONTROLPLANE_ENV"] = "test"
os.environ.setdefault(
    "CHDB_PATH",
    tempfile.mkdtemp(prefix=f"chdb-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-"),
)

from controlplane.settings import *  # noqa: F403

# pytest-xdist workers may share one Redis: keep their cache keys apart.
CACHES["default"]["KEY_PREFIX"] = os.environ.get("PYTEST_XDIST_WORKER", "main")  # noqa: F405
