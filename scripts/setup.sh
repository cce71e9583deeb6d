#!/usr/bin/env bash
# Installs everything the harness needs on Debian 12/13 (as root); safe to run again.
#   scripts/setup.sh          the packages for running scenarios (both engines: LXD, and
#                             Incus from Debian: bookworm-backports on 12, main on 13) + the .venv
#   scripts/setup.sh --test   also what the test suite needs: chromium (HTML report test),
#                             openssh-server (ssh substrate), Vagrant + libvirt + QEMU (VM tier),
#                             ShellCheck (the workflow lint checks shell lines with it) and
#                             tmux (the training-lab test types at a terminal)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(lxd dnsmasq-base busybox-static nftables bridge-utils iproute2 openvswitch-switch
          tcpdump file ethtool graphviz iputils-ping python3-venv procps)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(chromium openssh-server vagrant vagrant-libvirt libvirt-daemon-system
             qemu-system-x86 qemu-utils debootstrap shellcheck tmux)
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: run as root (it installs Debian packages and builds labs with namespaces)" >&2
  exit 2
fi

apt_updated=
apt_install() {  # apt_install [-t RELEASE] PACKAGE...
  if [[ -z $apt_updated ]]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for package in "${packages[@]}"; do
  installed "$package" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  apt_install "${missing[@]}"
fi

# Incus, the second engine (--engine incus): in Debian 13's main archive; Debian 12 has it in
# bookworm-backports, whose packages apt installs only when asked by name with -t.
# shellcheck source=/dev/null
. /etc/os-release
if ! installed incus || ! installed incus-client; then
  case "${VERSION_CODENAME:-}" in
    bookworm)
      if ! grep -rqsE --include='*.list' --include='*.sources' \
          '^[^#]*[[:space:]]bookworm-backports([[:space:]]|$)' /etc/apt/sources.list /etc/apt/sources.list.d/
      then
        echo "setup: adding Debian's bookworm-backports to /etc/apt/sources.list.d (for Incus)" >&2
        cat >/etc/apt/sources.list.d/bookworm-backports.sources <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
        apt_updated=
      fi
      echo "setup: installing incus incus-client from bookworm-backports" >&2
      apt_install -t bookworm-backports incus incus-client ;;
    *)
      echo "setup: installing incus incus-client" >&2
      apt_install incus incus-client ;;
  esac
fi
# Debian starts no daemons here that the harness needs: every lab runs its own LXD or Incus,
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
