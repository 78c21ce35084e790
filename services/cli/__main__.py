"""`waagent`: the classic command line, as a client of the services on the system bus."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence

from .. import __version__
from ..common import config, logs
from ..common.errors import ConfigError
from . import args as cli_args
from . import deprovision

WIRE_PROTOCOL_VERSION = "2012-11-30"
HOSTGAPLUGIN_API_VERSION = "2015-09-01"


def _os_release() -> str:
    try:
        info = platform.freedesktop_os_release()
    except OSError:
        return platform.system()
    return info.get("PRETTY_NAME") or info.get("NAME", "Linux")


def version_text() -> str:
    return (
        f"waagent {__version__} running on {_os_release()}\n"
        f"Python: {platform.python_version()}\n"
        f"Protocols: WireServer {WIRE_PROTOCOL_VERSION}, "
        f"HostGAPlugin {HOSTGAPLUGIN_API_VERSION}, extension handler protocol 1.0\n"
    )


def show_configuration(path: str | None) -> int:
    try:
        loaded = config.load(path or config.DEFAULT_PATH)
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"waagent: {problem}\n")
        return 1
    sys.stdout.write("\n".join(config.show(loaded)) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    inv = cli_args.parse(sys.argv[1:] if argv is None else argv)
    logs.setup("waagent", verbose=inv.verbose)
    if inv.command == "help":
        for arg in inv.unknown:
            sys.stderr.write(f"waagent: unknown argument {arg!r}\n")
        sys.stdout.write(cli_args.USAGE)
        return 1 if inv.unknown else 0
    if inv.command == "version":
        sys.stdout.write(version_text())
        return 0
    if inv.command == "show-configuration":
        return show_configuration(inv.config_path)
    if inv.command in ("deprovision", "deprovision+user"):
        return deprovision.run(inv.command == "deprovision+user", inv.force)
    sys.stderr.write(f"waagent: -{inv.command} is not available yet\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
