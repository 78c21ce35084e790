#!/bin/sh
# Counts every operation in /var/tmp/counter/ops ("<operation> <seq> <version>"), so a test can
# tell an operation that ran twice from one that ran once; enable reports success.
set -eu
operation="${1:-}"
here="$(cd "$(dirname "$0")" && pwd)"
seq="${ConfigSequenceNumber:-0}"
mkdir -p /var/tmp/counter
echo "$operation $seq ${AZURE_GUEST_AGENT_EXTENSION_VERSION:-}" >> /var/tmp/counter/ops
if [ "$operation" = enable ]; then
    mkdir -p "$here/status"
    printf '[{"version":"1.0","timestampUTC":"%s","status":{"name":"counter","operation":"Enable","status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"counted"}}}]\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$here/status/$seq.status.tmp"
    mv "$here/status/$seq.status.tmp" "$here/status/$seq.status"
fi
