"""``mySecurityEvents``, ``auditEvents``, ``myDataExports``, ``mySecurityNotifications``."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from stridegraph.domain import export as export_domain
from stridegraph.domain import security_alerts
from stridegraph.domain import security_events as events_domain
from stridegraph.domain.scopes import PROFILE_READ, USERS_READ
from stridegraph.graph.arguments import After, First
from stridegraph.graph.errors import run_query
from stridegraph.graph.history.types import (
    AuditEventFilter,
    DataExport,
    SecurityEventConnection,
    SecurityEventFilter,
    SecurityNotificationSettings,
)
from stridegraph.graph.permissions import requires
from stridegraph.graph.users.types import require_user_id


def _audit_filter(wanted: AuditEventFilter | None) -> events_domain.Wanted | None:
    if wanted is None:
        return None
    return events_domain.Wanted(
        types=tuple(wanted.type) if wanted.type else None,
        since=wanted.since,
        until=wanted.until,
        actor_id=require_user_id(wanted.actor, "actor") if wanted.actor is not None else None,
        subject_id=require_user_id(wanted.subject, "subject")
        if wanted.subject is not None
        else None,
    )


@strawberry.type
class HistoryQueries:
    @strawberry.field(
        description="Your security history (sign-ins, credential and settings changes, "
        "administrators' actions on your account), newest first. `first` defaults to 20, "
        "at most 100.",
        extensions=[requires(scope=PROFILE_READ)],
    )
    async def my_security_events(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        filter: Annotated[
            SecurityEventFilter | None,
            strawberry.argument(description="Which events to list; default: all of yours."),
        ] = None,
    ) -> SecurityEventConnection:
        page = await run_query(
            info,
            events_domain.my_security_events,
            filter=filter.to_domain() if filter else None,
            first=first,
            after=after,
        )
        return SecurityEventConnection.from_page(page, after)

    @strawberry.field(
        description="The audit log: every security event, newest first (administrators). "
        "`first` defaults to 20, at most 100.",
        extensions=[requires(scope=USERS_READ, admin=True)],
    )
    async def audit_events(
        self,
        info: Info,
        filter: Annotated[
            AuditEventFilter | None,
            strawberry.argument(description="Which events to list; default: all."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> SecurityEventConnection:
        page = await run_query(
            info,
            events_domain.audit_events,
            filter=_audit_filter(filter),
            first=first,
            after=after,
        )
        return SecurityEventConnection.from_page(page, after)

    @strawberry.field(
        description="Your data exports, newest first.",
        extensions=[requires(scope=PROFILE_READ)],
    )
    async def my_data_exports(self, info: Info) -> list[DataExport]:
        rows = await run_query(info, export_domain.list_exports)
        services = info.context.services
        now = services.now()
        return [DataExport.from_row(row, services.settings.public_url, now) for row in rows]

    @strawberry.field(
        description="Which security mails you get.",
        extensions=[requires(scope=PROFILE_READ)],
    )
    async def my_security_notifications(self, info: Info) -> SecurityNotificationSettings:
        off = await run_query(info, security_alerts.opted_out)
        return SecurityNotificationSettings(turned_off=off, optional=list(security_alerts.OPTIONAL))
