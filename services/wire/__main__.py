"""waagent-wire: the only process that talks to the Azure fabric (org.waagent.Wire1)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import __version__
from ..common.bus import ServiceContext, service_main
from ..common.names import WIRE
from .bus import WireInterface


async def setup(ctx: ServiceContext) -> None:
    ctx.export(WIRE.path, WireInterface(__version__))


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(WIRE, [WireInterface], setup, argv)


if __name__ == "__main__":
    sys.exit(main())
