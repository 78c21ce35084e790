"""The built-in sample extension handler: what a HandlerVersion without a directory publishes.

A POSIX shell handler that succeeds at every operation, appends `<operation> <seq>` to
`operations.log` in its directory (so tests can see the order the agent ran commands in), and on
enable writes the status file `status/<seq>.status` of the classic handler protocol.
"""

from __future__ import annotations

import json

SCRIPT = r"""#!/bin/sh
# Sample handler published by waagent-fabric: every operation succeeds.
set -eu
operation="${1:-}"
here="$(cd "$(dirname "$0")" && pwd)"
seq="${ConfigSequenceNumber:-0}"
name="${ConfigExtensionName:-}"
echo "$operation $seq $name" >> "$here/operations.log"
if [ "$operation" = "enable" ]; then
    mkdir -p "$here/status"
    status="$here/status/${name:+$name.}$seq.status"
    now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    message="Enabled by the sample handler (seq $seq)"
    {
        printf '[{"version":"1.0","timestampUTC":"%s","status":{' "$now"
        printf '"name":"%s","operation":"Enable","status":"success","code":0,' "${name:-sample}"
        printf '"formattedMessage":{"lang":"en-US","message":"%s"}}}]\n' "$message"
    } > "$status.tmp"
    mv "$status.tmp" "$status"
fi
exit 0
"""


def files(handler: str, version: str) -> dict[str, tuple[bytes, int]]:
    """Package contents: path -> (bytes, mode)."""
    manifest = [
        {
            "name": handler,
            "version": 1.0,
            "handlerManifest": {
                "installCommand": "handler.sh install",
                "uninstallCommand": "handler.sh uninstall",
                "updateCommand": "handler.sh update",
                "enableCommand": "handler.sh enable",
                "disableCommand": "handler.sh disable",
                "rebootAfterInstall": False,
                "reportHeartbeat": False,
                "updateMode": "UpdateWithInstall",
                "continueOnUpdateFailure": False,
                "supportsMultipleExtensions": True,
            },
            "signingInfo": {
                "type": handler.rsplit(".", 1)[-1],
                "publisher": handler.rsplit(".", 1)[0],
                "version": version,
            },
        }
    ]
    return {
        "HandlerManifest.json": (json.dumps(manifest, indent=2).encode(), 0o644),
        "handler.sh": (SCRIPT.encode(), 0o755),
    }
