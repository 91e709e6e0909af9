"""Settings for the test suite: the same settings, with CONTROLPLANE_ENV=test.

Each pytest-xdist worker gets its own chDB directory, since chDB locks a directory to
one process.
"""

import atexit
import os
import shutil
import tempfile

os.environ["CONTROLPLANE_ENV"] = "test"
if "CHDB_PATH" not in os.environ:
    _chdb_dir = tempfile.mkdtemp(prefix=f"chdb-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")
    os.environ["CHDB_PATH"] = _chdb_dir
    atexit.register(shutil.rmtree, _chdb_dir, ignore_errors=True)

from controlplane.settings import *  # noqa: F403

# pytest-xdist workers may share one Redis: keep their cache keys apart.
CACHES["default"]["KEY_PREFIX"] = os.environ.get("PYTEST_XDIST_WORKER", "main")  # noqa: F405
