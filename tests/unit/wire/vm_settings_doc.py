"""vmSettings documents shaped like the HostGAPlugin's (§4.3, §12.4): its mixed key casing
(`failoverlocation`, `DependsOnExtension`), single-config settings that leave seqNo to
`settingsSeqNo`, a multi-config handler, protected settings, SAS URLs."""

from __future__ import annotations

import copy
import json
from typing import Any

STATUS_SAS = (
    "https://acct.blob.core.windows.net/$system/vm.status?sv=2018-03-28&sr=b&sig=SECRETSIG%3d"
)
THUMB = "4C4F304667711036E64AF4894B76EB208A863BD4"
PROTECTED = "MIIBsAYJKoZIhvcNAQcDoIIBoTCCAZ0CAQAxggFpMIIBZQIBADBNMDkxNzA1BgoJkiaJk/protected=="

DOCUMENT: dict[str, Any] = {
    "hostGAPluginVersion": "1.0.8.179",
    "vmSettingsSchemaVersion": "0.0",
    "activityId": "a33f6f53-43d6-4625-b322-1a39651a00c9",
    "correlationId": "9a47a2a2-e740-4bfc-b11b-4f2f7cfe7d2e",
    "inSvdSeqNo": 7,
    "extensionsLastModifiedTickCount": 638000000000000000,
    "extensionGoalStatesSource": "FastTrack",
    "onHold": True,
    "statusUploadBlob": {"statusBlobType": "PageBlob", "value": STATUS_SAS},
    "inVMMetadata": {"subscriptionId": "8e037ad4", "vmName": "vm", "osType": "Linux"},
    "requiredFeatures": [{"name": "MultipleExtensionsPerHandler"}],
    "gaFamilies": [
        {
            "name": "Prod",
            "version": "2.15.0.1",
            "isVersionFromRSM": True,
            "isVMEnabledForRSMUpgrades": True,
            "uris": ["https://a.blob/Microsoft.OSTCLinuxAgent_Prod_manifest.xml"],
        }
    ],
    "extensionGoalStates": [
        {
            "name": "Microsoft.Azure.Monitor.AzureMonitorLinuxAgent",
            "version": "1.9.1",
            "location": "https://a.blob/ama_manifest.xml",
            "failoverlocation": "https://b.blob/ama_manifest.xml",
            "additionalLocations": ["https://c.blob/ama_manifest.xml"],
            "state": "enabled",
            "autoUpgrade": True,
            "runAsStartupTask": False,
            "isJson": True,
            "useExactVersion": True,
            "settingsSeqNo": 3,
            "settings": [
                {
                    "protectedSettingsCertThumbprint": THUMB,
                    "protectedSettings": PROTECTED,
                    "publicSettings": '{"GCS_AUTO_CONFIG":true}',
                }
            ],
        },
        {
            "name": "Microsoft.Azure.Extensions.CustomScript",
            "version": "2.1.6",
            "location": "https://a.blob/cse_manifest.xml",
            "state": "enabled",
            "settingsSeqNo": 0,
            "isMultiConfig": False,
            "settings": [{"publicSettings": '{"commandToExecute":"echo hi"}'}],
            "dependsOn": [
                {
                    "DependsOnExtension": [
                        {"handler": "Microsoft.Azure.Monitor.AzureMonitorLinuxAgent"}
                    ],
                    "dependencyLevel": 1,
                }
            ],
        },
        {
            "name": "Microsoft.CPlat.Core.RunCommandHandlerLinux",
            "version": "1.2.0",
            "location": "https://a.blob/rc_manifest.xml",
            "state": "enabled",
            "settingsSeqNo": 0,
            "isMultiConfig": True,
            "settings": [
                {
                    "publicSettings": '{"source":{"script":"echo 1"}}',
                    "seqNo": 4,
                    "extensionName": "MCExt1",
                    "extensionState": "enabled",
                },
                {
                    "publicSettings": None,
                    "seqNo": 1,
                    "extensionName": "MCExt2",
                    "extensionState": "disabled",
                },
            ],
            "dependsOn": [
                {
                    "dependsOnExtension": [{"extension": "MCExt2", "handler": "x.y"}],
                    "dependencyLevel": 2,
                    "name": "MCExt1",
                }
            ],
        },
    ],
}


def document(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENT)
    doc.update(changes)
    return doc


def encoded(doc: dict[str, Any] | None = None) -> bytes:
    return json.dumps(DOCUMENT if doc is None else doc).encode()
