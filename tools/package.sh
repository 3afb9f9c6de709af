#!/usr/bin/env bash
# Builds artifacts/packages/udp-fanout_<version>_amd64.deb and udp-fanout-<version>-1.x86_64.rpm from nfpm.yaml with
# the distributions' own tools (dpkg-deb, rpmbuild), since nfpm itself is not obtainable here. A release pipeline
# that runs `nfpm package` on the same nfpm.yaml ships the same contents (a test checks both against the file).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
dotnet publish src/UdpFanout -c Release -o artifacts/publish >/dev/null
exec /usr/bin/python3 tools/package.py --version "$version" --out artifacts/packages
