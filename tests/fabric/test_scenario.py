"""Scenarios: a complete default, TOML files, and one-line errors for bad ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness.paths import REPO
from waagent.fabric.scenario import Scenario, ScenarioError

EXAMPLE = """
status_blob_type = "PageBlob"
fast_track = true
certificates = ["settings", { name = "ssh", key_type = "ec" }]

[identity]
hostname = "golden-image"
incarnation = 3

[provisioning]
user_name = "builder"
password = "not-a-real-password"
custom_data = "#cloud-config\\n"

[[provisioning.ssh_public_keys]]
path = "/home/builder/.ssh/authorized_keys"
value = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA builder"

[[extensions]]
name = "Contoso.Tools.Probe"
version = "1.0"
public_settings = { probe = true }
protected_settings = { token = "t0k3n" }
certificate = "settings"

[[extensions.versions]]
version = "1.0.3"
handler_dir = "handlers/probe"
"""


def test_the_default_scenario_is_a_complete_vm() -> None:
    scenario = Scenario.default()
    assert scenario.identity.vm_id and scenario.identity.container_id
    assert scenario.provisioning.user_name == "azureuser"
    assert scenario.provisioning.ssh_public_keys[0].value.startswith("ssh-ed25519 ")  # type: ignore[union-attr]
    assert [c.name for c in scenario.certificates] == ["tenant"]
    (extension,) = scenario.extensions
    assert extension.protected_settings and extension.public_settings
    assert scenario.fast_track is False and scenario.status_blob_type == "BlockBlob"


def test_a_toml_scenario_loads_with_handler_dirs_relative_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(EXAMPLE)
    scenario = Scenario.load(path)
    assert scenario.identity.hostname == "golden-image"
    assert scenario.identity.incarnation == 3
    assert scenario.certificates[1].key_type == "ec"
    (extension,) = scenario.extensions
    assert extension.versions[0].handler_dir == tmp_path / "handlers" / "probe"
    assert scenario.status_blob_type == "PageBlob"


def test_a_scenario_round_trips_through_json(tmp_path: Path) -> None:
    original = Scenario.default()
    path = tmp_path / "scenario.json"
    path.write_text(original.model_dump_json())
    assert Scenario.load(path) == original


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[identity\n", "cannot parse"),
        ("[identity]\nincarnation = 0\n", "identity.incarnation"),
        ('status_blob_type = "AppendBlob"\n', "status_blob_type"),
        ('[[extensions]]\nname = "NoDot"\nversion = "1"\n', "Publisher.Type"),
        (
            '[[extensions]]\nname = "A.B"\nversion = "1"\nprotected_settings = {a = 1}\n',
            "need a certificate",
        ),
        (
            'certificates = ["a"]\n[[provisioning.key_pairs]]\npath = "/x"\ncertificate = "b"\n',
            "unknown certificate 'b'",
        ),
        ("surprise = 1\n", "surprise"),
    ],
)
def test_a_bad_scenario_is_one_line_naming_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as failure:
        Scenario.load(path)
    assert message in str(failure.value)
    assert "\n" not in str(failure.value)
    assert str(path) in str(failure.value)


def test_a_missing_scenario_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="No such file"):
        Scenario.load(tmp_path / "none.toml")


def test_the_example_in_the_documentation_loads(tmp_path: Path) -> None:
    text = (REPO / "docs" / "fabric.md").read_text()
    example = re.search(r"```toml\n(.+?)```", text, re.S)
    assert example, "docs/fabric.md has a ```toml example"
    path = tmp_path / "example.toml"
    path.write_text(example.group(1))
    scenario = Scenario.load(path)
    assert scenario.extensions
