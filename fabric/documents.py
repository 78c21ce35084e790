"""WireServer documents of a generated goal state (reference §2.6): the XML Azure serves."""

from __future__ import annotations

import base64
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from .scenario import Identity
from .urls import Urls
from .xmldoc import XSD, XSI, element, render

WIRE_PROTOCOL_VERSION = "2012-11-30"
SUPPORTED_VERSIONS = ("2010-12-15", "2010-28-10")


def versions() -> bytes:
    return render(
        element(
            "Versions",
            children=[
                element("Preferred", children=[element("Version", WIRE_PROTOCOL_VERSION)]),
                element(
                    "Supported",
                    children=[
                        element("Version", v) for v in (WIRE_PROTOCOL_VERSION, *SUPPORTED_VERSIONS)
                    ],
                ),
            ],
        )
    )


def config_name(identity: Identity) -> str:
    """RoleInstance ConfigName; HostGAPlugin checks it as x-ms-host-config-name."""
    deployment = identity.deployment_name
    return f"{deployment}.0.{deployment}.0._{identity.hostname}.1.xml"


def goal_state(
    identity: Identity,
    incarnation: int,
    urls: Urls,
    *,
    extensions: bool,
    certificates: bool,
    remote_access: bool,
) -> bytes:
    cid, rid = identity.container_id, identity.role_instance_id
    configuration = [
        element(
            "HostingEnvironmentConfig",
            urls.config(cid, rid, "hostingEnvironmentConfig", incarnation),
        ),
        element("SharedConfig", urls.config(cid, rid, "sharedConfig", incarnation)),
    ]
    if extensions:
        configuration.append(
            element("ExtensionsConfig", urls.config(cid, rid, "extensionsConfig", incarnation))
        )
    configuration.append(element("FullConfig", urls.config(cid, rid, "fullConfig", incarnation)))
    if certificates:
        configuration.append(element("Certificates", urls.certificates(cid, rid, incarnation)))
    configuration.append(element("ConfigName", config_name(identity)))
    container = [element("ContainerId", cid)]
    if remote_access:
        container.append(element("RemoteAccessInfo", urls.remote_access(cid, rid, incarnation)))
    container.append(
        element(
            "RoleInstanceList",
            children=[
                element(
                    "RoleInstance",
                    children=[
                        element("InstanceId", rid),
                        element("State", "Started"),
                        element("Configuration", children=configuration),
                    ],
                )
            ],
        )
    )
    return render(
        element(
            "GoalState",
            attrs={"xmlns:xsi": XSI, "xsi:noNamespaceSchemaLocation": "goalstate10.xsd"},
            children=[
                element("Version", WIRE_PROTOCOL_VERSION),
                element("Incarnation", incarnation),
                element(
                    "Machine",
                    children=[
                        element("ExpectedState", "Started"),
                        element("StopRolesDeadlineHint", 300000),
                        element("LBProbePorts", children=[element("Port", 16001)]),
                        element("ExpectHealthReport", "FALSE"),
                    ],
                ),
                element("Container", children=container),
            ],
        )
    )


def _deployment(identity: Identity, incarnation: int) -> list[ET.Element]:
    name = identity.deployment_name
    return [
        element(
            "Deployment",
            attrs={"name": name, "guid": f"{{{identity.vm_id}}}", "incarnation": incarnation},
            children=[
                element(
                    "Service",
                    attrs={
                        "name": identity.role_name,
                        "guid": "{00000000-0000-0000-0000-000000000000}",
                    },
                ),
                element(
                    "ServiceInstance",
                    attrs={"name": f"{name}.0", "guid": f"{{{identity.container_id}}}"},
                ),
            ],
        ),
        element(
            "Incarnation",
            attrs={
                "number": incarnation,
                "instance": identity.hostname,
                "guid": f"{{{identity.vm_id}}}",
            },
        ),
    ]


def hosting_environment(identity: Identity, incarnation: int) -> bytes:
    return render(
        element(
            "HostingEnvironmentConfig",
            attrs={"version": "1.0.0.0", "goalStateIncarnation": incarnation},
            children=[
                element("StoredCertificates"),
                *_deployment(identity, incarnation),
                element(
                    "Role",
                    attrs={
                        "guid": f"{{{identity.vm_id}}}",
                        "name": identity.role_name,
                        "hostingEnvironmentVersion": 1,
                        "software": "",
                        "softwareType": "ApplicationPackage",
                        "entryPoint": "",
                        "parameters": "",
                        "settleTimeSeconds": 10,
                    },
                ),
                element(
                    "HostingEnvironmentSettings",
                    attrs={
                        "name": "full",
                        "Runtime": "rd_fabric_stable.RuntimePackage_1.0.0.8.zip",
                    },
                    children=[
                        element("CAS", attrs={"mode": "full"}),
                        element("PrivilegeLevel", attrs={"mode": "max"}),
                    ],
                ),
                element("ApplicationSettings"),
                element("ResourceReferences"),
            ],
        )
    )


def shared_config(identity: Identity, incarnation: int) -> bytes:
    endpoint = element(
        "Endpoint",
        attrs={
            "name": "ssh",
            "address": f"{identity.private_ip}:22",
            "protocol": "tcp",
            "hostName": f"{identity.hostname}ContractContract",
            "isPublic": "false",
            "enableDirectServerReturn": "false",
            "isDirectAddress": "false",
            "disableStealthMode": "false",
        },
        children=[
            element(
                "LocalPorts", children=[element("LocalPortRange", attrs={"from": 22, "to": 22})]
            )
        ],
    )
    rdma = {
        "rdmaMacAddress": identity.rdma_mac_address,
        "rdmaIPv4Address": identity.rdma_ipv4_address,
    }
    instance = element(
        "Instance",
        attrs={
            "id": identity.hostname,
            "address": identity.private_ip,
            **{name: value for name, value in rdma.items() if value},
        },
        children=[
            element("FaultDomains", attrs={"randomId": 0, "updateId": 0, "updateDomains": 1}),
            element("InputEndpoints", children=[endpoint]),
        ],
    )
    return render(
        element(
            "SharedConfig",
            attrs={"version": "1.0.0.0", "goalStateIncarnation": incarnation},
            children=[
                *_deployment(identity, incarnation),
                element(
                    "Role",
                    attrs={
                        "guid": f"{{{identity.vm_id}}}",
                        "name": identity.role_name,
                        "settleTimeSeconds": 0,
                    },
                ),
                element(
                    "LoadBalancerSettings",
                    attrs={"timeoutSeconds": 0, "waitLoadBalancerProbeCount": 8},
                    children=[
                        element(
                            "Probes",
                            children=[
                                element("Probe", attrs={"name": "D41D8CD98F00B204E9800998ECF8427E"})
                            ],
                        )
                    ],
                ),
                element("OutputEndpoints"),
                element("Instances", children=[instance]),
            ],
        )
    )


def _base64_lines(data: bytes) -> str:
    # Azure sends <Data> as multi-line base64; readers must not care where lines break.
    return "\n" + "\n".join(textwrap.wrap(base64.b64encode(data).decode(), 64)) + "\n"


def certificates(incarnation: int, enveloped: bytes) -> bytes:
    return render(
        element(
            "CertificateFile",
            attrs={
                "xmlns:xsi": XSI,
                "xmlns:xsd": XSD,
                "xsi:noNamespaceSchemaLocation": "certificates10.xsd",
            },
            children=[
                element("Version", WIRE_PROTOCOL_VERSION),
                element("Incarnation", incarnation),
                element("Format", "Pkcs7BlobWithPfxContents"),
                element("Data", _base64_lines(enveloped)),
            ],
        )
    )


def remote_access(
    incarnation: int, users: Sequence[tuple[str, bytes, str, Sequence[str]]]
) -> bytes:
    """`users`: (name, encrypted password DER, expiration, groups)."""
    return render(
        element(
            "RemoteAccess",
            children=[
                element("Version", 1),
                element("Incarnation", incarnation),
                element(
                    "Users",
                    children=[
                        element(
                            "User",
                            children=[
                                element("Name", name),
                                element("Password", base64.b64encode(password).decode()),
                                element("Expiration", expiration),
                                element(
                                    "Groups", children=[element("GroupName", g) for g in groups]
                                ),
                            ],
                        )
                        for name, password, expiration, groups in users
                    ],
                ),
            ],
        )
    )
