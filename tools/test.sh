#!/usr/bin/env bash
# Set up (first run only) and run the test suite with pytest, tier by tier.
#
#   bash tools/test.sh [--tier NAME[,NAME...]]... [PYTEST ARGUMENTS...]
#
# Tiers (pytest markers, given to each test by its folder in
# tests/conftest.py and described in setup.cfg):
#   fast         tests/unit, tests/scenarios: no services; about a minute
#                (the randomized explorer runs 500 seeds here)
#   explorer     the randomized explorer's full budget, 2,000 seeds
#   functional   tests/functional: Nova's services in one process
#   integration  tests/integration except faults/: real services
#   faults       tests/integration/faults: the replica fault tests
#   lab          tests/lab: the lab cloud (needs root)
#
# Without --tier it runs everything (this is what CI runs): the fast tier
# first, stopping at its first failure (-x), then each other tier in the
# order above (all of them, whatever fails), printing "tier NAME: N s"
# after each; it fails if any tier failed.
#
# --tier NAME (repeatable, or comma-separated) runs only those tiers, in
# the order above.  --tier fast alone sets up only what that tier needs
# (tools/setup.sh --fast: no Debian packages, no lab packages, no
# libvirt-python); anything else sets up everything (tools/setup.sh).
#
# Other arguments go to pytest, for every tier (for example tests/unit, or
# -k segment); a tier with no test among them is passed over.  With -m of
# your own and no --tier, the tiers are not used: one pytest run with your
# arguments.
set -euo pipefail
cd "$(dirname "$0")/.."

ORDER=(fast explorer functional integration faults lab)

tiers=()
args=()
own_markexpr=no
while [ $# -gt 0 ]; do
    case "$1" in
        --tier|--tier=*)
            if [ "$1" = --tier ]; then
                [ $# -ge 2 ] || { echo "tools/test.sh: --tier needs a name" >&2; exit 2; }
                value=$2; shift 2
            else
                value=${1#--tier=}; shift
            fi
            IFS=, read -r -a names <<< "$value"
            for name in "${names[@]}"; do
                case " ${ORDER[*]} " in
                    *" $name "*) tiers+=("$name") ;;
                    *) echo "tools/test.sh: unknown tier '$name'" \
                            "(one of: ${ORDER[*]})" >&2
                       exit 2 ;;
                esac
            done
            ;;
        -h|--help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0 ;;
        -m|-m*) own_markexpr=yes; args+=("$1"); shift ;;
        *) args+=("$1"); shift ;;
    esac
done

if [ ${#tiers[@]} -gt 0 ] && [ $own_markexpr = yes ]; then
    echo "tools/test.sh: give either --tier or -m, not both" >&2
    exit 2
fi

if [ ${#tiers[@]} -gt 0 ] && [ -z "$(printf '%s\n' "${tiers[@]}" | grep -vx fast)" ]
then
    bash tools/setup.sh --fast
else
    bash tools/setup.sh
fi

if [ $own_markexpr = yes ]; then
    exec .venv/bin/python -m pytest "${args[@]}"
fi

full=no
if [ ${#tiers[@]} -eq 0 ]; then
    full=yes
    tiers=("${ORDER[@]}")
fi

summary=()
failed=()
ran=0
for tier in "${ORDER[@]}"; do
    case " ${tiers[*]} " in *" $tier "*) ;; *) continue ;; esac
    extra=()
    if [ $full = yes ] && [ "$tier" = fast ]; then
        extra=(-x)
    fi
    echo "tools/test.sh: tier $tier" >&2
    start=$(date +%s)
    rc=0
    .venv/bin/python -m pytest -m "$tier" ${extra[@]+"${extra[@]}"} \
        ${args[@]+"${args[@]}"} || rc=$?
    seconds=$(( $(date +%s) - start ))
    case $rc in
        0) result=passed; ran=$((ran + 1)) ;;
        5) result="no tests selected" ;;
        *) result="failed (pytest exit $rc)"; failed+=("$tier") ;;
    esac
    echo "tier $tier: $seconds s, $result"
    summary+=("tier $tier: $seconds s, $result")
    if [ $full = yes ] && [ "$tier" = fast ] && [ $rc -ne 0 ] && [ $rc -ne 5 ]
    then
        echo "tools/test.sh: the fast tier failed: the other tiers were not run" >&2
        exit "$rc"
    fi
done

if [ ${#summary[@]} -gt 1 ]; then
    printf '%s\n' "${summary[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "tools/test.sh: failed tiers: ${failed[*]}" >&2
    exit 1
fi
if [ $ran -eq 0 ]; then
    echo "tools/test.sh: no tests selected" >&2
    exit 5
fi
