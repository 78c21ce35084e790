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
