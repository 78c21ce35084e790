"""Bad input and faults: each reported with the classic code and a clear message, and no other
extension affected (the built-in sample handler of the fabric runs beside each one)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from tests.harness.wait import wait_for
from waagent.fabric.scenario import Scenario

from .hostile import (
    bomb,
    failed,
    make_zip,
    probe_files,
    serve_package,
    serve_settings_text,
    with_sample,
)
from .system import PROBE, SAMPLE, System, detail, handler_copy, message, probe_extension

pytestmark = pytest.mark.integration

FIRST = "Waagent.Test.First"
SECOND = "Waagent.Test.Second"


class TestPackages:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        return with_sample(scenario, probe_extension())

    def test_a_zip_with_dot_dot_entries_is_refused(self, system: System) -> None:
        serve_package(
            system,
            PROBE,
            make_zip([*probe_files(), ("../../escaped.txt", b"x", stat.S_IFREG | 0o644)]),
        )
        system.start()
        item = failed(system, PROBE, 1005)
        assert "unsafe package: entry '../../escaped.txt' leaves the handler directory" in message(
            item
        )
        assert not (system.lib_dir.parent / "escaped.txt").exists()
        assert not system.handler_dir(PROBE, "1.0.0").exists()
        assert list(system.lib_dir.glob(".*unpacking*")) == []

    def test_a_zip_with_an_absolute_path_is_refused(self, system: System, tmp_path: Path) -> None:
        target = tmp_path / "absolute.txt"
        serve_package(
            system,
            PROBE,
            make_zip([*probe_files(), (str(target), b"x", stat.S_IFREG | 0o644)]),
        )
        system.start()
        item = failed(system, PROBE, 1005)
        assert "is an absolute path" in message(item)
        assert not target.exists()

    def test_a_zip_with_a_symlink_pointing_outside_is_refused(self, system: System) -> None:
        link = ("config-link", b"../../../../etc", stat.S_IFLNK | 0o777)
        serve_package(system, PROBE, make_zip([*probe_files(), link]))
        system.start()
        item = failed(system, PROBE, 1005)
        assert "symlink 'config-link' points to '../../../../etc', outside the handler" in message(
            item
        )
        assert not system.handler_dir(PROBE, "1.0.0").exists()

    def test_a_zip_bomb_is_refused_before_anything_is_written(self, system: System) -> None:
        serve_package(system, PROBE, bomb())
        system.start()
        item = failed(system, PROBE, 1005, timeout=60)
        assert "more than the 1073741824 allowed (a zip bomb?)" in message(item)
        used = sum(p.stat().st_size for p in system.lib_dir.rglob("*") if p.is_file())
        assert used < 50 << 20

    def test_a_package_without_a_handler_manifest_is_reported_1002(self, system: System) -> None:
        serve_package(system, PROBE, make_zip(probe_files()[1:]))
        system.start()
        item = failed(system, PROBE, 1002)
        assert "the package has no HandlerManifest.json" in message(item)

    def test_a_package_whose_download_keeps_failing_is_reported_1001(self, system: System) -> None:
        # The probe's package is downloaded first: both channels fail it; the sample's works.
        system.fabric.program_faults("storage-package", [404])
        system.fabric.program_faults("hgap-artifact", [404])
        system.start()
        item = failed(system, PROBE, 1001)
        assert f"Failed to download the package of {PROBE} 1.0.0" in message(item)
        assert system.operations(PROBE) == []


class TestMalformedHandlerManifest:
    @pytest.fixture
    def scenario(self, scenario: Scenario, tmp_path: Path) -> Scenario:
        broken = handler_copy(
            tmp_path, "broken", lambda d: (d / "HandlerManifest.json").write_text("[{not json")
        )
        probe = probe_extension()
        probe = probe.model_copy(
            update={"versions": [probe.versions[0].model_copy(update={"handler_dir": broken})]}
        )
        return with_sample(scenario, probe)

    def test_a_malformed_handler_manifest_is_reported_1003(self, system: System) -> None:
        system.start()
        item = failed(system, PROBE, 1003)
        assert "HandlerManifest.json is not valid JSON" in message(item)
        assert not system.handler_dir(PROBE, "1.0.0").exists()


class TestStatusFiles:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        invalid = probe_extension(FIRST, public_settings={"status": "invalid"})
        huge = probe_extension(SECOND, public_settings={"status": "huge"})
        half = probe_extension(PROBE, public_settings={"status": "half"})
        return with_sample(scenario, invalid, huge, half)

    def test_invalid_huge_and_half_written_status_files_are_reported_as_the_reference_says(
        self, system: System
    ) -> None:
        system.start()
        invalid = system.wait_extension_status(FIRST, "error", seq=0)
        assert detail(invalid)["code"] == 1012
        assert (
            "Could not get a valid status from the extension"
            in detail(invalid)["formattedMessage"]["message"]
        )
        huge = system.wait_extension_status(SECOND, "success", seq=0)
        text = detail(huge)["formattedMessage"]["message"]
        assert text.endswith(" ... [TRUNCATED]") and len(text) == 1024 + len(" ... [TRUNCATED]")
        half = system.wait_extension_status(PROBE, "error", seq=0, timeout=30)
        assert detail(half)["code"] == 1012
        system.wait_extension_status(SAMPLE, "success", seq=0)


class TestCommands:
    @pytest.fixture
    def env_config(self, env_config: dict[str, str]) -> dict[str, str]:
        return {**env_config, "Extensions.EnableTimeout": "3"}

    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        hang = probe_extension(FIRST, public_settings={"hang": ["enable"]})
        flood = probe_extension(SECOND, public_settings={"flood": ["enable"]})
        return with_sample(scenario, hang, flood)

    def test_a_hanging_enable_is_killed_with_its_children_and_reported_1011(
        self, system: System
    ) -> None:
        system.start()
        item = failed(system, FIRST, 1011)
        assert message(item).startswith("Timeout(3): ")
        pids = [int(p) for p in (system.log_dir(FIRST) / "hang.pids").read_text().split()]
        wait_for(
            lambda: not any(Path(f"/proc/{p}").exists() for p in pids),
            timeout=5,
            what="the hung tree to die",
        )

    def test_an_enable_printing_100_mb_costs_neither_memory_nor_disk(self, system: System) -> None:
        system.start()
        system.wait_extension_status(SECOND, "success", seq=0, timeout=60)
        log = system.log_dir(SECOND) / "CommandExecution.log"
        assert log.stat().st_size < 64 << 10
        assert "flood flood" in log.read_text()
        assert disk_used(system.lib_dir) < 20 << 20


def disk_used(top: Path) -> int:
    """Bytes of disk under `top`; another handler may be unpacking meanwhile, so a file or
    directory that goes away during the walk counts as nothing."""
    used = 0
    for folder, _, files in os.walk(top):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                used += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return used


class TestSettings:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        secret = probe_extension(FIRST, protected_settings={"token": "t"}, certificate="tenant")
        unparsable = probe_extension(SECOND, seq_no=5)
        return with_sample(scenario, secret, unparsable)

    def test_protected_settings_for_a_certificate_the_vm_does_not_have_are_refused(
        self, system: System
    ) -> None:
        system.fabric.program_faults("certificates", [404] * 20)
        system.start()
        item = failed(system, FIRST, -1)
        assert "Ran into config errors" in message(item)
        assert "which this VM does not have" in message(item)
        assert system.operations(FIRST) == []

    def test_settings_that_do_not_parse_are_refused(self, system: System) -> None:
        serve_settings_text(system, SECOND, '{"runtimeSettings": [{"handlerSettings": ')
        system.start()
        item = failed(system, SECOND, -1)
        assert "Ran into config errors: the settings are not valid JSON" in message(item)
        assert system.operations(SECOND) == []


class TestDependencies:
    @pytest.fixture
    def scenario(self, scenario: Scenario) -> Scenario:
        a = probe_extension(
            "Waagent.Test.CycleA", dependency_level=1, depends_on=["Waagent.Test.CycleB"]
        )
        b = probe_extension(
            "Waagent.Test.CycleB", dependency_level=1, depends_on=["Waagent.Test.CycleA"]
        )
        broken = probe_extension(FIRST, dependency_level=0, public_settings={"fail": ["enable"]})
        dependent = probe_extension(SECOND, dependency_level=1, depends_on=[FIRST])
        return with_sample(scenario, a, b, broken, dependent)

    def test_a_cycle_and_a_dependency_on_a_failed_handler_stop_only_those(
        self, system: System
    ) -> None:
        system.start()
        cycle = "Waagent.Test.CycleA -> Waagent.Test.CycleB -> Waagent.Test.CycleA"
        for name in ("Waagent.Test.CycleA", "Waagent.Test.CycleB"):
            item = failed(system, name, -1)
            assert message(item).startswith(f"Ran into config errors: dependsOn cycle: {cycle}")
            assert system.operations(name) == []
        broken = failed(system, FIRST, 1009)
        assert message(broken).startswith("Non-zero exit code: 1, ")
        dependent = failed(system, SECOND, -1)
        assert message(dependent) == (
            f"Skipping processing of extensions since execution of dependent extension {FIRST} failed"
        )
        assert system.operations(SECOND) == []
