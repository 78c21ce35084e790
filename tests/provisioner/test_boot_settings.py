"""The serial console and NUMA arguments on sandbox trees shaped like real distributions.

Debian 12 (/etc/default/grub with both variables), Ubuntu cloud images (grub.d drop-ins that
already name ttyS0), RHEL 9 (BLS entries, GRUB_CMDLINE_LINUX only, /etc/kernel/cmdline), RHEL 8
(`$kernelopts` entries) and GRUB legacy menu.lst. Each: the expected files, a second run that
changes nothing, the dry run's diff, the undo back to the original bytes.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from waagent.common.commands import Runner
from waagent.common.errors import Failed
from waagent.common.root import Root
from waagent.provisioner.boot_settings import BootResult, BootSettings, needs_numa_off

DEBIAN_GRUB = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
"""
UBUNTU_GRUB = DEBIAN_GRUB.replace('"quiet"', '"quiet splash"')
UBUNTU_CLOUDIMG = """\
# Cloud Image specific Grub settings for Generic Cloud Images
# CLOUD_IMG: This file was created/modified by the Cloud Image build process

# Set the recordfail timeout
GRUB_RECORDFAIL_TIMEOUT=0

# Do not wait on grub prompt
GRUB_TIMEOUT=0

# Set the default commandline
GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 console=ttyS0"

# Set the grub console type
GRUB_TERMINAL=console
"""
RHEL_GRUB = """\
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR="$(sed 's, release .*$,,g' /etc/system-release)"
GRUB_DEFAULT=saved
GRUB_DISABLE_SUBMENU=true
GRUB_TERMINAL_OUTPUT="console"
GRUB_CMDLINE_LINUX='loglevel=3 crashkernel=1G-4G:192M,4G-64G:256M rootdelay=300 console=tty0'
GRUB_DISABLE_RECOVERY="true"
GRUB_ENABLE_BLSCFG=true
"""
RHEL_ENTRY = """\
title Red Hat Enterprise Linux (5.14.0-362.8.1.el9_3.x86_64) 9.3 (Plow)
version 5.14.0-362.8.1.el9_3.x86_64
linux /vmlinuz-5.14.0-362.8.1.el9_3.x86_64
initrd /initramfs-5.14.0-362.8.1.el9_3.x86_64.img $tuned_initrd
options root=UUID=6f3d2f3c-5b9a-4a39-9d4e-3c2b8d1e6a0f ro loglevel=3 console=tty0 $tuned_params
grub_users $grub_users
grub_arg --unrestricted
grub_class rhel
"""
RHEL_KERNEL_CMDLINE = "root=UUID=6f3d2f3c-5b9a-4a39-9d4e-3c2b8d1e6a0f ro loglevel=3 console=tty0\n"
MENU_LST = """\
default=0
timeout=5
title CentOS (2.6.32-754.el6.x86_64)
\troot (hd0,0)
\tkernel /vmlinuz-2.6.32-754.el6.x86_64 ro root=/dev/sda1 rhgb quiet
\tinitrd /initramfs-2.6.32-754.el6.x86_64.img
"""
ENTRY = "/boot/loader/entries/0a1b2c-5.14.0-362.8.1.el9_3.x86_64.conf"


def tree(base: Path, files: dict[str, str]) -> Root:
    for inner, text in files.items():
        path = base / inner.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Root(base)


def snapshot(root: Root) -> dict[str, bytes]:
    return {
        str(root.inner(p)): p.read_bytes()
        for p in sorted(root.path.rglob("*"))
        if p.is_file() and p.parent.name != "waagent"
    }


def read(root: Root, inner: str) -> str:
    return root.join(inner).read_text()


def serial(settings: BootSettings, enable: bool = True, dry_run: bool = False) -> BootResult:
    return asyncio.run(settings.serial_console(enable, dry_run))


def settings_for(root: Root) -> BootSettings:
    return BootSettings(root, Runner(), "/var/lib/waagent")


def shell_value(root: Root, files: list[str], name: str) -> str:
    """What grub-mkconfig sees: the files sourced by a real shell, in order."""
    script = "".join(f". {root.join(f)}\n" for f in files) + f'printf %s "${name}"'
    return subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True, timeout=10
    ).stdout


def test_debian_gets_the_arguments_in_cmdline_linux_default_once(tmp_path: Path) -> None:
    root = tree(tmp_path, {"/etc/default/grub": DEBIAN_GRUB})
    settings = settings_for(root)
    result = serial(settings)
    assert result.changed == ("/etc/default/grub",)
    assert read(root, "/etc/default/grub") == DEBIAN_GRUB.replace(
        '"quiet"', '"quiet console=ttyS0 earlyprintk=ttyS0"'
    )
    assert result.regeneration.startswith("skipped: ") and "sandbox root" in result.regeneration
    before = snapshot(root)
    again = serial(settings)
    assert (again.changed, snapshot(root)) == ((), before)
    assert "already on the kernel command line" in again.message


def test_a_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path, {"/etc/default/grub": DEBIAN_GRUB})
    before = snapshot(root)
    result = serial(settings_for(root), dry_run=True)
    assert result.diff.splitlines()[:2] == ["--- a/etc/default/grub", "+++ b/etc/default/grub"]
    assert '-GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in result.diff.splitlines()
    assert '+GRUB_CMDLINE_LINUX_DEFAULT="quiet console=ttyS0 earlyprintk=ttyS0"' in result.diff
    assert snapshot(root) == before
    assert not root.exists("/var/lib/waagent/boot-settings.json")


def test_undo_restores_the_original_bytes_and_a_second_undo_has_nothing_to_do(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path, {"/etc/default/grub": DEBIAN_GRUB})
    settings = settings_for(root)
    serial(settings)
    result = serial(settings, enable=False)
    assert result.changed == ("/etc/default/grub",)
    assert read(root, "/etc/default/grub") == DEBIAN_GRUB
    assert "nothing to undo" in serial(settings, enable=False).message


def test_an_earlier_console_stays_and_ttys0_comes_last(tmp_path: Path) -> None:
    grub = DEBIAN_GRUB.replace('"quiet"', "'quiet console=tty0'  # kept as the admin wrote it")
    root = tree(tmp_path, {"/etc/default/grub": grub})
    serial(settings_for(root))
    assert shell_value(root, ["/etc/default/grub"], "GRUB_CMDLINE_LINUX_DEFAULT") == (
        "quiet console=tty0 console=ttyS0 earlyprintk=ttyS0"
    )
    assert "# kept as the admin wrote it" in read(root, "/etc/default/grub")


@pytest.mark.parametrize(
    ("default", "linux", "expected"),
    [
        # ttyS0 followed by another console is not the boot console: ours goes last.
        (
            "console=ttyS0,115200n8 console=tty1",
            "",
            "console=ttyS0,115200n8 console=tty1 console=ttyS0 earlyprintk=ttyS0",
        ),
        # console=ttyS0 in GRUB_CMDLINE_LINUX, but console=tty1 after it in _DEFAULT wins; the
        # undo takes the argument from the variable it was added to.
        ("console=tty1", "console=ttyS0", "console=tty1 console=ttyS0 earlyprintk=ttyS0"),
    ],
)
def test_ttys0_becomes_the_last_console_and_the_undo_restores_the_file(
    tmp_path: Path, default: str, linux: str, expected: str
) -> None:
    grub = DEBIAN_GRUB.replace('"quiet"', f'"{default}"').replace(
        'GRUB_CMDLINE_LINUX=""', f'GRUB_CMDLINE_LINUX="{linux}"'
    )
    root = tree(tmp_path, {"/etc/default/grub": grub})
    settings = settings_for(root)
    serial(settings)
    assert shell_value(root, ["/etc/default/grub"], "GRUB_CMDLINE_LINUX_DEFAULT") == expected
    serial(settings, enable=False)
    assert read(root, "/etc/default/grub") == grub


def test_ubuntu_cloud_images_get_a_drop_in_extending_the_cloudimg_settings(
    tmp_path: Path,
) -> None:
    cloudimg = "/etc/default/grub.d/50-cloudimg-settings.cfg"
    root = tree(
        tmp_path,
        {
            "/etc/default/grub": UBUNTU_GRUB,
            cloudimg: UBUNTU_CLOUDIMG,
            "/etc/default/grub.d/init-select.cfg": "# init-select\n",
        },
    )
    settings = settings_for(root)
    result = serial(settings)
    drop_in = "/etc/default/grub.d/99-waagent.cfg"
    assert result.changed == (drop_in,)
    assert result.diff.startswith(f"--- /dev/null\n+++ b{drop_in}\n")
    # console=ttyS0 was already the last console: only earlyprintk is added.
    assert read(root, drop_in).endswith(
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT earlyprintk=ttyS0"\n'
    )
    files = ["/etc/default/grub", cloudimg, drop_in, "/etc/default/grub.d/init-select.cfg"]
    assert shell_value(root, files, "GRUB_CMDLINE_LINUX_DEFAULT") == (
        "console=tty1 console=ttyS0 earlyprintk=ttyS0"
    )
    assert read(root, cloudimg) == UBUNTU_CLOUDIMG
    assert serial(settings).changed == ()
    serial(settings, enable=False)
    assert not root.exists(drop_in)


def test_a_later_drop_in_that_overrides_the_value_is_named(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "/etc/default/grub": DEBIAN_GRUB,
            "/etc/default/grub.d/zz-local.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',
        },
    )
    with pytest.raises(Failed, match="zz-local.cfg sets GRUB_CMDLINE_LINUX_DEFAULT after"):
        serial(settings_for(root))
    assert not root.exists("/etc/default/grub.d/99-waagent.cfg")


def rhel9(tmp_path: Path) -> Root:
    return tree(
        tmp_path,
        {
            "/etc/default/grub": RHEL_GRUB,
            ENTRY: RHEL_ENTRY,
            "/etc/kernel/cmdline": RHEL_KERNEL_CMDLINE,
            "/boot/grub2/grubenv": "# GRUB Environment Block\n",
        },
    )


def test_rhel9_gets_cmdline_linux_the_bls_entries_and_etc_kernel_cmdline(tmp_path: Path) -> None:
    root = rhel9(tmp_path)
    settings = settings_for(root)
    original = snapshot(root)
    result = serial(settings)
    assert set(result.changed) == {"/etc/default/grub", ENTRY, "/etc/kernel/cmdline"}
    assert shell_value(root, ["/etc/default/grub"], "GRUB_CMDLINE_LINUX") == (
        "loglevel=3 crashkernel=1G-4G:192M,4G-64G:256M rootdelay=300 console=tty0"
        " console=ttyS0 earlyprintk=ttyS0"
    )
    assert "GRUB_CMDLINE_LINUX_DEFAULT" not in read(root, "/etc/default/grub")
    assert read(root, ENTRY).splitlines()[4] == (
        "options root=UUID=6f3d2f3c-5b9a-4a39-9d4e-3c2b8d1e6a0f ro loglevel=3 console=tty0"
        " $tuned_params console=ttyS0 earlyprintk=ttyS0"
    )
    assert read(root, "/etc/kernel/cmdline") == (
        RHEL_KERNEL_CMDLINE.rstrip("\n") + " console=ttyS0 earlyprintk=ttyS0\n"
    )
    changed = snapshot(root)
    assert serial(settings).changed == ()
    assert snapshot(root) == changed
    serial(settings, enable=False)
    restored = snapshot(root)
    # The single quotes of the original become double quotes: the shell reads the same value.
    assert shell_value(root, ["/etc/default/grub"], "GRUB_CMDLINE_LINUX") == (
        "loglevel=3 crashkernel=1G-4G:192M,4G-64G:256M rootdelay=300 console=tty0"
    )
    del restored["/etc/default/grub"], original["/etc/default/grub"]
    assert restored == original


def test_rhel8_entries_that_defer_to_kernelopts_are_left_to_grub2_mkconfig(
    tmp_path: Path,
) -> None:
    entry = RHEL_ENTRY.replace(RHEL_ENTRY.splitlines()[4], "options $kernelopts $tuned_params")
    root = tree(tmp_path, {"/etc/default/grub": RHEL_GRUB, ENTRY: entry})
    result = serial(settings_for(root))
    assert result.changed == ("/etc/default/grub",)
    assert read(root, ENTRY) == entry


def test_grub_legacy_menu_lst_kernel_lines_get_the_arguments(tmp_path: Path) -> None:
    root = tree(tmp_path, {"/boot/grub/menu.lst": MENU_LST})
    settings = settings_for(root)
    result = serial(settings)
    assert result.changed == ("/boot/grub/menu.lst",)
    assert "not needed" in result.regeneration
    assert read(root, "/boot/grub/menu.lst").splitlines()[4] == (
        "\tkernel /vmlinuz-2.6.32-754.el6.x86_64 ro root=/dev/sda1 rhgb quiet"
        " console=ttyS0 earlyprintk=ttyS0"
    )
    assert serial(settings).changed == ()
    serial(settings, enable=False)
    assert read(root, "/boot/grub/menu.lst") == MENU_LST


def test_a_value_over_several_lines_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    grub = DEBIAN_GRUB.replace('"quiet"', '"quiet \\\n  splash"')
    root = tree(tmp_path, {"/etc/default/grub": grub})
    with pytest.raises(Failed, match=r"/etc/default/grub:7: the value's \" quote is not closed"):
        serial(settings_for(root))
    assert read(root, "/etc/default/grub") == grub


def test_a_tree_without_any_boot_loader_configuration_changes_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path, {"/etc/hostname": "vm\n"})
    result = serial(settings_for(root))
    assert result.changed == ()


@pytest.mark.parametrize(
    ("release", "needed"),
    [
        ("2.6.32-754.el6.x86_64", True),
        ("2.6.37", True),
        ("2.6.38-8-server", False),
        ("3.10.0-1160.el7.x86_64", False),
        ("6.1.0-13-amd64", False),
        ("not-a-version", False),
    ],
)
def test_numa_off_is_for_kernels_up_to_2_6_37(release: str, needed: bool) -> None:
    assert needs_numa_off(release) is needed


def test_numa_off_goes_on_the_command_line_of_an_old_kernel_only(tmp_path: Path) -> None:
    root = tree(tmp_path, {"/boot/grub/menu.lst": MENU_LST})
    settings = settings_for(root)
    assert asyncio.run(settings.numa_workaround("6.1.0-13-amd64")) is None
    assert read(root, "/boot/grub/menu.lst") == MENU_LST
    asyncio.run(settings.numa_workaround("2.6.32-754.el6.x86_64"))
    assert read(root, "/boot/grub/menu.lst").splitlines()[4].endswith(" rhgb quiet numa=off")
    serial(settings)
    serial(settings, enable=False)  # the serial console's undo keeps numa=off
    assert read(root, "/boot/grub/menu.lst").splitlines()[4].endswith(" rhgb quiet numa=off")


def fake_update_grub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "update-grub").write_text("#!/bin/sh\n" + script)
    (bin_dir / "update-grub").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_grub_cfg_is_regenerated_after_a_change_to_the_grub_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_update_grub(tmp_path, monkeypatch, f"echo ran > {tmp_path}/regenerated\n")
    root = tree(tmp_path / "root", {"/etc/default/grub": DEBIAN_GRUB})
    settings = BootSettings(root, Runner(), "/var/lib/waagent", regenerate=True)
    assert serial(settings).regeneration == f"ran {tmp_path}/bin/update-grub"
    assert (tmp_path / "regenerated").read_text() == "ran\n"


def test_a_failed_regeneration_leaves_the_files_and_the_record_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_update_grub(
        tmp_path, monkeypatch, "echo 'error: cannot find a GRUB drive for /dev/sda1' >&2\nexit 1\n"
    )
    root = tree(
        tmp_path / "root",
        {
            "/etc/default/grub": UBUNTU_GRUB,
            "/etc/default/grub.d/50-cloudimg-settings.cfg": UBUNTU_CLOUDIMG,
        },
    )
    before = snapshot(root)
    settings = BootSettings(root, Runner(), "/var/lib/waagent", regenerate=True)
    with pytest.raises(Failed, match="cannot find a GRUB drive for /dev/sda1; the boot loader"):
        serial(settings)
    assert snapshot(root) == before  # the new drop-in is gone again
    assert settings.load().added == {}
    with pytest.raises(Failed):
        serial(settings)  # tried again in full, not "already" done
