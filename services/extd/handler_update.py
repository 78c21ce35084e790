"""The classic update sequence (reference §9.8): from the installed version `old` to `new`."""

from __future__ import annotations

import json
import logging

from .errors import Code, ExtensionError
from .handler_manifest import HandlerManifest, load_handler_manifest
from .handler_steps import HandlerSteps, exit_code_text
from .layout import HandlerLayout
from .operations import NOT_RUN, Unit, latest_seq
from .package import remove_tree
from .plan import ExtensionSettings, HandlerPlan
from .versions import Version

log = logging.getLogger(__name__)


async def update_handler(
    steps: HandlerSteps,
    old: HandlerLayout,
    new: HandlerLayout,
    manifest: HandlerManifest,
    handler: HandlerPlan,
    extension: ExtensionSettings | None,
) -> str:
    """Move from `old` to `new`; returns the old uninstall exit code (for install, enable).

    A failing disable or uninstall of the old version stops the update (1008) unless the
    new manifest says continueOnUpdateFailure; a failing update command always does, and
    leaves the new version FailedUpgrade (the old one stays, so the next goal state retries).
    """
    old_manifest = load_handler_manifest(old.dir)
    keep_going = manifest.continue_on_update_failure
    disable_codes: dict[str | None, str] = {}
    if old.read_state() == "Enabled":
        try:
            disable_codes = await steps.disable_all(
                old, old_manifest, handler.multi_config, tolerate=keep_going
            )
        except ExtensionError as exc:
            raise _update_error(f"disabling {old.version}", exc) from None
    new.take_over_from(old)
    env = {
        "VERSION": new.version,
        "AZURE_GUEST_AGENT_UPDATING_FROM_VERSION": old.version,
        **_disable_codes_env(disable_codes, handler.multi_config),
    }
    # The newer version's update command runs; on a downgrade that is the old one's.
    upgrade = _newer(new.version, old.version)
    runner, runner_manifest = (new, manifest) if upgrade else (old, old_manifest)
    try:
        await steps.operations.run(
            runner, runner_manifest, "update", steps.unit(handler, extension), env
        )
    except ExtensionError:
        new.write_state("FailedUpgrade")
        raise
    uninstall_code = "0"
    try:
        await steps.operations.run(old, old_manifest, "uninstall", Unit(latest_seq(old)))
    except ExtensionError as exc:
        if not keep_going:
            raise _update_error(f"uninstalling {old.version}", exc) from None
        uninstall_code = exit_code_text(exc)
    remove_tree(old.dir)
    if manifest.update_with_install:
        unit = steps.unit(handler, extension)
        await steps.install(new, manifest, handler.name, unit, uninstall_code)
    else:
        new.write_state("Installed")
    log.info("%s: updated from %s to %s", handler.name, old.version, new.version)
    return uninstall_code


def _newer(a: str, b: str) -> bool:
    first, second = Version.parse(a), Version.parse(b)
    return first is not None and second is not None and first > second


def _update_error(step: str, error: ExtensionError) -> ExtensionError:
    return ExtensionError(
        Code.UPDATE_FAILED,
        f"update error: {step} failed: {error.text}",
        operation="Update",
        exit_code=error.exit_code,
    )


def _disable_codes_env(codes: dict[str | None, str], multi_config: bool) -> dict[str, str]:
    if multi_config:
        listing = [{"extensionName": name, "exitCode": code} for name, code in codes.items()]
        return {"AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS": json.dumps(listing)}
    return {"AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE": codes.get(None, NOT_RUN)}
