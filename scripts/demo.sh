#!/usr/bin/env bash
# Set up, then run the Beijing demo check-up: import the real published 2021–2022 observations
# into a fresh store and write the 2022 report (HTML, PDF, XLSX) into ./demo-report/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/planwatch demo --out "${1:-demo-report}" --year 2022
