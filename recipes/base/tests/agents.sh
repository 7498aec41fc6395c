#!/bin/sh
# The SSM agent and the firstboot agent are installed and start at boot.
set -eu
systemctl is-enabled --quiet amazon-ssm-agent || systemctl is-enabled --quiet snap.amazon-ssm-agent.amazon-ssm-agent
test -x /usr/local/sbin/bakery-firstboot
test -r /etc/bakery/firstboot.json
if [ -d /run/systemd/system ]; then
    systemctl is-enabled --quiet bakery-firstboot.service
else
    test -x /etc/init.d/bakery-firstboot
fi
echo "SSM agent and firstboot agent installed and enabled"
