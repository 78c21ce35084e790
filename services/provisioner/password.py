"""Password hashing with crypt(3) semantics (reference §6.5): `$<id>$<salt>$<hash>`.

Python's `crypt` module is deprecated (gone in 3.13), so libcrypt (libxcrypt on Debian) is
called directly: `crypt_rn`, the reentrant form that returns NULL on failure instead of a magic
string. The result is checked by hashing again with it as the setting.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hmac
import secrets
import string
from typing import Any

from ..common.errors import Failed

SALT_ALPHABET = string.ascii_letters + string.digits
# struct crypt_data of libxcrypt is 32 KiB; glibc's older one is 128 KiB: room for either.
_CRYPT_DATA_SIZE = 1 << 18


@functools.cache
def _libcrypt() -> Any:
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise Failed(f"cannot load libcrypt ({name}): {exc}") from None
    function = getattr(lib, "crypt_rn", None) or lib.crypt_r
    function.restype = ctypes.c_char_p
    function.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    return function


def crypt(phrase: str, setting: str) -> str:
    """crypt(3): the hash of `phrase` for `setting` (a `$id$salt` prefix or a whole hash)."""
    data = ctypes.create_string_buffer(_CRYPT_DATA_SIZE)
    result = _libcrypt()(phrase.encode(), setting.encode(), data, _CRYPT_DATA_SIZE)
    if not result or result.startswith(b"*"):
        raise Failed(f"crypt refused the setting {setting.split('$')[1:2]!r}")
    return str(result.decode("ascii"))


def make_salt(crypt_id: str, length: int) -> str:
    salt = "".join(secrets.choice(SALT_ALPHABET) for _ in range(length))
    return f"${crypt_id}${salt}"


def hash_password(password: str, crypt_id: str, salt_length: int) -> str:
    hashed = crypt(password, make_salt(crypt_id, salt_length))
    if not verify(password, hashed):
        raise Failed("the password hash does not verify; refusing to set it")
    return hashed


def verify(password: str, hashed: str) -> bool:
    """True when `password` hashes to `hashed` (rehashing with it as the setting)."""
    try:
        return hmac.compare_digest(crypt(password, hashed), hashed)
    except Failed:
        return False
