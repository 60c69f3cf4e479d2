#!/usr/bin/env bash
# Create .venv with nova-ha, nova 34.0.0, the test tools and the lab cloud's
# services (keystone, glance, neutron, uwsgi), pinned by upper-constraints.txt (proven to install and pass on a fresh machine).
# Re-running is cheap: it reinstalls only when a requirements file changed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

# Debian packages: ipmitool (the IPMI fence driver's client for BMCs that
# speak only cipher suite 3); libvirt-dev and pkg-config to build
# libvirt-python; libvirtd, QEMU and virsh for the libvirt monitor's
# real-QEMU tests (which configure and start libvirtd themselves).
apt_packages=(ipmitool libvirt-daemon libvirt-daemon-driver-qemu
              libvirt-clients qemu-system-x86 libvirt-dev pkg-config)
missing=()
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
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.nova-ha-installed
want=$(cat requirements.txt test-requirements.txt lab-requirements.txt \
       upper-constraints.txt setup.cfg | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "tools/setup.sh: installing nova-ha and its dependencies into .venv" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c upper-constraints.txt \
        -r requirements.txt -r test-requirements.txt -r lab-requirements.txt
    .venv/bin/python -m pip install -q -c upper-constraints.txt --no-deps -e .
    echo "$want" > "$stamp"
fi
