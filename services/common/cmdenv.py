"""The environment every external command runs with (kept apart from `commands`, which loads
asyncio, for the short helper processes that must start fast)."""

from collections.abc import Mapping

# English messages we can parse, and the standard PATH.
BASE_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
    "LANG": "C",
}
