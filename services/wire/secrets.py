"""`python -m waagent.wire.secrets`: the cryptography of wire, in a short-lived process.

`cryptography` costs about 8 MiB of resident memory, and wire is the one resident service; it is
needed only at start (a new transport key) and when a new incarnation brings certificates. So wire
runs this helper for those two jobs, through its command runner (with a timeout), and reads the
result from its state directory:

    secrets transport      generate TransportPrivate.pem (0600) and TransportCert.pem
    secrets certificates   stdin: the Certificates document; write <THUMB>.crt/.prv and
                           Certificates.pem (0600); stdout: JSON [{thumbprint, has_private_key}]

A failure exits non-zero with one line on stderr saying why (never what a secret holds). It
imports neither pydantic nor asyncio: it runs on every new incarnation, and its start-up time is
part of the time until extensions see the goal state.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import PurePosixPath

from ..common import cms
from ..common.errors import WaagentError
from ..common.root import Root
from . import certificates, transport
from .errors import MalformedDocument
from .files import TRANSPORT_CERT, TRANSPORT_KEY


def load_transport(root: Root, directory: PurePosixPath) -> transport.TransportCredentials:
    try:
        pair = cms.read_recipient(root, directory / TRANSPORT_CERT, directory / TRANSPORT_KEY)
    except cms.CmsError as exc:
        raise MalformedDocument(str(exc)) from None
    return transport.TransportCredentials(*pair)


def decrypt_certificates(
    root: Root, directory: PurePosixPath, document: bytes, openssl: str
) -> bytes:
    creds = load_transport(root, directory)
    certs = certificates.decrypt_document(document, creds, openssl)
    certificates.store(certs, root, directory)
    return json.dumps(certificates.summary(certs)).encode()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="waagent-wire-secrets")
    parser.add_argument("command", choices=("transport", "certificates"))
    parser.add_argument("--root", default="/")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--openssl", default="/usr/bin/openssl")
    args = parser.parse_args(argv)
    root = Root(args.root)
    directory = PurePosixPath(args.state_dir)
    try:
        if args.command == "transport":
            transport.create(root, directory)
        else:
            document = sys.stdin.buffer.read()
            summary = decrypt_certificates(root, directory, document, args.openssl)
            sys.stdout.buffer.write(summary)
    except WaagentError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"{exc.strerror or exc}: {exc.filename or ''}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
