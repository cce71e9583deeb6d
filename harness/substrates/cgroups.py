"""The cgroup hierarchy that LXD and libvirtd expect.

A daemon started under `ip netns exec` gets a fresh /sys without any cgroup mounted; this
shell fragment mounts one, inside the daemon's own mount namespace, of the machine's kind:
the unified (v2) hierarchy where the machine has only that (systemd's default: a VM, a CI
runner; its v1 controllers are then all taken by v2 and cannot be mounted), else the v1
controllers.
"""


def cgroup_mounts(v1_with_unified: bool = False) -> str:
    """The shell fragment; `v1_with_unified`: on a v1 machine, also cgroup2 at `unified`
    (LXD's hybrid layout)."""
    unified = ("mkdir /sys/fs/cgroup/unified; mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified\n"
               if v1_with_unified else "")
    return f"""\
if [ "$(cut -d: -f1 /proc/self/cgroup | sort -u)" = 0 ]; then
    mount -t cgroup2 cgroup2 /sys/fs/cgroup
else
    mount -t tmpfs cgroup /sys/fs/cgroup
    for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
        mkdir /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c
    done
    mkdir /sys/fs/cgroup/systemd
    mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
    {unified}fi
"""
