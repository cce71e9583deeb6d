#!/usr/bin/env bash
# Installs everything the harness needs on Debian 12/13 (as root); safe to run again.
#   scripts/setup.sh          the packages for running scenarios + the .venv
#   scripts/setup.sh --test   also what the test suite needs: chromium (HTML report test),
#                             openssh-server (ssh substrate), Vagrant + libvirt + QEMU (VM tier)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(lxd dnsmasq-base busybox-static nftables bridge-utils iproute2 openvswitch-switch
          tcpdump file ethtool graphviz iputils-ping python3-venv procps)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(chromium openssh-server vagrant vagrant-libvirt libvirt-daemon-system
             qemu-system-x86 qemu-utils debootstrap)
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: run as root (it installs Debian packages and builds labs with namespaces)" >&2
  exit 2
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts no daemons here that the harness needs: every lab runs its own LXD,
# dnsmasq and Open vSwitch inside its own namespaces.

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
fi
stamp=.venv/.installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
echo "setup: ready (.venv/bin/harness doctor shows what this machine can do)" >&2
