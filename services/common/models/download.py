"""What a service may ask wire to download (`Download`), each verified for its kind."""

from __future__ import annotations

from typing import Literal, get_args

DownloadKind = Literal["manifest", "package", "artifacts-profile"]
DOWNLOAD_KINDS: tuple[DownloadKind, ...] = get_args(DownloadKind)
