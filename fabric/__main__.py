"""waagent-fabric: run the Azure fabric simulator, or write its provisioning media offline.

    waagent-fabric serve [--scenario FILE] [--raw DIR] --listen ADDRESS [--admin unix:/path]
                         [--dhcp-interface IFACE]
    waagent-fabric ovf-image --scenario FILE --output ovf.iso
    waagent-fabric ovf-env --scenario FILE
    waagent-fabric check FILE

`serve` prints one JSON line (`{"ready": true, ...}`: addresses and ports) once every listener
accepts connections, then runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from .scenario import Scenario, ScenarioError

EX_USAGE = 64
EX_UNAVAILABLE = 69


def _scenario(args: argparse.Namespace) -> Scenario:
    scenario = Scenario.load(args.scenario) if args.scenario else Scenario.default()
    if getattr(args, "raw", None):
        raw = Scenario.raw(args.raw)
        scenario = scenario.model_copy(update={"raw_dir": raw.raw_dir})
    return scenario


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waagent-fabric", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run WireServer, HostGAPlugin, storage and IMDS")
    serve.add_argument("--scenario", type=Path, help="scenario TOML (default: the built-in one)")
    serve.add_argument("--raw", type=Path, help="serve the captured documents of DIR verbatim")
    serve.add_argument("--listen", default="127.0.0.1", help="address to listen on and advertise")
    serve.add_argument("--wire-port", type=int, default=80)
    serve.add_argument("--hgap-port", type=int, default=32526)
    serve.add_argument("--storage-port", type=int, default=10000)
    serve.add_argument("--imds-listen", help="own address for IMDS (default: on the WireServer)")
    serve.add_argument("--imds-port", type=int, default=80)
    serve.add_argument("--admin", help="admin API: unix:/path/to/admin.sock or ADDRESS:PORT")
    serve.add_argument(
        "--dhcp-interface", help="serve DHCP on this interface (the fabric side of the veth)"
    )

    image = commands.add_parser("ovf-image", help="write the provisioning DVD (UDF) image")
    image.add_argument("--scenario", type=Path)
    image.add_argument("--output", type=Path, required=True)

    env = commands.add_parser("ovf-env", help="print the scenario's ovf-env.xml")
    env.add_argument("--scenario", type=Path)

    check = commands.add_parser("check", help="validate a scenario file and summarize it")
    check.add_argument("scenario", type=Path)
    return parser


async def _serve(args: argparse.Namespace, scenario: Scenario) -> None:
    from .server import Fabric

    fabric = Fabric(
        scenario,
        address=args.listen,
        wire_port=args.wire_port,
        hgap_port=args.hgap_port,
        storage_port=args.storage_port,
        imds_address=args.imds_listen,
        imds_port=args.imds_port,
        admin=args.admin,
        dhcp_interface=args.dhcp_interface,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    async with fabric:
        print(json.dumps({"ready": True, **fabric.info()}), flush=True)
        await stopping.wait()


def _ovf_env(scenario: Scenario) -> bytes:
    """The scenario's ovf-env.xml without running a fabric (URLs are not part of it)."""
    from .generated import GeneratedSource
    from .urls import Urls

    return GeneratedSource(scenario, Urls("168.63.129.16", 80, 32526, 10000)).ovf_env()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="waagent-fabric: %(levelname)s: %(message)s",
    )
    logging.getLogger("aiohttp").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        scenario = _scenario(args)
        if args.command == "serve":
            asyncio.run(_serve(args, scenario))
        elif args.command == "ovf-image":
            from .ovf import write_image

            print(write_image(args.output, _ovf_env(scenario)))
        elif args.command == "ovf-env":
            sys.stdout.write(_ovf_env(scenario).decode())
        else:
            summary = {
                "extensions": [f"{e.name} {e.version} ({e.state})" for e in scenario.extensions],
                "certificates": [c.name for c in scenario.certificates],
                "user": scenario.provisioning.user_name,
                "hostname": scenario.identity.hostname,
            }
            print(json.dumps(summary, indent=2))
    except ScenarioError as exc:
        print(f"waagent-fabric: {exc}", file=sys.stderr)
        return EX_USAGE
    except OSError as exc:
        print(f"waagent-fabric: {exc.strerror or exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
