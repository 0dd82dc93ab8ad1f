#!/usr/bin/env bash
# The README's first command: makes the project virtual environment .venv once (later runs reuse it),
# then starts the engine daemon and the console with the demo (`assetgen up`). Ctrl-C stops both.
# Arguments go to `assetgen up`, e.g. ./scripts/up.sh --port 4600 --ws-port 4601
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh

python=$(main_python)
ensure_venv .venv "$python"
exec .venv/bin/python -m engine up "$@"
