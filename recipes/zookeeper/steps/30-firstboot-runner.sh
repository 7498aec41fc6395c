#!/bin/sh
# The firstboot runner: the command recipe.toml's [firstboot] runs with the runlist.
set -eu
install -m 0755 -o root -g root /dev/stdin /usr/local/sbin/zookeeper-firstboot <<'RUNNER'
#!/bin/sh
# zookeeper-firstboot RUNLIST: join the ensemble named by this instance's tags.
# RUNLIST (JSON): {"client_port": 2181, "heap": "1g",
#                  "id_tag": "zookeeper:id", "ensemble_tag": "zookeeper:ensemble"}
# Tags (instance metadata tags must be enabled on the launch template):
#   zookeeper:id        this server's id, 1-255
#   zookeeper:ensemble  1=10.0.1.10,2=10.0.2.10,3=10.0.3.10
set -eu
runlist=$1
setting() { jq -r --arg key "$1" --arg default "$2" '.[$key] // $default' "$runlist"; }
client_port=$(setting client_port 2181)
heap=$(setting heap 1g)
id_tag=$(setting id_tag zookeeper:id)
ensemble_tag=$(setting ensemble_tag zookeeper:ensemble)

imds=${BAKERY_IMDS_ENDPOINT:-http://169.254.169.254}
token=$(curl -fsS -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$imds/latest/api/token")
tag() { curl -fsS -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/tags/instance/$1"; }
id=$(tag "$id_tag") || { echo "no $id_tag tag on this instance" >&2; exit 1; }
ensemble=$(tag "$ensemble_tag") || { echo "no $ensemble_tag tag on this instance" >&2; exit 1; }
case "$id" in
    '' | *[!0-9]*) echo "$id_tag is not a number: $id" >&2; exit 1 ;;
esac

sed "s/@CLIENT_PORT@/$client_port/" /etc/zookeeper/zoo.cfg.template >/etc/zookeeper/zoo.cfg.new
echo "$ensemble" | tr ',' '\n' | while IFS='=' read -r server address; do
    [ -n "$server" ] && echo "server.$server=$address:2888:3888"
done >>/etc/zookeeper/zoo.cfg.new
grep -q "^server\.$id=" /etc/zookeeper/zoo.cfg.new || {
    echo "server $id is not in the ensemble $ensemble" >&2
    exit 1
}
mv /etc/zookeeper/zoo.cfg.new /etc/zookeeper/zoo.cfg
echo "SERVER_JVMFLAGS=-Xms$heap -Xmx$heap" >/etc/zookeeper/java.env
echo "$id" >/var/lib/zookeeper/myid
chown zookeeper:zookeeper /var/lib/zookeeper/myid
systemctl start zookeeper.service
echo "zookeeper server $id started in ensemble $ensemble"
RUNNER
sh -n /usr/local/sbin/zookeeper-firstboot
