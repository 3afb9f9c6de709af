#!/bin/sh
# After install or upgrade (deb: "configure [old-version]"; rpm: 1 = install, 2 = upgrade).
set -e

if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers udp-fanout.conf
elif ! getent passwd udp-fanout >/dev/null; then
  useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin udp-fanout
fi

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  upgrade=no
  { [ "$1" = configure ] && [ -n "$2" ]; } && upgrade=yes
  [ "$1" = 2 ] && upgrade=yes
  if [ "$upgrade" = yes ]; then
    # Only the instances that were running restart, on the new binary; stopped ones stay stopped.
    systemctl try-restart 'udp-fanout@*.service' || true
  else
    # Listeners enabled with `systemctl enable udp-fanout@NAME` start at boot through this target.
    systemctl enable udp-fanout.target >/dev/null 2>&1 || true
  fi
fi
exit 0
