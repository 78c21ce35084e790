"""Provisioning by waagent itself: read the source, validate everything, then apply each step.

Validation refuses bad input before the first change, so a refused run leaves nothing
half-done. Each step applies one thing idempotently (a user created only if missing, a key or
sudoers line added only if absent, custom data executed once), so a run killed at any point
and started again finishes the job exactly once. The marker is the last step.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..common import logs
from ..common.clients.systemd import Units
from ..common.clients.wire import WireApi as Wire
from ..common.config import AgentConfig
from ..common.errors import WaagentError
from ..common.models.goal_state import Certificate
from ..common.root import Root
from . import imds, instance_id, ovf, password
from .home_files import HomeFiles
from .hostname import validate_hostname
from .media import NoMedia
from .models import ProvisioningData
from .parts import Parts
from .run import Run
from .ssh_keys import KeyPlan
from .sshd_config import settings

log = logging.getLogger(__name__)

SSHD_UNITS = ("ssh.service", "sshd.service")


@dataclass(frozen=True)
class Plan:
    """A validated provisioning: what every step will do."""

    data: ProvisioningData
    home: PurePosixPath
    keys: KeyPlan
    certificates: tuple[Certificate, ...]
    custom_data: bytes | None
    password_hash: str | None


@dataclass(frozen=True)
class Steps:
    config: AgentConfig
    root: Root
    parts: Parts
    wire: Wire
    units: Units
    sysfs_root: Path

    async def read_source(self) -> tuple[ProvisioningData, bytes | None]:
        """ovf-env.xml from the DVD; IMDS only when there is no DVD at all."""
        try:
            media = await self.parts.media.read()
        except NoMedia as missing:
            log.info("%s; asking IMDS", missing.message)
            try:
                return imds.parse(await self.wire.instance_metadata()), None
            except WaagentError as exc:
                raise NoMedia(f"{missing.message}; IMDS: {exc.message}") from None
        return ovf.parse(media.data), media.data

    async def validate(self, data: ProvisioningData, raw: bytes | None) -> Plan:
        """Everything that can be refused is refused here, before the first change."""
        parts = self.parts
        validate_hostname(data.hostname)
        parts.users.check(data.username)
        home = parts.users.home_for(data.username)
        certificates = await self._certificates(parts.keys.fingerprints(data))
        keys = parts.keys.plan(data, home, certificates)
        parts.keys.check(keys, HomeFiles(self.root, home, -1, -1))
        custom = None if data.custom_data is None else parts.custom_data.content(data.custom_data)
        hashed = None
        if data.password is not None:
            secret = data.password.get_secret_value()
            logs.register_secret(secret)
            hashed = password.hash_password(
                secret,
                self.config.provisioning_password_crypt_id,
                self.config.provisioning_password_crypt_salt_length,
            )
        if raw is not None:
            parts.store.save_ovf(ovf.redact(raw))
        return Plan(data, home, keys, tuple(certificates), custom, hashed)

    async def _certificates(self, needed: set[str]) -> list[Certificate]:
        """The tenant certificates, when keys need some; the goal state is fetched again once
        when one is missing (wire may not have fetched it yet)."""
        if not needed:
            return []
        certificates = await self.wire.certificates()
        if needed - {c.thumbprint.upper() for c in certificates}:
            await self.wire.refresh()
            certificates = await self.wire.certificates()
        return certificates

    async def apply(self, plan: Plan, run: Run) -> None:
        parts, name = self.parts, plan.data.hostname
        # The name and the account touch nothing of each other's, and each mostly waits:
        # the name on hostnamed's activation, publishing it on netd's start and the DHCP
        # client's renewal, the account on useradd and ssh-keygen. So the name is set and
        # published beside the account steps; all three are joined before the marker, so the
        # DHCP server has the name before Ready (as classic). The name's own failure is raised
        # first, as the classic order (name, then account) would have.
        name_set: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        publishing = asyncio.create_task(self._publish(name, run, name_set))
        naming = asyncio.create_task(self._set_name(name, run, name_set))
        try:
            await self._accounts(plan, run)
        except asyncio.CancelledError:
            naming.cancel()  # a stopping service does not wait for hostnamed, as before
            raise
        finally:
            await asyncio.wait([naming])
            if not name_set.done():
                publishing.cancel()  # the name was never set: nothing to publish
            await asyncio.wait([publishing])
            # Both retrieved here, whatever happens next: none is lost unlogged.
            name_failed = None if naming.cancelled() else naming.exception()
            publish_failed = None if publishing.cancelled() else publishing.exception()
            if name_failed is not None:
                raise name_failed
        if publish_failed is not None:
            raise publish_failed
        with run.step("marker"):
            parts.store.write_marker(instance_id.read(self.sysfs_root))

    async def _set_name(self, name: str, run: Run, name_set: asyncio.Future[None]) -> None:
        with run.step("hostname"):
            await self.parts.hostname.set(name)
        name_set.set_result(None)

    async def _publish(self, name: str, run: Run, name_set: asyncio.Future[None]) -> None:
        await self.parts.hostname.prepare_publish()
        await name_set
        with run.step("publish hostname"):
            await self.parts.hostname.publish(name)

    async def _accounts(self, plan: Plan, run: Run) -> None:
        """The user, its credentials, sshd and the host keys."""
        parts, data, config = self.parts, plan.data, self.config
        with run.step("user"):
            account = await parts.users.ensure(data.username)
        if plan.password_hash is not None:
            with run.step("password"):
                await parts.users.set_password_hash(data.username, plan.password_hash)
        with run.step("sudoers"):
            parts.sudoers.grant(data.username, with_password=plan.password_hash is not None)
        with run.step("sshd settings"):
            parts.sshd.apply(
                settings(
                    disable_password=data.disable_ssh_password_authentication,
                    client_alive_interval=config.os_ssh_client_alive_interval,
                )
            )
        with run.step("ssh keys"):
            if plan.certificates:
                parts.certificates.write_certificates(plan.certificates)
            files = HomeFiles(self.root, account.home, account.uid, account.gid)
            parts.keys.deploy(plan.keys, files)
        if plan.custom_data is not None:
            with run.step("custom data"):
                await self._custom_data(plan.custom_data, run)
        if config.provisioning_delete_root_password:
            with run.step("root password"):
                parts.users.lock_root_password()
        with run.step("ssh host keys"):
            if config.provisioning_regenerate_ssh_host_key_pair:
                await parts.host_keys.regenerate(f"root@{data.hostname}")
            await parts.host_keys.fingerprint()
        with run.step("restart sshd"):
            restarted = await self.units.try_restart(SSHD_UNITS)
            if restarted is False:
                log.info("sshd not restarted: systemd is not on the bus")
        # Not a step of its own: a no-op on every kernel after 2.6.37.
        await parts.boot.numa_workaround(os.uname().release)

    async def _custom_data(self, content: bytes, run: Run) -> None:
        custom = self.parts.custom_data
        custom.save(content)
        if custom.execute and not self.parts.store.load().custom_data_executed:
            await custom.run()
            run.save(custom_data_executed=True)
