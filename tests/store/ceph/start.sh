#!/bin/bash
# Start mon, one memstore OSD and radosgw; create the S3 user test/testsecret; then stay up.
# Data lives in memory: `docker pause` keeps it, `docker stop` loses it.
set -euo pipefail
trap 'echo "nightshift-ceph: failed at line $LINENO" >&2' ERR
FSID=$(uuidgen)
mkdir -p /etc/ceph /var/lib/ceph/mon/ceph-a /var/lib/ceph/osd/ceph-0 /var/log/ceph /var/run/ceph
cat > /etc/ceph/ceph.conf <<CONF
[global]
fsid = $FSID
mon host = 127.0.0.1
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = 1073741824
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
run dir = /var/run/ceph
[client.rgw.a]
rgw frontends = beast port=7480
rgw dns name = localhost
CONF
ceph-authtool --create-keyring /tmp/mon.keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
monmaptool --create --add a 127.0.0.1 --fsid "$FSID" /tmp/monmap >/dev/null
ceph-mon --mkfs -i a --monmap /tmp/monmap --keyring /tmp/mon.keyring
chown -R ceph:ceph /var/lib/ceph /var/log/ceph /var/run/ceph
ceph-mon -i a --setuser ceph --setgroup ceph
until ceph mon stat >/dev/null 2>&1; do sleep 0.5; done
ceph osd create >/dev/null
ceph-osd -i 0 --mkfs --setuser ceph --setgroup ceph
chown -R ceph:ceph /var/lib/ceph/osd
ceph-osd -i 0 --setuser ceph --setgroup ceph
ceph osd crush add osd.0 1.0 host=localhost root=default >/dev/null 2>&1 || true
radosgw -n client.rgw.a --setuser ceph --setgroup ceph
for _ in $(seq 1 120); do curl -s -o /dev/null http://127.0.0.1:7480/ && break; sleep 0.5; done
for attempt in 1 2 3 4 5; do
  radosgw-admin user create --uid=test --display-name=test --access-key=test --secret=testsecret >/dev/null && break
  [ "$attempt" = 5 ] && exit 1
  sleep 1
done
echo "nightshift-ceph: ready"
exec sleep infinity
