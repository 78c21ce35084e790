"""What the Hyper-V host puts in a VM's KVP pool 0 (`/var/lib/hyperv/.kvp_pool_0`).

On a real VM the host sends its key-value pairs over VMBus and hv_kvp_daemon stores them as
fixed records (a 512-byte key and a 2048-byte value, UTF-8, NUL-padded). The simulator writes
the same file directly into a VM's root: `NdDriverVersion` and `IPoIB_Data` for RDMA sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

KEY_SIZE = 512
VALUE_SIZE = 2048
HOST_POOL = "var/lib/hyperv/.kvp_pool_0"


def record(key: str, value: str) -> bytes:
    raw_key, raw_value = key.encode(), value.encode()
    if not raw_key or len(raw_key) >= KEY_SIZE or len(raw_value) >= VALUE_SIZE:
        raise ValueError(f"KVP pair {key!r} does not fit a record")
    return raw_key.ljust(KEY_SIZE, b"\0") + raw_value.ljust(VALUE_SIZE, b"\0")


def ipoib_data(pairs: Sequence[tuple[str, str]]) -> str:
    """`IPoIB_Data` for SR-IOV RDMA: `NUMPAIRS:<n>|<mac>:<ip>|...` (MACs without colons)."""
    return "|".join([f"NUMPAIRS:{len(pairs)}", *(f"{mac}:{ip}" for mac, ip in pairs)])


def write_host_pool(vm_root: Path, pairs: Mapping[str, str]) -> Path:
    """The host's pool in `vm_root`, as hv_kvp_daemon leaves it (0644 in a 0755 directory)."""
    path = vm_root / HOST_POOL
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    path.write_bytes(b"".join(record(k, v) for k, v in pairs.items()))
    path.chmod(0o644)
    return path
