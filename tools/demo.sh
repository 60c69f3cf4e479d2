#!/usr/bin/env bash
# Set up (first run only) and run the demo on an in-process Nova cloud.
# Arguments go to nova-ha-demo (for example --json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/nova-ha-demo "$@"
