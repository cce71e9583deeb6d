# Shared by the hand-written labs: the same namespaces and LXD daemons the harness builds,
# typed as an expert would type them (ip, lxd, lxc), with a teardown on every exit.
# Everything lives in namespaces hl-$RID-* under WORK=/var/tmp/lxd-harness-bench/$RID.
set -euo pipefail

RID=${RID:-b$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')}
WORK=/var/tmp/lxd-harness-bench/$RID
# the busybox image tarball (bench/vs_hand.py passes the harness's own; or: harness image build)
IMAGE=${IMAGE:-$PWD/busybox-image.tar.gz}
[ -f "$IMAGE" ] || { echo "no image $IMAGE: set IMAGE (harness image build --dir DIR)" >&2; exit 1; }
NAMESPACES=()
DAEMONS=()

ns() { echo "hl-$RID-$1"; }

teardown() {
    set +e
    local pid
    local host stopping=()
    for host in "${HOSTS_UP[@]:-}"; do
        [ -n "$host" ] || continue
        (LXD_DIR=$WORK/$host/lxd lxc stop --all --force
         LXD_DIR=$WORK/$host/lxd lxd shutdown --timeout=10) >/dev/null 2>&1 &
        stopping+=("$!")
    done
    for pid in "${stopping[@]:-}"; do [ -n "$pid" ] && wait "$pid"; done
    for pid in "${DAEMONS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done
    for pid in "${DAEMONS[@]:-}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null; done
    local name
    for name in "${NAMESPACES[@]:-}"; do
        [ -n "$name" ] || continue
        for pid in $(ip netns pids "$name" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$name"
    done
    rm -rf "$WORK"
    rmdir /var/tmp/lxd-harness-bench 2>/dev/null
}
HOSTS_UP=()
trap teardown EXIT

make_node() {  # make_node NAME: a namespace with lo up, forwarding on, no IPv6
    local name
    name=$(ns "$1")
    ip netns add "$name"
    NAMESPACES+=("$name")
    ip -n "$name" link set lo up
    ip netns exec "$name" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1
}

make_fabric() {  # the segment "lan": a bridge in its own namespace
    make_node fabric
    ip -n "$(ns fabric)" link add seg0 type bridge stp_state 0 forward_delay 0
    ip -n "$(ns fabric)" link set seg0 up
}

plug() {  # plug NODE: eth0 of NODE into seg0
    ip -n "$(ns "$1")" link add eth0 type veth peer name "$1-eth0" netns "$(ns fabric)"
    ip -n "$(ns fabric)" link set "$1-eth0" master seg0 up
    ip -n "$(ns "$1")" link set eth0 up
}

make_upstream() {  # the WAN router with its resolver on 198.51.100.1
    make_node upstream
    plug upstream
    ip -n "$(ns upstream)" addr add 172.31.0.254/24 dev eth0
    ip -n "$(ns upstream)" addr add 198.51.100.1/32 dev lo
    ip netns exec "$(ns upstream)" dnsmasq --keep-in-foreground --conf-file=/dev/null \
        --no-resolv --no-hosts --bind-interfaces --listen-address=198.51.100.1 --pid-file= \
        --user=root --address=/upstream.test/198.51.100.1 --local=/#/ >/dev/null 2>&1 &
    DAEMONS+=("$!")
}

make_host() {  # make_host NAME INDEX: a host on 172.31.0.(10+INDEX), its LXD daemon started
    local name=$1 index=$2
    make_node "$name"
    plug "$name"
    ip -n "$(ns "$name")" addr add "172.31.0.$((10 + index))/24" dev eth0
    ip -n "$(ns "$name")" route add default via 172.31.0.254
    mkdir -p "$WORK/$name/lxd"
    chmod 711 /var/tmp/lxd-harness-bench "$WORK" "$WORK/$name"
    echo "nameserver 198.51.100.1" > "$WORK/$name/resolv.conf"
    LXD_DIR=$WORK/$name/lxd ip netns exec "$(ns "$name")" sh -c '
        set -e
        mount -t tmpfs cgroup /sys/fs/cgroup
        for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
            mkdir /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c
        done
        mkdir /sys/fs/cgroup/systemd
        mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
        mkdir /sys/fs/cgroup/unified; mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
        mount --bind "$LXD_DIR/../resolv.conf" /etc/resolv.conf
        exec lxd --group root --logfile "$LXD_DIR/lxd.log"' >"$WORK/$name/daemon.out" 2>&1 &
    DAEMONS+=("$!")
    HOSTS_UP+=("$name")
}

init_lxd() {  # init_lxd NAME INDEX NAT: lxd init with lxdbr0 10.218.INDEX.1/24, image import
    local name=$1 index=$2 nat=$3
    export LXD_DIR=$WORK/$name/lxd
    lxd waitready --timeout=30
    lxd init --preseed <<PRESEED
config: {images.auto_update_interval: "0"}
networks:
- name: lxdbr0
  type: bridge
  config: {ipv4.address: 10.218.$index.1/24, ipv4.nat: "$nat", ipv6.address: none}
storage_pools: [{name: default, driver: dir}]
profiles:
- name: default
  config: {raw.lxc: lxc.signal.halt = SIGUSR2}
  devices:
    root: {path: /, pool: default, type: disk}
    eth0: {name: eth0, network: lxdbr0, type: nic}
PRESEED
    lxc image import "$IMAGE" --alias busybox >/dev/null
    unset LXD_DIR
}

address_of() {  # address_of HOST INSTANCE: wait for the instance's IPv4 address on eth0
    local tries=0 address
    while :; do
        address=$(LXD_DIR=$WORK/$1/lxd lxc list "^$2\$" -c 4 --format csv | cut -d' ' -f1)
        if [ -n "$address" ]; then echo "$address"; return; fi
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || { echo "no address for $1:$2" >&2; return 1; }
        sleep 0.1
    done
}
