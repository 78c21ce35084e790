"""Custom data (reference §6.8): saved to `<Lib.Dir>/CustomData`, decoded and run per config.

With Provisioning.DecodeCustomData=y or ExecuteCustomData=y the text must be base64 (checked
strictly when the OVF is validated, before anything changes); the decoded bytes are kept as
they are (cloud-config, a script, or gzip). The file is 0600 (0700 when it is to be executed):
custom data often carries secrets. It runs synchronously with a bound on its time; a script that
fails is logged and does not fail provisioning, as classic.

The script runs on the machine the service runs on; with a sandbox root (tests) it is the
sandbox's copy that runs.
"""

from __future__ import annotations

import base64
import binascii
import logging
from pathlib import PurePosixPath

from ..common.commands import CommandRunner, CommandTimedOut
from ..common.errors import InvalidArgs
from ..common.root import Root

log = logging.getLogger(__name__)

FILE = "CustomData"
EXECUTE_TIMEOUT = 3600.0


class CustomDataError(InvalidArgs):
    pass


class CustomData:
    def __init__(
        self,
        root: Root,
        runner: CommandRunner,
        lib_dir: str,
        *,
        decode: bool,
        execute: bool,
        timeout: float = EXECUTE_TIMEOUT,
    ) -> None:
        self.root = root
        self.runner = runner
        self.path = PurePosixPath(lib_dir) / FILE
        self.decode = decode or execute
        self.execute = execute
        self.timeout = timeout

    def content(self, raw: str) -> bytes:
        """What is saved: the raw text, or its base64 decoding (CustomDataError if it is not)."""
        if not self.decode:
            return raw.encode()
        try:
            return base64.b64decode("".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            raise CustomDataError(
                "custom data is not valid base64, and Provisioning.DecodeCustomData or "
                "ExecuteCustomData asks to decode it"
            ) from None

    def save(self, content: bytes) -> None:
        self.root.makedirs(self.path.parent, 0o700)
        self.root.write_atomic(self.path, content, mode=0o700 if self.execute else 0o600)
        log.info("custom data saved to %s (%d bytes)", self.path, len(content))

    async def run(self) -> None:
        if not self.execute:
            return
        script = self.root.resolve(self.path)
        try:
            result = await self.runner.run([str(script)], timeout=self.timeout, check=False)
        except CommandTimedOut as exc:
            log.warning("custom data: %s", exc.message)
            return
        if result.ok:
            log.info("custom data ran successfully")
        else:
            log.warning("custom data exited with %d: %s", result.returncode, result.message())
