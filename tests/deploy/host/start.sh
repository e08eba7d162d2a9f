#!/bin/sh
# PID 1 of a test worker host: make the cgroup tree of this host writable for its own engine, then
# run dockerd. The host container is not --privileged (this machine's engine cannot grant every
# capability) but has the capabilities and unconfined profiles an engine needs; Docker mounts
# cgroups read-only in such a container, so they are remounted read-write here (a private cgroup
# namespace: the engine sees, and creates its cgroups under, this container's own cgroup).
set -eu
awk '$3 ~ /^cgroup2?$/ && $4 ~ /(^|,)ro(,|$)/ {print $2}' /proc/self/mounts | while read -r path; do
  mount -o remount,bind,rw "$path"
done
# cgroup v2: the engine hands controllers to child cgroups, which the root of this namespace may
# do only once no process lives in it; move ours into a leaf first.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/host-init
  for pid in $(cat /sys/fs/cgroup/cgroup.procs); do
    echo "$pid" > /sys/fs/cgroup/host-init/cgroup.procs 2>/dev/null || true
  done
  for controller in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$controller" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
  done
fi
# A host that was killed and started again finds its engine's pid files from before.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
exec dockerd --host unix:///var/run/docker.sock
