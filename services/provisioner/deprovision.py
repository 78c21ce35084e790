"""Deprovision and deprovision+user (reference §7.2), and the unique-id-change cleanup (§7.3).

A plan is built before anything runs: the warnings a client shows for confirmation and the
actions, in the classic order. The provisioned user's name is read while building it (from the
saved ovf-env.xml, else the provisioner's record), because emptying Lib.Dir removes both.
Every action runs even when an earlier one failed; the failures are reported together.

Differences from classic, on purpose: the agent's services are stopped through systemd on the
bus (skipped, and said so, without it); wire's own state directory is emptied with Lib.Dir (it
holds what classic kept there: transport certificate, goal states); a system account (uid below
UID_MIN) is never deleted; sudoers lines are removed when their first field is the user, not
whenever the name appears; /etc/resolv.conf is kept when systemd-resolved manages it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..common.clients.systemd import Units
from ..common.config import AgentConfig
from ..common.errors import Failed, WaagentError, from_os_error
from ..common.kvp import GUEST, KvpPool
from ..common.root import Root
from ..wire.files import STATE_DIR as WIRE_STATE_DIR
from . import ovf
from .host_keys import HostKeys
from .hostname import DEPROVISIONED_NAME, Hostname
from .sshd_config import SshdConfig
from .state import StateStore
from .sudoers import Sudoers
from .users import UserError, Users, validate_name

log = logging.getLogger(__name__)

# The agent's resident services; the provisioner (which runs this) is not stopped.
AGENT_UNITS = ("waagent-extd.service", "waagent-wire.service")
DHCP_LEASE_DIRS = ("/var/lib/dhclient", "/var/lib/dhcpcd", "/var/lib/dhcp")
DHCP_LEASE_GLOBS = (
    ("/var/db", "dhclient.leases.*"),
    ("/var/lib/NetworkManager", "dhclient-*.lease"),
    ("/run/systemd/netif/leases", "*"),
)
LEFTOVER_FILES = (
    "/root/.bash_history",
    "/etc/random.seed",
    "/var/db/host.random",
    "/etc/isakmpd/local.pub",
    "/etc/isakmpd/private/local.key",
    "/etc/iked/private/local.key",
    "/etc/iked/local.pub",
)
RESOLV_CONF = "/etc/resolv.conf"
RESOLVCONF_FILES = ("/etc/resolvconf/resolv.conf.d/tail", "/etc/resolvconf/resolv.conf.d/original")
UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
CLASSIC_SERVICES = ("waagent", "walinuxagent")
CGROUP_DROP_INS = (
    "10-Slice.conf",
    "11-CPUAccounting.conf",
    "12-CPUQuota.conf",
    "13-MemoryAccounting.conf",
)
LOGCOLLECTOR_SLICE = "azure-walinuxagent-logcollector.slice"
FIREWALL_SCRIPT = "waagent-network-setup.py"
# §7.3: what a new instance id makes stale in Lib.Dir.
STALE_FILES = (
    "HostingEnvironmentConfig.xml",
    "Incarnation",
    "partition",
    "Protocol",
    "SharedConfig.xml",
    "WireServerEndpoint",
    "published_hostname",
    "fast_track.json",
    "initial_goal_state",
    "waagent_rsm_update",
    "waagent_initial_update",
)
STALE_GLOBS = ("Extensions.*.xml", "ExtensionsConfig.*.xml", "GoalState.*.xml")
HANDLER_STALE_GLOBS = ("status/*.status", "config/*.settings", "config/HandlerStatus", "mrseq")


@dataclass(frozen=True)
class Action:
    name: str
    run: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Plan:
    warnings: tuple[str, ...]
    actions: tuple[Action, ...]
    user: str | None


def _remove(path: Path) -> bool:
    """Delete a file, symlink or whole tree (symlinks are never followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return True


class Deprovisioner:
    def __init__(
        self,
        root: Root,
        config: AgentConfig,
        *,
        users: Users,
        sudoers: Sudoers,
        hostname: Hostname,
        host_keys: HostKeys,
        sshd: SshdConfig,
        units: Units,
        store: StateStore,
    ) -> None:
        self.root = root
        self.config = config
        self.users = users
        self.sudoers = sudoers
        self.hostname = hostname
        self.host_keys = host_keys
        self.sshd = sshd
        self.units = units
        self.store = store

    # ---- the plan ----

    def plan(self, delete_user: bool) -> Plan:
        warnings: list[str] = []
        actions: list[Action] = []

        def add(name: str, run: Callable[[], Awaitable[None]], warning: str | None = None) -> None:
            if warning:
                warnings.append(warning)
            actions.append(Action(name, run))

        add("stop the agent", self._stop_agent, "WARNING! The waagent service will be stopped.")
        if self.config.provisioning_regenerate_ssh_host_key_pair:
            add(
                "delete SSH host keys",
                self._sync(self.host_keys.remove_all),
                "WARNING! All SSH host key pairs will be deleted.",
            )
        add(
            "delete DHCP leases",
            self._sync(self.delete_leases),
            "WARNING! Cached DHCP leases will be deleted.",
        )
        add("reset the hostname", self._reset_hostname)
        if self.config.provisioning_delete_root_password:
            add(
                "lock the root password",
                self._sync(self.users.lock_root_password),
                "WARNING! root password will be disabled. You will not be able to login as root.",
            )
        add("delete the agent's state", self._sync(self._empty_state_dirs))
        add("delete history and logs", self._sync(self._delete_leftovers))
        warning, run = self._resolv_conf()
        add("resolv.conf", run, warning)
        user = None
        if delete_user:
            user, user_warnings = self._user_to_delete()
            warnings += user_warnings
            if user is not None:
                add(f"delete the user {user}", functools.partial(self._delete_user, user))
        add("delete the firewall setup", self._sync(self.delete_firewall_setup))
        add("delete cgroup settings", self._sync(self.delete_cgroup_drop_ins))
        add("delete the old sshd drop-in", self._sync(self.sshd.remove_old_drop_in))
        # This VM's PROVISIONING_REPORT (and other guest KVP records) must not ship in the image.
        add("empty the guest KVP pool", self._sync(KvpPool(self.root, GUEST).clear))
        return Plan(tuple(warnings), tuple(actions), user)

    @staticmethod
    def _sync(fn: Callable[[], object]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            fn()

        return run

    def _user_to_delete(self) -> tuple[str | None, list[str]]:
        name = self.provisioned_user()
        if name is None:
            return None, ["WARNING! ovf-env.xml is not found.", "WARNING! Skip delete user."]
        try:
            validate_name(name)
        except UserError as exc:
            return None, [f"WARNING! {exc.message}.", "WARNING! Skip delete user."]
        account = self.users.lookup(name)
        if account is not None and account.uid < self.users.uid_min():
            return None, [f"WARNING! {name} is a system account and will not be deleted."]
        return name, [f"WARNING! {name} account and entire home directory will be deleted."]

    def provisioned_user(self) -> str | None:
        saved = self.store.saved_ovf()
        if saved is not None:
            try:
                return ovf.parse(saved).username
            except WaagentError as exc:
                log.warning("the saved ovf-env.xml is unusable: %s", exc.message)
        return self.store.load().status.user or None

    # ---- running it ----

    async def run(self, plan: Plan) -> None:
        failures = []
        for action in plan.actions:
            try:
                await action.run()
            except WaagentError as exc:
                failures.append(f"{action.name}: {exc.message}")
            except OSError as exc:
                failures.append(f"{action.name}: {from_os_error(exc).message}")
            else:
                log.info("deprovision: %s: done", action.name)
        self.store.note_boot("deprovisioned")
        if failures:
            for failure in failures:
                log.error("deprovision: %s", failure)
            raise Failed("deprovisioning finished with errors: " + "; ".join(failures))

    # ---- actions ----

    async def _stop_agent(self) -> None:
        for unit in AGENT_UNITS:
            if not await self.units.queue_stop(unit):
                log.info("not stopping %s: systemd is not on the bus", unit)
                return

    async def _reset_hostname(self) -> None:
        await self.hostname.set(DEPROVISIONED_NAME)
        self.hostname.configure_dhcp(DEPROVISIONED_NAME)

    def _empty(self, inner: str) -> None:
        directory = self.root.resolve(inner)
        if not directory.is_dir():
            return
        for entry in directory.iterdir():
            _remove(entry)

    def delete_leases(self) -> None:
        for directory in DHCP_LEASE_DIRS:
            self._empty(directory)
        for directory, pattern in DHCP_LEASE_GLOBS:
            for path in self.root.glob(directory, pattern):
                _remove(path)

    def _empty_state_dirs(self) -> None:
        for directory in (self.config.lib_dir, self.config.extension_log_dir, str(WIRE_STATE_DIR)):
            self._empty(directory)

    def _delete_leftovers(self) -> None:
        for inner in (*LEFTOVER_FILES, self.config.logs_file):
            _remove(self.root.resolve_parent(inner))

    def _resolv_conf(self) -> tuple[str, Callable[[], Awaitable[None]]]:
        """What happens to resolv.conf depends on who manages it, not on the distribution."""
        link = self.root.resolve_parent(RESOLV_CONF)
        target = self.root.inner(self.root.resolve(RESOLV_CONF)) if link.is_symlink() else None
        if target is not None and str(target).startswith("/run/systemd/resolve/"):

            async def keep() -> None:
                log.info("%s is managed by systemd-resolved; kept", RESOLV_CONF)

            return f"WARNING! {RESOLV_CONF} will NOT be removed: systemd-resolved manages it.", keep
        files: tuple[str, ...]
        if target == PurePosixPath("/run/resolvconf/resolv.conf"):
            files = RESOLVCONF_FILES
            warning = f"WARNING! {' and '.join(files)} will be deleted."
        else:
            files = (RESOLV_CONF,)
            warning = f"WARNING! {RESOLV_CONF} will be deleted."

        async def delete() -> None:
            for inner in files:
                _remove(self.root.resolve_parent(inner))

        return warning, delete

    async def _delete_user(self, name: str) -> None:
        if self.users.lookup(name) is not None:
            await self.users.delete(name)
        else:
            log.info("user %s does not exist (any more)", name)
        self.sudoers.revoke(name)

    def delete_firewall_setup(self) -> None:
        for unit_dir in UNIT_DIRS:
            for service in CLASSIC_SERVICES:
                _remove(self.root.resolve_parent(f"{unit_dir}/{service}-network-setup.service"))
        _remove(self.root.resolve_parent(f"{self.config.lib_dir}/{FIREWALL_SCRIPT}"))

    def delete_cgroup_drop_ins(self) -> None:
        for unit_dir in UNIT_DIRS:
            for service in CLASSIC_SERVICES:
                for drop_in in CGROUP_DROP_INS:
                    _remove(self.root.resolve_parent(f"{unit_dir}/{service}.service.d/{drop_in}"))
            _remove(self.root.resolve_parent(f"{unit_dir}/{LOGCOLLECTOR_SLICE}"))

    # ---- §7.3 ----

    def unique_id_changed(self) -> None:
        """The image was captured without deprovisioning: forget what belonged to the old VM."""
        log.warning("the instance id changed: cleaning the previous VM's state")
        self.delete_leases()
        lib = self.config.lib_dir
        for name in STALE_FILES:
            _remove(self.root.resolve_parent(f"{lib}/{name}"))
        for pattern in STALE_GLOBS:
            for path in self.root.glob(lib, pattern):
                _remove(path)
        for handler in self.root.glob(lib, "*-*"):
            if (
                not handler.is_dir()
                or handler.is_symlink()
                or handler.name.startswith("WALinuxAgent-")
            ):
                continue
            for pattern in HANDLER_STALE_GLOBS:
                for path in sorted(handler.glob(pattern)):
                    _remove(path)
        self.delete_firewall_setup()
        self.delete_cgroup_drop_ins()
