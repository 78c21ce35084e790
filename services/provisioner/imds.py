"""IMDS as the second source (reference §4.6): compute.osProfile and compute.publicKeys.

IMDS knows the hostname, the user, the password switch and the public keys, but never a
password, key pairs or custom data; provisioning from it does only what it can describe.
"""

from __future__ import annotations

import json
from typing import Any

from ..common.errors import InvalidArgs
from .models import ProvisioningData, PublicKey


class ImdsError(InvalidArgs):
    pass


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse(document: str) -> ProvisioningData:
    """ProvisioningData from the instance document, or ImdsError naming what is missing."""
    try:
        data = json.loads(document)
    except ValueError:
        raise ImdsError("instance metadata is not JSON") from None
    compute = data.get("compute") if isinstance(data, dict) else None
    profile = compute.get("osProfile") if isinstance(compute, dict) else None
    if not isinstance(profile, dict):
        raise ImdsError("instance metadata has no compute.osProfile")
    assert isinstance(compute, dict)
    hostname = _text(profile.get("computerName"))
    username = _text(profile.get("adminUsername"))
    if not hostname or not username:
        raise ImdsError("instance metadata osProfile has no computerName or adminUsername")
    keys = compute.get("publicKeys")
    public_keys = tuple(
        PublicKey(path=_text(key.get("path")), value=_text(key.get("keyData")))
        for key in (keys if isinstance(keys, list) else [])
        if isinstance(key, dict)
    )
    # IMDS writes booleans as strings.
    disable = str(profile.get("disablePasswordAuthentication", "")).strip().lower() == "true"
    return ProvisioningData(
        source="imds",
        hostname=hostname,
        username=username,
        disable_ssh_password_authentication=disable,
        public_keys=public_keys,
    )
