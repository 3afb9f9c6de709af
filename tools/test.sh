#!/usr/bin/env bash
# Runs every test of udp-fanout, the root-only kernel ones included (network namespaces, BPF, AF_XDP, systemd
# in a container), after installing what a fresh Debian 12 machine with the .NET SDK lacks. Runs as root: started
# by a user, it runs itself again through sudo, so `bash tools/test.sh` works on a root shell without sudo and on
# a user's shell alike. Ends with the line "N passed, N failed[, N skipped]".
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    # PATH goes along: sudo's secure_path would lose a dotnet installed outside the system directories.
    exec sudo env "PATH=$PATH" bash "$(readlink -f "$0")" "$@"
  fi
  echo "tools/test.sh: run as root, or as a user with sudo (the data-path tests create network namespaces and load BPF programs)" >&2
  exit 2
fi
cd "$(dirname "$0")/.."

bash tools/install-deps.sh

results=artifacts/test-results
rm -rf "$results"
mkdir -p "$results"
set +e
dotnet test UdpFanout.sln -c Release --logger "trx;LogFilePrefix=tests" --logger "console;verbosity=normal" \
  --results-directory "$results" "$@"
status=$?
set -e

passed=0 failed=0 skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  field() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$(field total); executed=$(field executed); p=$(field passed); f=$(field failed)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  skipped=$((skipped + ${total:-0} - ${executed:-0}))
done
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then
  # The build or the test host failed before any result was written: count it as a failure.
  failed=1
fi
if [ "$failed" != 0 ]; then
  # CI keeps only the end of this output: name each failed test and its message's first lines right above the summary.
  for trx in "$results"/*.trx; do
    [ -f "$trx" ] || continue
    perl -0777 -ne 'sub text { my $t = shift; $t =~ s/&lt;/</g; $t =~ s/&gt;/>/g; $t =~ s/&quot;/"/g; $t =~ s/&apos;/\x27/g; $t =~ s/&amp;/&/g; $t }
      while (/<UnitTestResult [^>]*testName="([^"]*)"[^>]*outcome="Failed"((?:(?!<UnitTestResult ).)*)/sg) {
        my ($name, $body) = (text($1), $2);
        my @lines = $body =~ /<Message>(.*?)<\/Message>/s ? grep { length } split /\n/, text($1) : ();
        print "FAILED $name\n"; print "  $_\n" for @lines[0 .. ($#lines < 24 ? $#lines : 24)];
      }' "$trx"
  done
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
