"""dat.conf, the uDAPL provider list: the ofa-v2-ib0 provider bound to the RDMA address.

As the classic agent, the address field of the `ofa-v2-ib0` provider line is rewritten in each
dat.conf that exists (distributions put it in /etc, /etc/rdma or /usr/local/etc); a file without
the line gets it appended. No dat.conf at all means no uDAPL is installed: nothing is created.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..common.root import Root

PATHS = (
    PurePosixPath("/etc/dat.conf"),
    PurePosixPath("/etc/rdma/dat.conf"),
    PurePosixPath("/usr/local/etc/dat.conf"),
)
PROVIDER = "ofa-v2-ib0"


LEAD = f"{PROVIDER} u2.0 nonthreadsafe default libdaplofa.so.2 dapl.2.0 "
# The provider's address field; what follows it (platform parameters, `""`) is kept.
ADDRESS_FIELD = re.compile(rf'^({re.escape(LEAD)})"\S+ 0"', re.MULTILINE)


def updated(text: str, address: str) -> str:
    new, count = ADDRESS_FIELD.subn(lambda m: f'{m.group(1)}"{address} 0"', text)
    if count:
        return new
    return text + ("" if text.endswith("\n") or not text else "\n") + f'{LEAD}"{address} 0" ""\n'


def write_dat_conf(root: Root, address: str) -> list[PurePosixPath]:
    """Update every dat.conf that exists; the files that hold the address now (none: empty)."""
    changed: list[PurePosixPath] = []
    for path in PATHS:
        text = root.read_text(path)
        if text is None:
            continue
        new = updated(text, address)
        if new != text:
            root.write_atomic(path, new, mode=0o644)
        changed.append(path)
    return changed
