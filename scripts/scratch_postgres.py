"""Start a throw-away PostgreSQL server, print its DSN, stop and delete it on Ctrl-C.

    python scripts/scratch_postgres.py

The server itself (initdb into a temporary folder, trust auth, a free port on
127.0.0.1, fsync off; run as the `postgres` OS user when we are root) is
recommender_io/scratch_postgres.py, shared with the tests, serve_demo and
serving_latency.
"""

from __future__ import annotations

import sys

from recommender_io.scratch_postgres import main

if __name__ == "__main__":
    sys.exit(main())
