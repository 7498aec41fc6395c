#!/bin/sh
# The zookeeper unit starts at boot, after the firstboot agent.
set -eu
systemctl is-enabled --quiet zookeeper.service
systemctl show -p After zookeeper.service | grep -q bakery-firstboot.service
echo "zookeeper.service enabled, ordered after bakery-firstboot.service"
