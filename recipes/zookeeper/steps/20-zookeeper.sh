#!/bin/sh
# Apache ZooKeeper under its own user, verified against the Apache release key, with
# a systemd unit that is enabled but not started: firstboot writes myid and the
# ensemble, then starts it.
set -eu

name="apache-zookeeper-${ZOOKEEPER_VERSION}-bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

curl -fsSL -o "$work/$name.tar.gz" "$ZOOKEEPER_MIRROR/zookeeper-$ZOOKEEPER_VERSION/$name.tar.gz"
curl -fsSL -o "$work/$name.tar.gz.asc" "$ZOOKEEPER_MIRROR/zookeeper-$ZOOKEEPER_VERSION/$name.tar.gz.asc"
curl -fsSL -o "$work/KEYS" "https://downloads.apache.org/zookeeper/KEYS"
export GNUPGHOME="$work/gnupg"
install -d -m 0700 "$GNUPGHOME"
gpg --batch --quiet --import "$work/KEYS"
gpg --batch --verify "$work/$name.tar.gz.asc" "$work/$name.tar.gz"

getent group zookeeper >/dev/null || groupadd --system zookeeper
getent passwd zookeeper >/dev/null ||
    useradd --system --gid zookeeper --home-dir /var/lib/zookeeper --shell /usr/sbin/nologin zookeeper

tar -xzf "$work/$name.tar.gz" -C /opt
chown -R root:root "/opt/$name"
ln -sfn "/opt/$name" /opt/zookeeper
install -d -m 0750 -o zookeeper -g zookeeper /var/lib/zookeeper /var/log/zookeeper
install -d -m 0755 /etc/zookeeper

# The template firstboot fills: @CLIENT_PORT@ and the server.N lines.
cat >/etc/zookeeper/zoo.cfg.template <<'CFG'
# Written by /usr/local/sbin/zookeeper-firstboot from the instance's tags.
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=@CLIENT_PORT@
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr
autopurge.snapRetainCount=5
autopurge.purgeInterval=24
CFG

cat >/etc/systemd/system/zookeeper.service <<'UNIT'
[Unit]
Description=Apache ZooKeeper
Documentation=https://zookeeper.apache.org/doc/current/
# Configured by the firstboot runner: never start before it, nor without its myid.
After=network-online.target bakery-firstboot.service
Wants=network-online.target
ConditionPathExists=/var/lib/zookeeper/myid

[Service]
Type=simple
User=zookeeper
Group=zookeeper
Environment=ZOO_LOG_DIR=/var/log/zookeeper
EnvironmentFile=-/etc/zookeeper/java.env
ExecStart=/opt/zookeeper/bin/zkServer.sh start-foreground /etc/zookeeper/zoo.cfg
Restart=on-failure
RestartSec=5
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=full
ProtectHome=yes
ReadWritePaths=/var/lib/zookeeper /var/log/zookeeper

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable zookeeper.service
