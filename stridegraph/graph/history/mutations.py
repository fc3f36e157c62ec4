"""``requestDataExport`` and ``updateSecurityNotifications``."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from stridegraph.domain import export as export_domain
from stridegraph.domain import security_alerts
from stridegraph.domain.scopes import PROFILE_WRITE
from stridegraph.graph.errors import run_mutation
from stridegraph.graph.history.types import (
    DataExport,
    RequestDataExportPayload,
    SecurityNotification,
    SecurityNotificationSettings,
    UpdateSecurityNotificationsPayload,
)
from stridegraph.graph.permissions import requires


@strawberry.type
class HistoryMutations:
    @strawberry.mutation(
        description="Start an export of your data: a ZIP archive is made in the background "
        "and you are mailed a link; myDataExports shows it. One at a time, a few a day "
        "(else TOO_MANY_ATTEMPTS); downloadable for 7 days with your credentials.",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def request_data_export(self, info: Info) -> RequestDataExportPayload:
        services = info.context.services
        return await run_mutation(
            info,
            export_domain.request_data_export,
            lambda row: RequestDataExportPayload(
                data_export=DataExport.from_row(row, services.settings.public_url, services.now())
            ),
            RequestDataExportPayload,
        )

    @strawberry.mutation(
        description="Choose which optional security mails you get: the kinds in turnedOff "
        "are not sent (password and MFA changes are always sent).",
        extensions=[requires(scope=PROFILE_WRITE)],
    )
    async def update_security_notifications(
        self,
        info: Info,
        turned_off: Annotated[
            list[SecurityNotification],  # type: ignore[valid-type]
            strawberry.argument(
                description="The optional kinds you do not want; the others are sent."
            ),
        ],
    ) -> UpdateSecurityNotificationsPayload:
        return await run_mutation(
            info,
            security_alerts.set_opt_outs,
            lambda off: UpdateSecurityNotificationsPayload(
                settings=SecurityNotificationSettings(
                    turned_off=off, optional=list(security_alerts.OPTIONAL)
                )
            ),
            UpdateSecurityNotificationsPayload,
            off=turned_off,
        )
