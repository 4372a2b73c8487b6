#!/usr/bin/env bash
# Install everything planwatch needs on a fresh Debian machine (as root), idempotently:
# Debian packages (CJK fonts and Pango for the PDF report, poppler-utils for checking PDFs, gdal-bin
# for the tests that open the stores with ogrinfo as QGIS users do, chromium for the dashboard tests),
# then a virtual environment in .venv with planwatch, all its optional parts and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils gdal-bin chromium)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.planwatch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing planwatch and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test,server,scale,duckdb,web]"
  touch "$stamp"
fi
