"""The last good goal state: refreshed from the fabric, committed whole, cached and kept in history.

`refresh` polls with one cheap request; the documents are fetched only when the incarnation
changed. The goal-state bytes count as seen only once everything they name has been fetched, so a
failure half-way is tried again on the next poll. A document that is gone (410: the goal state
moved on meanwhile) makes it start over once with a fresh goal state.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from ..common.models.extensions import ExtensionsGoalState, redact_settings_text
from ..common.models.goal_state import Certificate, GoalStateSummary
from ..common.models.handover import Handover
from ..common.root import Root
from . import certstore
from .contact import Contact
from .errors import ResourceGone
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
    ) -> None:
        self.fetcher = fetcher
        self.files = files
        self.root = root
        self.contact = contact
        self.committed = committed  # (the new goal state, whether its extensions id is new)
        self.history = History(root, files.path("history"))
        self.summary: GoalStateSummary | None = None
        self.extensions: ExtensionsGoalState | None = None
        self.certificates: tuple[Certificate, ...] = ()
        self._newest: Response | None = None  # its container id goes in HostGAPlugin headers
        self._seen: Response | None = None  # everything it names was fetched
        self._lock = asyncio.Lock()

    def load(self) -> None:
        """The goal state an earlier wire fetched, so a restarted wire answers at once."""
        cache = self.files.load_cache()
        if cache is None:
            return
        self.summary, self.extensions = cache.summary, cache.extensions
        self.certificates = tuple(
            certstore.load_stored(self.root, self.files.directory, cache.summary.certificates)
        )
        self.contact.set(
            incarnation=cache.summary.incarnation,
            container_id=cache.summary.container_id,
            role_instance_id=cache.summary.role_instance_id,
        )

    def container_identity(self) -> ContainerIdentity:
        """HostGAPlugin headers follow the newest container id, even before it is committed."""
        doc = self._newest.doc if self._newest else None
        summary = self.summary
        container = doc.container_id if doc else (summary.container_id if summary else "")
        config_name = doc.role_config_name if doc else (summary.role_config_name if summary else "")
        return ContainerIdentity(container, config_name, config_name.split(".", 1)[0])

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the goal state; the documents only when the incarnation changed. True if new."""
        async with self._lock:
            await self.fetcher.check_protocol()
            for attempt in (1, 2):
                response = await self.fetcher.response(self._seen)
                if response is self._seen and not force:
                    return False  # the cheap path: unchanged bytes, nothing parsed
                doc = response.doc
                previous, self._newest = self.summary, response
                self.contact.set(
                    container_id=doc.container_id, role_instance_id=doc.role_instance_id
                )
                if previous is not None and previous.incarnation == doc.incarnation and not force:
                    if previous.container_id != doc.container_id:
                        self._commit(previous.model_copy(update={"container_id": doc.container_id}))
                    self._seen = response
                    return False
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
                self._accept(goal_state)
                self._seen = response
                return True
            raise AssertionError("unreachable")

    def _accept(self, goal_state: GoalState) -> None:
        """All documents are here: now, and only now, replace what we had."""
        old_extensions_id = self.extensions.id if self.extensions else ""
        if goal_state.shared_xml:
            self.files.write("SharedConfig.xml", goal_state.shared_xml, mode=0o644)
        self.certificates = goal_state.certificates
        self.extensions = goal_state.extensions
        summary = goal_state.summary(self.contact.observable.endpoint)
        self._commit(summary)
        self._save_history(goal_state, summary)
        log.info(
            "goal state: incarnation %s, container %s, %d extension handler(s), %d certificate(s)",
            summary.incarnation,
            summary.container_id,
            len(goal_state.extensions.plugins),
            len(goal_state.certificates),
        )
        self.committed(goal_state, goal_state.extensions.id != old_extensions_id)

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

    def _save_history(self, goal_state: GoalState, summary: GoalStateSummary) -> None:
        try:
            self.history.begin(summary.incarnation)
        except OSError as exc:
            log.warning("cannot write the goal state history: %s", exc.strerror or exc)
            return
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
