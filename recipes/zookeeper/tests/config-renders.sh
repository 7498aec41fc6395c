#!/bin/sh
# The firstboot runlist rendered this instance's config from its tags
# ([test.tags] in recipe.toml: server 1 of a one-server ensemble) and started it.
set -eu
grep -qx 'server.1=127.0.0.1:2888:3888' /etc/zookeeper/zoo.cfg
grep -qx '1' /var/lib/zookeeper/myid
systemctl is-active --quiet zookeeper.service
echo "zoo.cfg rendered from the runlist, server 1 running"
