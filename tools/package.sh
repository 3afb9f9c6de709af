#!/usr/bin/env bash
# Builds artifacts/packages/udp-fanout_<version>_amd64.deb and udp-fanout-<version>-1.x86_64.rpm from nfpm.yaml with
# the distributions' own tools (dpkg-deb, rpmbuild), since nfpm itself is not obtainable here. A release pipeline
# that runs `nfpm package` on the same nfpm.yaml ships the same contents (a test checks both against the file),
# after the same two build steps: the publish and the manual page.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
dotnet publish src/UdpFanout -c Release -o artifacts/publish >/dev/null
mkdir -p artifacts/man
# gzip -n leaves out the name and time, so the same source makes the same package (lintian checks -9).
scdoc < docs/udp-fanout.8.scd | gzip -9n > artifacts/man/udp-fanout.8.gz
exec /usr/bin/python3 tools/package.py --version "$version" --out artifacts/packages
