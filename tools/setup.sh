#!/usr/bin/env bash
# Create .venv with nova-ha, nova 34.0.0 and the test tools, pinned by
# upper-constraints.txt (proven to install and pass on a fresh machine).
# Re-running is cheap: it reinstalls only when a requirements file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.nova-ha-installed
want=$(cat requirements.txt test-requirements.txt upper-constraints.txt \
       setup.cfg | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "tools/setup.sh: installing nova-ha and its dependencies into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c upper-constraints.txt \
        -r requirements.txt -r test-requirements.txt
    .venv/bin/python -m pip install -q -c upper-constraints.txt --no-deps -e .
    echo "$want" > "$stamp"
fi
