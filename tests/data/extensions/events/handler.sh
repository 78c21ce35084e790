#!/bin/sh
# Enable reports success at once and leaves a child behind, as monitoring extensions do, that
# writes one telemetry event into the handler's eventsFolder (HandlerEnvironment.json, the
# classic contract) once /var/tmp/events/go exists, and notes when in /var/tmp/events/written.
[ "${1:-}" = enable ] || exit 0
seq="${ConfigSequenceNumber:-0}"
events=$(sed -n 's/.*"eventsFolder": *"\([^"]*\)".*/\1/p' HandlerEnvironment.json | head -n 1)
mkdir -p status /var/tmp/events
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf '[{"version":1.0,"timestampUTC":"%s","status":{"name":"events","operation":"Enable","status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"enabled"}}}]' \
    "$now" > "status/$seq.status.tmp"
mv "status/$seq.status.tmp" "status/$seq.status"
setsid sh -c '
    while [ ! -e /var/tmp/events/go ]; do sleep 0.2; done
    name="$1/$(date +%s%N).json"
    printf "{\"Version\":\"1.0\",\"Timestamp\":\"%s\",\"TaskName\":\"monitor\",\"EventLevel\":\"Informational\",\"Message\":\"written after extd exited\",\"EventPid\":\"$$\",\"EventTid\":\"1\",\"OperationId\":\"op-late\"}" \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$name.tmp"
    mv "$name.tmp" "$name"
    date +%s.%N > /var/tmp/events/written
' events-child "$events" </dev/null >/dev/null 2>&1 &
echo "enabled; events go to $events"
exit 0
