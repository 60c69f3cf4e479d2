#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite with pytest.
# Arguments go to pytest (for example tests/unit, or -k segment).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/python -m pytest "$@"
