#!/usr/bin/env bash
# Create .venv with nova-ha, nova 34.0.0, the test tools, the test beds
# (nova-ha-testbed, the distribution in testbed/: the in-process cloud and
# the demo), and the lab cloud (nova-ha-lab, the distribution in lab/) with
# its services (keystone, glance, neutron, uwsgi), pinned by
# upper-constraints.txt (proven to install and pass on a fresh machine).
# Re-running is cheap: it reinstalls only when a requirements file changed.
#
#   bash tools/setup.sh          everything: the Debian packages below, then
#                                requirements.txt, test-requirements.txt,
#                                testbed/requirements.txt and
#                                lab/requirements.txt
#   bash tools/setup.sh --fast   only what the fast test tier needs
#                                (tests/unit, tests/scenarios): no Debian
#                                packages, no lab/requirements.txt (the lab's
#                                own code is installed, for its unit tests,
#                                and so are the test beds),
#                                and requirements.txt without libvirt-python
#                                (which cannot build without libvirt-dev;
#                                its tests skip). A later full run installs
#                                the rest into the same .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

mode=full
case "${1:-}" in
    --fast) mode=fast ;;
    '') ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
               exit 0 ;;
    *) echo "tools/setup.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac

# Debian packages: ipmitool (the IPMI fence driver's client for BMCs that
# speak only cipher suite 3); libvirt-dev and pkg-config to build
# libvirt-python; libvirtd, QEMU and virsh for the libvirt monitor's
# real-QEMU tests (which configure and start libvirtd themselves).
debian_packages() {
    local apt_packages=(ipmitool libvirt-daemon libvirt-daemon-driver-qemu
                        libvirt-clients qemu-system-x86 libvirt-dev pkg-config)
    local missing=() package
    for package in "${apt_packages[@]}"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "tools/setup.sh: installing ${missing[*]}" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq
            apt-get install -y -qq "${missing[@]}" >/dev/null
        else
            echo "tools/setup.sh: missing Debian packages: ${missing[*]}" \
                 "(install them as root; libvirt-python cannot build without" \
                 "libvirt-dev and pkg-config)" >&2
        fi
    fi
}
if [ "$mode" = full ]; then
    debian_packages
fi

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# The stamp holds the mode and a digest of the files its install read: a
# full install serves --fast too, a fast one never serves a full run.
stamp=.venv/.nova-ha-installed
digest() { cat "$@" | sha256sum | cut -d' ' -f1; }
full="full $(digest requirements.txt test-requirements.txt \
             testbed/requirements.txt lab/requirements.txt \
             upper-constraints.txt setup.cfg testbed/setup.cfg lab/setup.cfg)"
fast="fast $(digest requirements.txt test-requirements.txt \
             testbed/requirements.txt upper-constraints.txt setup.cfg \
             testbed/setup.cfg lab/setup.cfg)"
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$have" = "$full" ] || { [ "$mode" = fast ] && [ "$have" = "$fast" ]; }
then
    exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$mode" = full ]; then
    echo "tools/setup.sh: installing nova-ha and its dependencies into .venv" >&2
    .venv/bin/python -m pip install -q -c upper-constraints.txt \
        -r requirements.txt -r test-requirements.txt \
        -r testbed/requirements.txt -r lab/requirements.txt
else
    echo "tools/setup.sh: installing what the fast test tier needs into" \
         ".venv (no libvirt-python, no lab services)" >&2
    light=.venv/.nova-ha-fast-requirements.txt
    grep -v -i -E '^[[:space:]]*libvirt[-_]python' requirements.txt > "$light"
    .venv/bin/python -m pip install -q -c upper-constraints.txt \
        -r "$light" -r test-requirements.txt -r testbed/requirements.txt
fi
# nova-ha, the test beds (testbed/) and the lab (lab/), all from this
# checkout; their dependencies are the ones installed above.
.venv/bin/python -m pip install -q -c upper-constraints.txt --no-deps \
    -e . -e testbed -e lab
if [ "$mode" = full ]; then
    echo "$full" > "$stamp"
else
    echo "$fast" > "$stamp"
fi
