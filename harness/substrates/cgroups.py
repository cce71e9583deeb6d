"""The cgroup v1 hierarchy that LXD and libvirtd expect.

A daemon started under `ip netns exec` gets a fresh /sys without any cgroup mounted; this
shell fragment mounts one, inside the daemon's own mount namespace.
"""

CGROUP_V1_MOUNTS = """\
mount -t tmpfs cgroup /sys/fs/cgroup
for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
    mkdir /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c
done
mkdir /sys/fs/cgroup/systemd; mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
"""
