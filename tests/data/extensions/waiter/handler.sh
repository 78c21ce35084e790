#!/bin/sh
# Enable counts its starts in /var/tmp/waiter/starts, then waits for /var/tmp/waiter/release
# (a test kills extd meanwhile) and exits with the code written there. The test renames a
# finished file into place; waiting for a non-empty file as well keeps a shell's `>` (which
# creates the file before it writes) from being read as an empty code, i.e. exit 0.
[ "${1:-}" = enable ] || exit 0
mkdir -p /var/tmp/waiter
echo "start $$" >> /var/tmp/waiter/starts
while [ ! -s /var/tmp/waiter/release ]; do sleep 0.1; done
code="$(cat /var/tmp/waiter/release)"
echo "released with ${code:-0}"
exit "${code:-0}"
