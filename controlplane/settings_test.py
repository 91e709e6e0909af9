"""Settings for the test suite: the same settings, with CONTROLPLANE_ENV=test.

Each pytest-xdist worker gets its own chDB directory, since chDB locks a directory to
one process.
"""

import atexit
import os
import shutil
import tempfile
from urllib.parse import urlsplit, urlunsplit

os.environ["CONTROLPLANE_ENV"] = "test"
# pytest-xdist workers inherit the controller's environment, so remember which process
# made the directory; subprocesses of a test pass CHDB_PATH explicitly.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
if os.environ.get("CHDB_PATH_OWNER") != f"{_WORKER}:{os.getpid()}":
    _chdb_dir = tempfile.mkdtemp(prefix=f"chdb-{_WORKER}-")
    os.environ["CHDB_PATH"] = _chdb_dir
    os.environ["CHDB_PATH_OWNER"] = f"{_WORKER}:{os.getpid()}"
    atexit.register(shutil.rmtree, _chdb_dir, ignore_errors=True)

from controlplane.settings import *  # noqa: E402, F403

# pytest-xdist workers may share one Redis: keep their cache keys apart. The cache's
# clear() (tests reset lockout counters with it) is a FLUSHDB, so each worker's cache also
# gets a Redis database of its own, 1-15, away from the Celery broker's (REDIS_URL's).
_cache = CACHES["default"]  # noqa: F405
_cache["KEY_PREFIX"] = _WORKER
# The dashboards' results and freshness tokens too: each worker's chDB holds other rows, so
# a result another worker stored under the same token would be wrong here.
CACHES["dashboards"]["KEY_PREFIX"] = f"dashboards-{_WORKER}"  # noqa: F405
if _cache["BACKEND"].endswith("RedisCache"):
    _index = int(_WORKER.removeprefix("gw")) if _WORKER.startswith("gw") else 0
    _cache["LOCATION"] = urlunsplit(
        urlsplit(_cache["LOCATION"])._replace(path=f"/{1 + _index % 15}")
    )
