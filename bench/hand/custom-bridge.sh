#!/bin/bash
# scenarios/custom-bridge.yaml typed by hand: one host, lxdbr1337 with NAT and DHCP, app1 on it,
# then the same four checks (DHCP lease in range, ping upstream, NAT seen at upstream, ping
# host -> app1). Exits non-zero when a check fails.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

make_fabric
make_upstream
make_host host1 1
init_lxd host1 1 true
export LXD_DIR=$WORK/host1/lxd
lxc network create lxdbr1337 ipv6.address=none ipv4.address=10.13.37.1/24 ipv4.nat=true \
    >/dev/null
lxc init busybox app1 -c raw.lxc="lxc.signal.halt = SIGUSR2" >/dev/null
lxc config device add app1 eth0 nic nictype=bridged parent=lxdbr1337 >/dev/null
lxc start app1 >/dev/null
app1=$(address_of host1 app1)

# dhcp: a fresh lease from inside app1, inside 10.13.37.2-254
lease=$(lxc exec app1 -- udhcpc -n -q -f -i eth0 -s /bin/true 2>&1 | sed -n 's/.*lease of \([0-9.]*\) obtained.*/\1/p')
case "$lease" in 10.13.37.*) ;; *) echo "dhcp: no lease in range ($lease)"; exit 1;; esac
# ping: app1 -> upstream
lxc exec app1 -- ping -A -c 3 -W 2 198.51.100.1 >/dev/null
# nat: app1's echo requests reach upstream from the host's address
capture=$WORK/nat.txt
timeout 3 ip netns exec "$(ns upstream)" tcpdump -l -n -c 4 -i eth0 \
    icmp and host 198.51.100.1 >"$capture" 2>"$capture.err" &
sniffer=$!
until grep -q listening "$capture.err" 2>/dev/null; do sleep 0.02; done
lxc exec app1 -- ping -A -c 2 -W 2 198.51.100.1 >/dev/null
wait "$sniffer" || true
grep -q "172.31.0.11 > 198.51.100.1: ICMP echo request" "$capture" || {
    echo "nat: not masqueraded"; exit 1; }
# ping: host1 -> app1
ip netns exec "$(ns host1)" ping -A -c 3 -W 2 "$app1" >/dev/null
unset LXD_DIR
echo "custom-bridge by hand: 4 checks passed"
