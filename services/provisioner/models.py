"""What the provisioner knows: the provisioning data from either source, and its own status."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, SecretStr

from ..common.models.base import FrozenModel

Source = Literal["ovf", "imds"]


class State(StrEnum):
    NOT_PROVISIONED = "NotProvisioned"
    PROVISIONING = "Provisioning"
    PROVISIONED = "Provisioned"
    FAILED = "Failed"
    # DetectScvmmEnv=y and an SCVMM DVD: its bootstrap was started, waagent stands aside.
    SCVMM = "SCVMM"


class PublicKey(FrozenModel):
    """An authorized key: its value, or the thumbprint of a tenant certificate holding it."""

    path: str
    fingerprint: str = ""
    value: str = ""


class KeyPair(FrozenModel):
    """A private key taken from a tenant certificate (`<Lib.Dir>/<THUMB>.prv`)."""

    path: str
    fingerprint: str


class ProvisioningData(FrozenModel):
    """What the fabric asks for: from ovf-env.xml (reference §6.1), or from IMDS osProfile."""

    source: Source
    hostname: str
    username: str
    password: SecretStr | None = None
    disable_ssh_password_authentication: bool = False
    public_keys: tuple[PublicKey, ...] = ()
    key_pairs: tuple[KeyPair, ...] = ()
    custom_data: str | None = None
    # The raw text: only a value that lower-cases to "false" disables the agent (§6.3 step 10).
    provision_guest_agent: str = "true"

    @property
    def agent_disabled(self) -> bool:
        return self.provision_guest_agent.strip().lower() == "false"


class StepTime(FrozenModel):
    name: str
    seconds: float


class Status(FrozenModel):
    """What the bus shows (State, FailureReason, ProvisionedUser, Source, LastRun, and the JIT
    users: RemoteAccessUsers, RemoteAccessError)."""

    state: State = State.NOT_PROVISIONED
    failure_reason: str = ""
    user: str = ""
    source: str = ""
    # Microseconds since the epoch (UTC) when the last run ended; 0 = never.
    last_run: int = 0
    # JIT user -> the day its account is disabled (YYYY-MM-DD); never a password.
    remote_access_users: dict[str, str] = Field(default_factory=dict)
    # The users that failed when the last RemoteAccess document was applied ("" when none).
    remote_access_error: str = ""


class Record(FrozenModel):
    """The provisioner's own record in Lib.Dir, written atomically as a run progresses.

    It lives next to the `provisioned` marker, so deprovisioning (which empties Lib.Dir) forgets
    it as well.
    """

    status: Status = Field(default_factory=Status)
    # The Ready report got through; a restart after the marker but before it reports again.
    ready_reported: bool = False
    # Custom data ran to its end once; a restarted run does not execute it again.
    custom_data_executed: bool = False
    steps: tuple[StepTime, ...] = ()
