#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing udp-fanout needs; quick when they are present.
set -euo pipefail
packages=(
  clang llvm libbpf-dev libbpf1 bpftool libxdp-dev libxdp1 xdp-tools linux-libc-dev               # BPF programs and loaders
  iproute2 iputils-ping ethtool nftables netsniff-ng                                                          # network-namespace testbeds
  nginx libnginx-mod-stream                                                                        # the peer proxy in benchmarks
  debootstrap systemd-container rpm cpio dpkg-dev scdoc lintian rpmlint man-db                     # packaging, its linters and the systemd test
  zlib1g-dev python3 python3-matplotlib python3-yaml                                                        # Native AOT link, benchmark plots
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
