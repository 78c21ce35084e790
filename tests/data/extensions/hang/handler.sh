#!/bin/sh
# Enable never ends: it starts a child, a daemon in a session of its own, and waits. Their
# pids go to /var/tmp/hang so a test can see that the timeout took them all.
[ "${1:-}" = enable ] || exit 0
mkdir -p /var/tmp/hang
sleep 3600 & echo $! > /var/tmp/hang/child
setsid sleep 3600 & echo $! > /var/tmp/hang/daemon
echo $$ > /var/tmp/hang/main
sleep 3600
