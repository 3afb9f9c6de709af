#!/bin/sh
# Before removal (deb: "remove"; rpm: 0 = last version removed). Upgrades leave the instances running.
set -e
if [ "$1" = remove ] || [ "$1" = 0 ]; then
  if [ -d /run/systemd/system ]; then
    systemctl stop 'udp-fanout@*.service' 'udp-fanout-tune@*.service' udp-fanout.target >/dev/null 2>&1 || true
    systemctl disable udp-fanout.target >/dev/null 2>&1 || true
  fi
fi
exit 0
