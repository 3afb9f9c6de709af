#!/bin/sh
# After removal (deb: "remove" or "purge"; rpm: 0 = last version removed). Purge also removes the config and
# the user; rpm has no purge, so its removal keeps both, as rpm does for changed config files.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
  rm -rf /etc/udp-fanout
  if getent passwd udp-fanout >/dev/null; then
    userdel udp-fanout || true
  fi
  if getent group udp-fanout >/dev/null; then
    groupdel udp-fanout || true
  fi
fi
exit 0
