#!/bin/sh
# Enable counts its starts in /var/tmp/waiter/starts, then waits for /var/tmp/waiter/release
# (a test kills extd meanwhile) and exits with the code written there.
[ "${1:-}" = enable ] || exit 0
mkdir -p /var/tmp/waiter
echo "start $$" >> /var/tmp/waiter/starts
while [ ! -e /var/tmp/waiter/release ]; do sleep 0.1; done
code="$(cat /var/tmp/waiter/release)"
echo "released with ${code:-0}"
exit "${code:-0}"
