#!/bin/bash
# bench/scale.yaml.j2 typed by hand: HOSTS hosts (default 2) with INSTANCES busybox instances
# each (default 2) on lxdbr0 without NAT, routes between the hosts' bridges, then every
# instance pings every other one (`lxc exec SRC -- ping`). Exits non-zero when a ping fails.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HOSTS=${1:-2}
INSTANCES=${2:-2}

make_fabric
make_upstream
for h in $(seq "$HOSTS"); do make_host "host$h" "$h"; done
for h in $(seq "$HOSTS"); do
    init_lxd "host$h" "$h" false
    for other in $(seq "$HOSTS"); do
        [ "$other" = "$h" ] && continue
        ip -n "$(ns "host$h")" route add "10.218.$other.0/24" via "172.31.0.$((10 + other))"
    done
    for i in $(seq "$INSTANCES"); do
        LXD_DIR=$WORK/host$h/lxd lxc launch busybox "c${h}x$i" \
            -c raw.lxc="lxc.signal.halt = SIGUSR2" >/dev/null
    done
done
declare -A address
for h in $(seq "$HOSTS"); do
    for i in $(seq "$INSTANCES"); do address[c${h}x$i]=$(address_of "host$h" "c${h}x$i"); done
done
pairs=0
for h in $(seq "$HOSTS"); do
    for i in $(seq "$INSTANCES"); do
        for target in "${!address[@]}"; do
            [ "$target" = "c${h}x$i" ] && continue
            LXD_DIR=$WORK/host$h/lxd lxc exec "c${h}x$i" -- \
                ping -c 1 -W 2 "${address[$target]}" >/dev/null
            pairs=$((pairs + 1))
        done
    done
done
echo "routed ${HOSTS}x$INSTANCES by hand: $pairs pings passed"
