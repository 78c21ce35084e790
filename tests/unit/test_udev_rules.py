"""The shipped udev rules parse: by a strict reading of udev(7)'s syntax (keys, operators,
quoting, labels), and by udev's own rule parser (`udevadm test` in a mount namespace that sees
only our rules; the udev here has no `udevadm verify`). Hyper-V's sysfs cannot be presented to
udev here (sd-device refuses a /sys that is not sysfs), so what the rules name is tested through
their program (tests/diskd/test_azure_disk.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.harness.paths import REPO

UDEV = REPO / "udev"
LIBEXECDIR = "/usr/libexec/waagent"
RULES = ["66-azure-storage.rules", "99-azure-product-uuid.rules"]

MATCH = {"==", "!="}
ASSIGN = {"=", "+=", "-=", ":="}
# key -> operators udev(7) allows for it (252); keys with {attr} are marked by the regex.
KEYS: dict[str, set[str]] = {
    **dict.fromkeys(("ACTION", "DEVPATH", "KERNEL", "KERNELS", "SUBSYSTEM", "SUBSYSTEMS"), MATCH),
    **dict.fromkeys(("DRIVER", "DRIVERS", "ATTRS", "TAGS", "TEST", "RESULT", "CONST"), MATCH),
    **dict.fromkeys(("ENV", "ATTR", "SYSCTL", "SYMLINK", "TAG", "NAME"), MATCH | ASSIGN),
    **dict.fromkeys(("OWNER", "GROUP", "MODE", "RUN", "OPTIONS", "SECLABEL"), ASSIGN),
    **{k: {"="} for k in ("LABEL", "GOTO", "IMPORT", "PROGRAM")},
}
TOKEN = re.compile(
    r'\s*(?P<key>[A-Z]+)(?:\{(?P<attr>[^{}"]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*'
    r'"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)'
)


def rendered(name: str) -> str:
    source = UDEV / name
    if not source.exists():
        source = UDEV / f"{name}.in"
    return source.read_text().replace("@LIBEXECDIR@", LIBEXECDIR)


def rules_of(text: str) -> list[tuple[int, list[tuple[str, str | None, str, str]]]]:
    """(line number, [(key, attr, operator, value)]) of every rule; fails on anything else."""
    found = []
    logical, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not logical:
            start = number
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        stripped, logical = logical.strip(), ""
        if not stripped or stripped.startswith("#"):
            continue
        tokens, at = [], 0
        while at < len(stripped):
            token = TOKEN.match(stripped, at)
            assert token, f"line {start}: cannot parse {stripped[at:]!r}"
            tokens.append((token["key"], token["attr"], token["op"], token["value"]))
            at = token.end()
        found.append((start, tokens))
    return found


@pytest.mark.parametrize("name", RULES)
def test_every_rule_uses_known_keys_with_their_operators(name: str) -> None:
    for line, tokens in rules_of(rendered(name)):
        for key, attr, op, _ in tokens:
            assert key in KEYS, f"{name}:{line}: unknown key {key}"
            assert op in KEYS[key], f"{name}:{line}: {key} does not take {op}"
            takes_attr = key in {"ATTR", "ATTRS", "ENV", "SYSCTL", "TEST", "CONST", "IMPORT"}
            assert (attr is not None) == takes_attr or key == "RUN", f"{name}:{line}: {key}"


@pytest.mark.parametrize("name", RULES)
def test_every_goto_has_its_label_and_programs_are_absolute(name: str) -> None:
    rules = rules_of(rendered(name))
    labels = [v for _, tokens in rules for k, _, _, v in tokens if k == "LABEL"]
    gotos = {v for _, tokens in rules for k, _, _, v in tokens if k == "GOTO"}
    assert len(labels) == len(set(labels)) and gotos <= set(labels)
    for _, tokens in rules:
        for key, attr, _, value in tokens:
            if key == "RUN" or (key == "IMPORT" and attr == "program"):
                assert value.startswith("/"), value
    assert "@" not in rendered(name)


def test_the_links_are_the_ones_diskd_looks_for() -> None:
    links = [
        v for _, t in rules_of(rendered("66-azure-storage.rules")) for k, _, _, v in t
        if k == "SYMLINK"
    ]  # fmt: skip
    assert links == [
        "disk/azure/$env{WAAGENT_AZURE_DISK}",
        "disk/azure/$env{WAAGENT_AZURE_DISK}-part%n",
    ]
    program = f"{LIBEXECDIR}/waagent-azure-disk %p"
    assert f'IMPORT{{program}}="{program}"' in rendered("66-azure-storage.rules")


def udev_reads(rules: dict[str, str]) -> str:
    """What `udevadm test` says while reading only `rules` (file name -> text), on a device
    every machine has; the host's rule directories, /run and /dev are hidden by tmpfs in a
    mount namespace, so nothing of the host is read or changed."""
    script = """
set -e
mount --make-rprivate /
for d in /etc/udev/rules.d /usr/lib/udev/rules.d /usr/local/lib/udev/rules.d
do if [ -d "$d" ]; then mount -t tmpfs tmpfs "$d"; fi; done
cp "$1"/* /usr/lib/udev/rules.d/
# udevadm test records the device in /run/udev and links /dev/char/*: both private here.
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev
mknod -m 0666 /dev/null c 1 3
exec udevadm test --action=add /sys/class/mem/null
"""
    with tempfile.TemporaryDirectory() as staged:
        for name, text in rules.items():
            Path(staged, name).write_text(text)
        result = subprocess.run(
            ["unshare", "--mount", "sh", "-c", script, "sh", staged],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    return result.stdout + result.stderr


needs_udev = pytest.mark.skipif(
    os.geteuid() != 0
    or shutil.which("udevadm") is None
    or not Path("/sys/class/mem/null").exists(),
    reason="needs root and udevadm (a mount namespace hiding the host's rules)",
)


@needs_udev
def test_udev_s_own_parser_accepts_the_rules() -> None:
    said = udev_reads({name: rendered(name) for name in RULES})
    for name in RULES:
        assert f"Reading rules file: /usr/lib/udev/rules.d/{name}" in said, said
        # udev names the file and line of every problem it finds
        problems = [line for line in said.splitlines() if f"{name}:" in line]
        assert not problems, problems


@needs_udev
def test_udev_s_parser_would_tell_a_broken_rule() -> None:
    broken = rendered("66-azure-storage.rules").replace('GOTO="waagent', 'GOTOX="waagent', 1)
    said = udev_reads({"66-azure-storage.rules": broken})
    assert "66-azure-storage.rules:4 Invalid key 'GOTOX'" in said, said
