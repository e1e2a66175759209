#!/usr/bin/env bash
# Creates training/.venv with the pinned requirements. Offline machines carry a local
# PyPI mirror configured in pip's config: we pass those indexes explicitly so pip does
# not first spend minutes retrying the unreachable public index. Elsewhere the public
# index is used.
set -euo pipefail
cd "$(dirname "$0")/../training"
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "training/.venv is up to date"; exit 0
fi
python3 -m venv .venv
pip_args=()
extra=$(pip config get global.extra-index-url 2>/dev/null || true)
links=$(pip config get global.find-links 2>/dev/null || true)
if [[ -n "$extra" ]]; then
  first=1
  for idx in $extra; do
    if (( first )); then pip_args+=(--index-url "$idx"); first=0; else pip_args+=(--extra-index-url "$idx"); fi
  done
fi
for l in $links; do pip_args+=(--find-links "$l"); done
echo "installing training requirements ${pip_args[*]:-from the public index}"
.venv/bin/pip install --disable-pip-version-check -q "${pip_args[@]}" -r requirements-dev.txt
.venv/bin/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/pip install --disable-pip-version-check -q "${pip_args[@]}" --no-deps -e .
echo "$want" > "$stamp"
