#!/bin/sh
# A probe extension shaped like real ones: on enable it administers the VM as root would
# (a user, /etc, /var/cache, openssl on its protected settings, sshd), records how it sees
# the system (view.sh) and what it did in /var/tmp/parity, and prints its secret as careless
# extensions do.
set -u
operation="${1:-}"
here="$(cd "$(dirname "$0")" && pwd)"
seq="${ConfigSequenceNumber:-0}"
out=/var/tmp/parity
mkdir -p "$out"
echo "$operation $seq" >> "$out/operations"
[ "$operation" = enable ] || exit 0

sh "$here/view.sh" > "$out/extension.view"
cat /proc/self/cgroup > "$out/cgroup"
echo "from the extension" > /tmp/waagent-parity-tmp

done_() { echo "$1=$2" >> "$out/did"; }
useradd -m -s /bin/bash parityuser > "$out/useradd.log" 2>&1; done_ useradd $?
{ mkdir -p /var/cache/parity && echo cached > /var/cache/parity/data; } 2>> "$out/errors"
done_ var_cache $?
echo "parity probe was here" > /etc/waagent-parity.conf 2>> "$out/errors"; done_ etc $?

# Protected settings, decrypted with the openssl binary and the tenant certificate.
settings="$here/config/$seq.settings"
field() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["runtimeSettings"][0]["handlerSettings"][sys.argv[2]])' "$settings" "$1"
}
thumbprint="$(field protectedSettingsCertThumbprint)"
field protectedSettings | base64 -d | openssl smime -decrypt -inform DER \
    -recip "/var/lib/waagent/$thumbprint.crt" -inkey "/var/lib/waagent/$thumbprint.prv" \
    > "$out/protected" 2>> "$out/errors"
done_ openssl $?
echo "decrypted: $(cat "$out/protected")"

# An ssh-configuration extension (as VMAccess does): the first PasswordAuthentication line of
# sshd_config is set, or one appended; its edit must win over provisioning's.
if grep -q '^PasswordAuthentication' /etc/ssh/sshd_config; then
    sed -i '0,/^PasswordAuthentication.*/s//PasswordAuthentication yes/' /etc/ssh/sshd_config
else
    echo "PasswordAuthentication yes" >> /etc/ssh/sshd_config
fi
systemctl restart ssh.service >> "$out/errors" 2>&1; done_ ssh_restart $?

mkdir -p "$here/status"
printf '[{"version":"1.0","timestampUTC":"%s","status":{"name":"parity","operation":"Enable","status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"probed"}}}]\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$here/status/$seq.status.tmp"
mv "$here/status/$seq.status.tmp" "$here/status/$seq.status"
