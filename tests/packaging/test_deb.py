"""The packages as built by `make deb` and `make rpm` (into the test's own directories): the .deb's
control fields and conffiles, its maintainer scripts, its payload against `make install`'s,
lintian, and the RPM. The system test (tests/system/test_package.py) installs, upgrades and purges
the .deb in a booted image.

Root only because git refuses to read a checkout owned by another user (`make unit` runs as
nobody); nothing here needs privileges: dpkg-buildpackage runs under fakeroot."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.packages import VERSION, make

pytestmark = pytest.mark.root

TOOLS = ("dpkg-buildpackage", "dh", "lintian", "rpmbuild", "fakeroot", "git")
# What debhelper adds to make install's files, and what it takes away (see debian/rules).
DEB_ONLY = {"usr/share/doc/waagent/copyright", "usr/share/doc/waagent/changelog"}
NOT_SHIPPED = ("__pycache__/", ".dist-info/RECORD", ".dist-info/INSTALLER",
               ".dist-info/REQUESTED", ".dist-info/direct_url.json")  # fmt: skip
# The same directories debian/rules hands make install.
DEB_INSTALL_VARS = (
    "PREFIX=/usr",
    "UNITDIR=/lib/systemd/system",
    "GENERATORDIR=/lib/systemd/system-generators",
    "UDEVRULESDIR=/lib/udev/rules.d",
)

if missing := [t for t in TOOLS if shutil.which(t) is None]:
    pytestmark = [pytest.mark.root, pytest.mark.skip(reason=f"needs {missing} (packaging.txt)")]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("packages")
    yield where
    shutil.rmtree(where, ignore_errors=True)  # the RPM build and an install


@pytest.fixture
def deb(debian_package: Path) -> Path:
    """The session's build (tests/harness/packages.py), which test_package.py installs."""
    return debian_package


def field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()


def control_member(deb: Path, name: str) -> str | None:
    raw = subprocess.run(
        ["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, timeout=60, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        try:
            member = tar.extractfile(f"./{name}")
        except KeyError:
            return None
        return member.read().decode() if member else None


def test_the_control_fields_drop_in_for_the_classic_agent(deb: Path) -> None:
    assert field(deb, "Package") == "waagent"
    assert field(deb, "Version") == VERSION
    for name in ("Provides", "Conflicts", "Replaces"):
        assert field(deb, name) == "walinuxagent"
    depends = {d.split()[0] for d in field(deb, "Depends").replace("|", ",").split(",")}
    for runtime in ("openssl", "dbus", "polkitd", "python3", "systemd", "passwd", "nftables"):
        assert runtime in depends
    for tests_only in ("ntfs-3g", "firewalld", "openssh-server", "isc-dhcp-client", "7zip"):
        assert tests_only not in depends


def test_the_configuration_is_a_conffile(deb: Path) -> None:
    conffiles = (control_member(deb, "conffiles") or "").split()
    assert "/etc/waagent.conf" in conffiles
    assert "/etc/logrotate.d/waagent" in conffiles


@pytest.mark.parametrize("script", ["preinst", "postinst", "prerm", "postrm"])
def test_each_maintainer_script_parses(deb: Path, script: str) -> None:
    text = control_member(deb, script)
    if text is None:
        pytest.skip(f"no {script}")
    result = subprocess.run(
        ["sh", "-n"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_maintainer_scripts_apply_users_tmpfiles_and_purge(deb: Path) -> None:
    postinst = control_member(deb, "postinst") or ""
    assert "systemd-sysusers" in postinst
    assert "systemd-tmpfiles" in postinst
    assert "deb-systemd-helper enable 'waagent.target'" in postinst
    postrm = control_member(deb, "postrm") or ""
    assert "userdel waagent-wire" in postrm
    assert "rm -rf /var/lib/waagent " in postrm


def payload(deb: Path) -> set[str]:
    """The package's files, with the docs dh_compress gzipped under their installed names."""
    listing = subprocess.run(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, timeout=120, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(listing)) as tar:
        names = {m.name.removeprefix("./") for m in tar.getmembers() if not m.isdir()}
    return {n.removesuffix(".gz") if n.startswith("usr/share/doc/") else n for n in names}


def test_the_payload_is_what_make_install_lays_out(deb: Path, work: Path) -> None:
    destdir = work / "destdir"
    result = make("install", f"DESTDIR={destdir}", *DEB_INSTALL_VARS)
    assert result.returncode == 0, result.stderr
    installed = {
        str(p.relative_to(destdir))
        for p in destdir.rglob("*")
        if not p.is_dir() and not any(part in str(p) for part in NOT_SHIPPED)
    }
    shipped = payload(deb)
    assert sorted(shipped - installed) == sorted(DEB_ONLY)
    assert sorted(installed - shipped) == []


def test_lintian_finds_no_error(deb: Path) -> None:
    result = subprocess.run(
        ["lintian", "--fail-on", "error", str(deb)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print("\n" + result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [line for line in result.stdout.splitlines() if line.startswith("E:")]


def test_the_rpm_builds_with_the_same_files(work: Path) -> None:
    built = make("rpm", f"DEB_VERSION={VERSION}", f"PKG_BUILD={work}/rpmbuild", f"DIST={work}/rpm")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (rpm,) = (work / "rpm").glob("waagent-*.rpm")
    files = subprocess.run(
        ["rpm", "-qpl", str(rpm)], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    for path in ("/etc/waagent.conf", "/usr/sbin/waagent", "/usr/lib/systemd/system/waagent.target",
                 "/usr/lib/waagent/python/waagent/__init__.py"):  # fmt: skip
        assert path in files
    config = subprocess.run(
        ["rpm", "-qpc", str(rpm)], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "/etc/waagent.conf" in config
