"""The last good goal state: refreshed from the fabric, committed whole, cached and kept in history.

`refresh` polls with one cheap request to the WireServer and, for Fast Track, one to the
HostGAPlugin (`fast_track.py`); the documents are fetched only when the incarnation changed. The
goal-state bytes count as seen only once everything they name has been fetched, so a failure
half-way is tried again on the next poll. A document that is gone (410: the goal state moved on
meanwhile) makes it start over once with a fresh goal state. The extensions goal state extd gets
is ExtensionsConfig or vmSettings, whichever is more recent (§2.9 step 7).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import replace

from ..common.models.extensions import ExtensionsGoalState, redact_settings_text
from ..common.models.goal_state import Certificate, GoalStateSummary
from ..common.models.handover import Handover
from ..common.root import Root
from . import certstore, documents, vm_settings
from .contact import Contact
from .documents import GoalStateDocument
from .errors import FabricError, ResourceGone
from .fast_track import FastTrack, Fetched, InvalidVmSettings
from .goal_state import GoalState, GoalStateFetcher, Response
from .history import History
from .hostplugin import ContainerIdentity
from .state import CACHE_VERSION, GoalStateCache, StateFiles

log = logging.getLogger(__name__)


class GoalStateKeeper:
    def __init__(
        self,
        fetcher: GoalStateFetcher,
        files: StateFiles,
        root: Root,
        contact: Contact,
        *,
        committed: Callable[[GoalState, bool], None] = lambda goal_state, new_extensions: None,
        fetching: Callable[[GoalStateDocument], None] = lambda doc: None,
        fast_track: FastTrack | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.files = files
        self.root = root
        self.contact = contact
        self.committed = committed  # (the new goal state, whether its extensions id is new)
        self.fetching = fetching  # a new incarnation's documents are about to be fetched
        self.fast_track = fast_track  # None: no vmSettings, no fast_track.json (unit tests)
        self.history = History(root, files.path("history"))
        self.summary: GoalStateSummary | None = None
        self.extensions: ExtensionsGoalState | None = None
        self.certificates: tuple[Certificate, ...] = ()
        self._newest: Response | None = None  # its container id goes in HostGAPlugin headers
        self._seen: Response | None = None  # everything it names was fetched
        self._lock = asyncio.Lock()
        self._vm_settings_problem = ""
        # A new Fast Track goal state still lacking a certificate after the documents were
        # fetched again: not handed to extd until one more fetch, at the next poll (§2.9).
        self.held: str | None = None

    @property
    def seen_raw(self) -> bytes | None:
        """GoalState.xml as last fetched whole: the resident poller wakes wire when it changes."""
        return self._seen.raw if self._seen is not None else None

    def load(self) -> None:
        """The goal state an earlier wire fetched, so a restarted wire answers at once."""
        cache = self.files.load_cache()
        if cache is None:
            return
        self.summary, self.extensions = cache.summary, cache.extensions
        if self.fast_track is not None:
            self.fast_track.resume(cache.extensions)
        self.certificates = tuple(
            certstore.load_stored(self.root, self.files.directory, cache.summary.certificates)
        )
        self.contact.set(
            incarnation=cache.summary.incarnation,
            container_id=cache.summary.container_id,
            role_instance_id=cache.summary.role_instance_id,
            extensions_channel=cache.extensions.channel,
        )

    async def identity(self) -> tuple[str, str, str]:
        """The incarnation, container id and role instance id a report names: the newest
        GoalState.xml's, or the committed goal state's after a restart. Only GoalState.xml is
        fetched when wire has neither, and nothing waits for a refresh fetching the documents
        (certificates are not on the way to a Ready report)."""
        known = self._newest.doc if self._newest is not None else self.summary
        if known is None:
            await self.fetcher.check_protocol()
            known = (await self._response()).doc
        return known.incarnation, known.container_id, known.role_instance_id

    def container_identity(self) -> ContainerIdentity:
        """HostGAPlugin headers follow the newest container id, even before it is committed."""
        doc = self._newest.doc if self._newest else None
        summary = self.summary
        container = doc.container_id if doc else (summary.container_id if summary else "")
        config_name = doc.role_config_name if doc else (summary.role_config_name if summary else "")
        return ContainerIdentity(container, config_name, config_name.split(".", 1)[0])

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the goal state, the documents only for a new incarnation, and vmSettings (one
        cheap request each while nothing changes). True if something new was committed."""
        async with self._lock:
            await self.fetcher.check_protocol()
            fetched: Fetched | None = None
            for attempt in (1, 2):
                response = await self._response()
                if fetched is None:  # once: a start-over keeps what it brought
                    fetched = await self._vm_settings(response, force)
                response = self._newest or response  # a 410 may have brought a newer one
                doc, previous = response.doc, self.summary
                same = previous is not None and previous.incarnation == doc.incarnation
                again = self.held is not None or (
                    fetched.new and self._lacks_certificates(fetched.goal_state)
                )
                if same and not (force or fetched.support_stopped or again):
                    self._saw(response)
                    return self._take_vm_settings(fetched) if fetched.new else False
                if previous is not None and not same and attempt == 1:
                    self.fetching(doc)
                try:
                    goal_state = await self.fetcher.goal_state(response, self.certificates)
                except ResourceGone:
                    if attempt == 2:
                        raise
                    log.info(
                        "a document of incarnation %s is gone; fetching the goal state again",
                        doc.incarnation,
                    )
                    continue
                self._accept(goal_state, fetched)
                self._seen = response
                return True
            raise AssertionError("unreachable")

    def _saw(self, response: Response) -> None:
        """The same incarnation again: only a new container id is committed."""
        previous = self.summary
        if response is self._seen or previous is None:
            return
        if previous.container_id != response.doc.container_id:
            self._commit(previous.model_copy(update={"container_id": response.doc.container_id}))
        self._seen = response

    async def _response(self) -> Response:
        """GoalState.xml; a new one gives the HostGAPlugin headers their container at once."""
        response = await self.fetcher.response(self._newest or self._seen)
        if response is not self._newest:
            self._newest = response
            doc = response.doc
            self.contact.set(container_id=doc.container_id, role_instance_id=doc.role_instance_id)
        return response

    async def _vm_settings(self, response: Response, force: bool) -> Fetched:
        """§2.9 step 2. A document that breaks the rules or an error keeps what we had."""
        if self.fast_track is None:
            return Fetched()
        problem = ""
        try:
            fetched = await self.fast_track.fetch(
                response.doc.incarnation, self._response, force=force
            )
        except InvalidVmSettings as exc:
            problem = f"vmSettings {exc.etag} are invalid, keeping the previous ones: {exc}"
            if exc.raw:  # once per ETag
                self._begin_history(response.doc.incarnation, exc.etag)
                self.history.save("VmSettings.json", vm_settings.redacted(exc.raw))
            fetched = Fetched(goal_state=self.fast_track.latest)
        except FabricError as exc:
            problem, fetched = str(exc), Fetched(goal_state=self.fast_track.latest)
        if problem and problem != self._vm_settings_problem:  # once, not at every poll
            log.warning("%s", problem)
        self._vm_settings_problem = problem
        return fetched

    def _missing_certificates(self, goal_state: ExtensionsGoalState) -> list[str]:
        """The thumbprints its protected settings name that this VM has no certificate for."""
        have = {c.thumbprint.upper() for c in self.certificates}
        wanted = {
            s.thumbprint.upper()
            for p in goal_state.plugin_settings
            for s in (*p.runtime_settings, *p.extension_runtime_settings)
            if s.protected_settings and s.thumbprint
        }
        return sorted(wanted - have)

    def _lacks_certificates(self, goal_state: ExtensionsGoalState | None) -> bool:
        """§2.9 step 9 and the main loop's wrapper: a new Fast Track goal state may name a
        certificate published after our last download (the WireServer lags behind): then the
        documents are fetched again at once, and if it is still missing once more at the next
        poll (`_hold`); what is missing after that, extd reports."""
        if goal_state is None:
            return False
        missing = self._missing_certificates(goal_state)
        if missing:
            log.info(
                "%s names certificate(s) %s this VM lacks: fetching the goal state again",
                goal_state.id,
                ", ".join(missing),
            )
        return bool(missing)

    def _acceptable(self, candidate: ExtensionsGoalState) -> bool:
        """§2.9 step 7: only a goal state at least as recent as the current one replaces it; an
        ExtensionsConfig older than the last Fast Track goal state is outdated (not executed)."""
        floor = self.extensions.created_on_ticks if self.extensions else 0
        if candidate.channel == "WireServer" and self.fast_track is not None:
            floor = max(floor, self.fast_track.timestamp_ticks() or 0)
        if candidate.created_on_ticks >= floor:
            return True
        log.info(
            "extensions goal state %s is older than the current one (%s): not executed",
            candidate.id,
            self.extensions.id if self.extensions else "the last Fast Track goal state",
        )
        return False

    def _take_vm_settings(self, fetched: Fetched) -> bool:
        """A new Fast Track goal state while the incarnation stays."""
        assert fetched.goal_state is not None and self.summary is not None and self._seen
        summary = self.summary
        self._begin_history(summary.incarnation, fetched.etag)
        self.history.save("VmSettings.json", vm_settings.redacted(fetched.raw))
        chosen = fetched.goal_state.model_copy(update={"incarnation": summary.incarnation})
        if not self._acceptable(chosen):
            return False
        old_id = self.extensions.id if self.extensions else ""
        self.extensions = chosen
        self._commit(summary.model_copy(update={"extensions_goal_state_id": chosen.id}))
        log.info("Fast Track goal state %s (inSvdSeqNo %s)", chosen.id, chosen.svd_seq_no)
        hosting = documents.HostingEnvironment(
            summary.instance_name, summary.role_name, summary.deployment_name
        )
        self.committed(
            GoalState(self._seen, chosen, hosting, self.certificates), chosen.id != old_id
        )
        return True

    def _accept(self, goal_state: GoalState, fetched: Fetched) -> None:
        """All documents are here: now, and only now, replace what we had. §2.9 step 7: the
        more recent of ExtensionsConfig and the latest vmSettings (a tie: ExtensionsConfig)."""
        old_extensions_id = self.extensions.id if self.extensions else ""
        incarnation = goal_state.response.doc.incarnation
        chosen = goal_state.extensions
        vm = fetched.goal_state
        if vm is not None and vm.created_on_ticks > chosen.created_on_ticks:
            chosen = vm.model_copy(update={"incarnation": incarnation})
        if goal_state.shared_xml:
            self.files.write("SharedConfig.xml", goal_state.shared_xml, mode=0o644)
        self.certificates = goal_state.certificates
        if self.extensions is None or self._acceptable(chosen):
            self.extensions = chosen
        new_extensions = self._hold(old_extensions_id)
        goal_state = replace(goal_state, extensions=self.extensions)
        summary = goal_state.summary(self.contact.observable.endpoint)
        self._commit(summary)
        self._save_history(goal_state, summary, fetched)
        log.info(
            "goal state: incarnation %s, container %s, %s with %d handler(s), %d certificate(s)",
            summary.incarnation,
            summary.container_id,
            goal_state.extensions.id,
            len(goal_state.extensions.plugins),
            len(goal_state.certificates),
        )
        self.committed(goal_state, new_extensions)

    def _hold(self, old_extensions_id: str) -> bool:
        """Whether extd is to get the current extensions goal state now. A new Fast Track one
        still lacking a certificate is held for one poll; the next fetch releases it, with the
        certificate or without (then extd reports the extension's error)."""
        assert self.extensions is not None
        current, released = self.extensions, self.held
        self.held = None
        missing = self._missing_certificates(current)
        if released is not None:
            if missing:
                log.warning(
                    "%s: certificate(s) %s still missing; processing it anyway",
                    current.id,
                    ", ".join(missing),
                )
            return current.id != old_extensions_id or released == current.id
        if current.id == old_extensions_id:
            return False
        if missing and current.source == "FastTrack":
            log.info(
                "%s: certificate(s) %s still missing; fetching again in one goal-state period",
                current.id,
                ", ".join(missing),
            )
            self.held = current.id
            return False
        return True

    def _commit(self, summary: GoalStateSummary) -> None:
        self.summary = summary
        assert self.extensions is not None
        self.files.save_cache(
            GoalStateCache(version=CACHE_VERSION, summary=summary, extensions=self.extensions)
        )
        self.contact.set(
            incarnation=summary.incarnation,
            container_id=summary.container_id,
            role_instance_id=summary.role_instance_id,
            extensions_channel=self.extensions.channel,
        )

    def shared_config(self) -> str:
        data = self.files.read("SharedConfig.xml")
        return data.decode("utf-8", errors="replace") if data else ""

    def handover(self) -> Handover | None:
        """What extd needs to process the current extensions goal state (None before the first)."""
        if self.summary is None or self.extensions is None:
            return None
        return Handover(
            extensions=self.extensions,
            endpoint=self.summary.endpoint,
            shared_config=self.shared_config(),
            certificates=self.certificates,
        )

    def _begin_history(self, incarnation: str, etag: str | None = None) -> bool:
        try:
            self.history.begin(incarnation, etag)
        except OSError as exc:
            log.warning("cannot write the goal state history: %s", exc.strerror or exc)
            self.history.current = None  # nothing saved into the previous folder
            return False
        return True

    def _save_history(
        self, goal_state: GoalState, summary: GoalStateSummary, fetched: Fetched
    ) -> None:
        if not self._begin_history(summary.incarnation, fetched.etag if fetched.new else None):
            return
        if fetched.new:
            self.history.save("VmSettings.json", vm_settings.redacted(fetched.raw))
        self.history.save("GoalState.xml", goal_state.response.raw)
        if goal_state.extensions_xml:
            # No protected settings (History.save takes out SAS tokens, §2.10 redaction).
            text = goal_state.extensions_xml.decode("utf-8", errors="replace")
            self.history.save("ExtensionsConfig.xml", redact_settings_text(text))
        if goal_state.hosting_xml:
            self.history.save("HostingEnvironmentConfig.xml", goal_state.hosting_xml)
        if goal_state.shared_xml:
            self.history.save("SharedConfig.xml", goal_state.shared_xml)
        self.history.save(
            "Certificates.json",
            json.dumps(
                [
                    {"thumbprint": c.thumbprint, "hasPrivateKey": c.has_private_key}
                    for c in summary.certificates
                ]
            ),
        )
