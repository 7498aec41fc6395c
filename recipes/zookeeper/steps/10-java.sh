#!/bin/sh
# A Java runtime (17, headless) and jq for the firstboot runner.
set -eu

# shellcheck disable=SC1091
. /etc/os-release
case "$ID" in
    amzn) dnf -y install java-17-amazon-corretto-headless jq tar gzip gnupg2 ;;
    debian)
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get -y install --no-install-recommends openjdk-17-jre-headless jq gnupg
        apt-get clean
        ;;
    *)
        echo "recipes/zookeeper supports Amazon Linux 2023 and Debian 12, not $ID" >&2
        exit 1
        ;;
esac
java -version
