#!/usr/bin/env bash
# The lab cloud: real keystone, placement, glance, neutron and Nova services
# as processes, seven compute hosts in network namespaces with BMCs, nova-ha
# turned on as its README says.  Needs root.
#   bash tools/lab.sh up | status | fail HOST --mode MODE | repair HOST |
#                     run SCENARIO | down
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/nova-ha-lab "$@"
