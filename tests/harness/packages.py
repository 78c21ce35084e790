"""The Debian package as `make deb` builds it, for the tests that read it (tests/packaging) and
the one that installs, upgrades and purges it in a booted image (tests/system/test_package.py).

One build per test session (about 30 s on an idle machine, more under load); the newer version
for the upgrade is the same build with another version in its control file (`dpkg-deb -R`, then
`-b`), which is all an upgrade asks of a package: dpkg runs the maintainer scripts of both, the
units restart and the conffile is kept whatever the payload.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.harness.paths import REPO

VERSION = "3.0.0~test1"


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", *args], cwd=REPO, capture_output=True, text=True, timeout=1200, check=False
    )


def build_deb(where: Path, version: str = VERSION) -> Path:
    """`make deb DEB_VERSION=...`, built in `where` (nothing in the checkout) and left there."""
    built = make("deb", f"DEB_VERSION={version}", f"PKG_BUILD={where}/build", f"DIST={where}/dist")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    shutil.rmtree(where / "build", ignore_errors=True)
    (deb,) = (where / "dist").glob(f"waagent_{version}_*.deb")
    return deb


def reversioned(deb: Path, version: str, where: Path) -> Path:
    """`deb` as version `version`: its tree and control files unpacked, the Version field
    changed, packed again with the same owners."""
    tree = where / f"tree-{version}"
    shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True, timeout=120)
    control = tree / "DEBIAN" / "control"
    text, count = re.subn(r"(?m)^Version: .*$", f"Version: {version}", control.read_text())
    assert count == 1, text
    control.write_text(text)
    out = where / deb.name.replace(f"_{VERSION}_", f"_{version}_")
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "-b", str(tree), str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    shutil.rmtree(tree, ignore_errors=True)
    return out
