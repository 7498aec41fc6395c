#!/bin/sh
# Bring the image up to date and install what every role relies on, on Amazon Linux
# 2023 or Debian 12. Bake discipline: install and enable, start nothing.
# A new kernel needs a reboot before the image is taken: the step then exits 194, the
# builder reboots, and the step runs again (finding nothing left to upgrade).
set -eu

# shellcheck disable=SC1091
. /etc/os-release
case "$ID" in
    amzn)
        dnf -y upgrade --refresh
        # curl-minimal is what AL2023 ships; the firstboot agent needs curl and awk.
        dnf -y install amazon-ssm-agent chrony logrotate awscli-2 gawk
        systemctl enable amazon-ssm-agent chronyd
        # needs-restarting -r exits 1 when a reboot is needed (a new kernel, glibc...).
        if ! dnf needs-restarting -r >/dev/null; then exit 194; fi
        ;;
    debian)
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get -y -o Dpkg::Options::=--force-confold dist-upgrade
        apt-get -y install --no-install-recommends chrony logrotate awscli curl ca-certificates gawk
        # The SSM agent came from AWS's package at launch (builder.install_ssm_agent).
        systemctl enable amazon-ssm-agent chrony
        apt-get -y autoremove --purge
        apt-get clean
        if [ -e /var/run/reboot-required ]; then exit 194; fi
        ;;
    *)
        echo "recipes/base supports Amazon Linux 2023 and Debian 12, not $ID" >&2
        exit 1
        ;;
esac
