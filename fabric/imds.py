"""The Instance Metadata Service document (reference §4.6): compute, osProfile, keys, network."""

from __future__ import annotations

import ipaddress
from typing import Any

from .scenario import Identity, Provisioning


def instance(identity: Identity, provisioning: Provisioning) -> dict[str, Any]:
    subnet = ipaddress.ip_network(identity.subnet, strict=False)
    resource_id = (
        f"/subscriptions/{identity.subscription_id}/resourceGroups/{identity.resource_group}"
        f"/providers/Microsoft.Compute/virtualMachines/{identity.hostname}"
    )
    return {
        "compute": {
            "azEnvironment": "AzurePublicCloud",
            "location": identity.location,
            "name": identity.hostname,
            "offer": identity.image_offer,
            "osType": "Linux",
            # IMDS writes booleans as strings.
            "osProfile": {
                "adminUsername": provisioning.user_name,
                "computerName": identity.hostname,
                "disablePasswordAuthentication": str(
                    provisioning.disable_ssh_password_authentication
                ).lower(),
            },
            "publicKeys": [
                {"keyData": key.value, "path": key.path}
                for key in provisioning.ssh_public_keys
                if key.value
            ],
            "platformFaultDomain": "0",
            "platformUpdateDomain": "0",
            "provider": "Microsoft.Compute",
            "publisher": identity.image_publisher,
            "resourceGroupName": identity.resource_group,
            "resourceId": resource_id,
            "sku": identity.image_sku,
            "subscriptionId": identity.subscription_id,
            "tags": "",
            "version": identity.image_version,
            "vmId": identity.vm_id,
            "vmScaleSetName": "",
            "vmSize": identity.vm_size,
            "zone": "",
        },
        "network": {
            "interface": [
                {
                    "ipv4": {
                        "ipAddress": [
                            {"privateIpAddress": identity.private_ip, "publicIpAddress": ""}
                        ],
                        "subnet": [
                            {
                                "address": str(subnet.network_address),
                                "prefix": str(subnet.prefixlen),
                            }
                        ],
                    },
                    "ipv6": {"ipAddress": []},
                    "macAddress": identity.mac_address,
                }
            ]
        },
    }


def select(document: Any, path: list[str]) -> Any:
    """The subtree at `path` (list items by index), as `/metadata/instance/<path>` serves it.

    KeyError when there is nothing there.
    """
    node = document
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(part)
    return node


# The api-versions IMDS accepts, oldest first; any other value is refused.
VERSIONS = (
    "2017-03-01", "2017-04-02", "2017-08-01", "2017-10-01", "2017-12-01", "2018-02-01",
    "2018-04-02", "2018-10-01", "2019-02-01", "2019-03-11", "2019-04-30", "2019-06-01",
    "2019-06-04", "2019-08-01", "2019-08-15", "2019-11-01", "2020-06-01", "2020-07-15",
    "2020-09-01", "2020-10-01", "2020-12-01", "2021-01-01", "2021-02-01", "2021-03-01",
    "2021-05-01", "2021-10-01", "2021-11-01", "2021-11-15", "2021-12-13", "2023-07-01",
)  # fmt: skip

# The api-version that introduced each field IMDS versions (dotted paths under the instance);
# an older request does not see it. Fields not listed exist in every version.
INTRODUCED = {
    "compute.location": "2017-04-02",
    "compute.name": "2017-04-02",
    "compute.offer": "2017-04-02",
    "compute.osType": "2017-04-02",
    "compute.platformFaultDomain": "2017-04-02",
    "compute.platformUpdateDomain": "2017-04-02",
    "compute.publisher": "2017-04-02",
    "compute.sku": "2017-04-02",
    "compute.version": "2017-04-02",
    "compute.vmId": "2017-04-02",
    "compute.resourceGroupName": "2017-08-01",
    "compute.subscriptionId": "2017-08-01",
    "compute.tags": "2017-08-01",
    "compute.vmSize": "2017-08-01",
    "compute.vmScaleSetName": "2017-12-01",
    "compute.zone": "2017-12-01",
    "compute.publicKeys": "2018-04-02",
    "compute.azEnvironment": "2018-10-01",
    "compute.provider": "2018-10-01",
    "compute.resourceId": "2019-03-11",
    "compute.osProfile": "2020-07-15",
    "compute.osProfile.disablePasswordAuthentication": "2020-10-01",
}


def newest_versions() -> list[str]:
    """What IMDS lists beside a refused api-version: the three newest, newest first."""
    return list(reversed(VERSIONS[-3:]))


def for_version(document: Any, version: str) -> Any:
    """`document` as `api-version=version` serves it: without the fields introduced later.

    API versions are ISO dates, so they compare as strings.
    """
    return _prune(document, "", version)


def _prune(node: Any, path: str, version: str) -> Any:
    if not isinstance(node, dict):
        return node
    kept = {}
    for key, value in node.items():
        child = f"{path}.{key}" if path else key
        if INTRODUCED.get(child, VERSIONS[0]) <= version:
            kept[key] = _prune(value, child, version)
    return kept
