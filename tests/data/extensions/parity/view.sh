#!/bin/sh
# How this process sees the system, one key=value a line: run by the extension, and by the
# test in a root login, and the two compared.
echo "uid=$(id -u)"
echo "mnt_ns_is_pid1s=$([ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ] && echo yes || echo no)"
echo "net_ns_is_pid1s=$([ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net)" ] && echo yes || echo no)"
sed -n 's/^\(CapBnd\|CapEff\|NoNewPrivs\|Seccomp\|Seccomp_filters\):[[:space:]]*/\1=/p' /proc/self/status
echo "tmp=$(stat -c %d:%i /tmp)"
echo "home=${HOME:-}"
for dir in /etc /var/cache /root /home /usr/local; do
    probe="$dir/.waagent-parity.$$"
    if : > "$probe" 2>/dev/null; then rm -f "$probe"; echo "write:$dir=yes"; else echo "write:$dir=no"; fi
done
if python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()' 2>/dev/null
then echo "af_inet=yes"; else echo "af_inet=no"; fi
