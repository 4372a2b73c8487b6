#!/usr/bin/env bash
# Set up, then run the whole test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The local PostGIS the PostGIS engine tests run against (127.0.0.1 only); prints its DSN.
PLANWATCH_POSTGIS_DSN=${PLANWATCH_POSTGIS_DSN:-$(bash scripts/postgis.sh | tail -n 1)}
export PLANWATCH_POSTGIS_DSN
.venv/bin/python -m pytest "$@"
