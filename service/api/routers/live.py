"""Live analytics from the marts (never the raw JSON), cached until the next refresh.

`/daily-report` answers the whole report; the KPI and breakdown endpoints are the ones the
catalogue declares (`endpoint:` in the mart YAML), so a KPI added there gets its endpoint too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.exceptions import ResponseValidationError
from pydantic import TypeAdapter, ValidationError

from reports_store import Organization
from service.api.deps import OrgDep, PrincipalDep, Reader, ServiceState, State, WindowDep
from service.api.schemas import BreakdownItem, Report, kpi_response_model
from service.core.calendar import DateWindow
from service.reports.catalog import Breakdown, Catalog, Kpi
from service.reports.response_cache import Rendered, render_json

REFRESHED_HEADER = "X-Data-Refreshed-At"
TAGS: list[str] = ["live analytics"]
_REPORT: TypeAdapter[Any] = TypeAdapter(Report)


def rendered_report(state: ServiceState, org: Organization, window: DateWindow, report: object) -> Rendered:
    """The body /daily-report sends for the live cache's `report`: rendered once, by this route or
    the fast path (service.api.fast_path), whichever answers it first. Raises ValidationError."""
    return state.live_bodies.get_or_render(org, window, report, lambda: render_json(_REPORT, report))


def refreshed_stamp(refreshed: datetime | None) -> str:
    """The X-Data-Refreshed-At value: when the marts behind the answer were last refreshed."""
    return refreshed.isoformat() if refreshed else "never"


def live_report(
    state: State, principal: PrincipalDep, org: OrgDep, window: WindowDep, response: Response
) -> dict[str, Any]:
    live = state.services.live
    cached = live.cached(org, window)  # cached answers are never limited
    if cached is None:
        with state.live_limiter.slot(principal.actor_id):
            cached = live.report(org, window)
    report, refreshed = cached
    response.headers[REFRESHED_HEADER] = refreshed_stamp(refreshed)
    return report


def daily_report(
    state: State, principal: PrincipalDep, org: OrgDep, window: WindowDep, response: Response
) -> Response:
    """The live report of a local date or range."""
    report = live_report(state, principal, org, window, response)
    try:
        body = rendered_report(state, org, window, report).body
    except ValidationError as exc:
        raise ResponseValidationError(errors=exc.errors(include_url=False), body=report) from exc
    rendered = Response(content=body, media_type="application/json")
    rendered.headers[REFRESHED_HEADER] = response.headers[REFRESHED_HEADER]
    return rendered


def _breakdown_handler(breakdown: Breakdown):
    def handler(
        state: State, principal: PrincipalDep, org: OrgDep, window: WindowDep, response: Response
    ) -> list[dict[str, Any]]:
        return live_report(state, principal, org, window, response)["breakdowns"].get(breakdown.key, [])

    return handler


def _kpi_handler(kpis: tuple[Kpi, ...]):
    single = kpis[0] if len(kpis) == 1 and kpis[0].object_keys is not None else None

    def handler(
        state: State, principal: PrincipalDep, org: OrgDep, window: WindowDep, response: Response
    ) -> dict[str, Any]:
        values = live_report(state, principal, org, window, response)["kpis"]
        return values[single.key] if single else {kpi.key: values[kpi.key] for kpi in kpis}

    return handler


def _operation(path: str) -> str:
    return path.strip("/").replace("-", "_")


def build_router(catalog: Catalog) -> APIRouter:
    """The live endpoints of this catalogue (handlers are sync: FastAPI runs them in its thread pool)."""
    router = APIRouter(tags=TAGS, dependencies=[Reader])
    router.add_api_route(
        "/daily-report",
        daily_report,
        methods=["GET"],
        response_model=Report,
        summary="Live report for a local date or range",
    )
    for breakdown in catalog.breakdowns:
        if breakdown.endpoint:
            router.add_api_route(
                breakdown.endpoint,
                _breakdown_handler(breakdown),
                methods=["GET"],
                name=_operation(breakdown.endpoint),
                response_model=list[BreakdownItem],
                summary=f"Classified calls by {breakdown.label.lower() or breakdown.key}",
            )
    for path, kpis in catalog.endpoint_kpis().items():
        name = _operation(path)
        router.add_api_route(
            path,
            _kpi_handler(kpis),
            methods=["GET"],
            name=name,
            response_model=kpi_response_model("".join(part.title() for part in name.split("_")), kpis),
            summary=", ".join(kpi.label for kpi in kpis),
        )
    return router
