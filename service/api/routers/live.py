"""Live analytics from the marts (never the raw JSON), cached until the next refresh.

`/daily-report` answers the whole report; the KPI and breakdown endpoints are the ones the
catalogue declares (`endpoint:` in the mart YAML), so a KPI added there gets its endpoint too.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from service.api.deps import OrgDep, PrincipalDep, Reader, State, WindowDep
from service.api.schemas import BreakdownItem, Report, kpi_response_model
from service.reports.catalog import Breakdown, Catalog, Kpi

REFRESHED_HEADER = "X-Data-Refreshed-At"
TAGS: list[str] = ["live analytics"]


def live_report(
    state: State, principal: PrincipalDep, org: OrgDep, window: WindowDep, response: Response
) -> dict[str, Any]:
    live = state.services.live
    cached = live.cached(org, window)  # cached answers are never limited
    if cached is None:
        with state.live_limiter.slot(principal.actor_id):
            cached = live.report(org, window)
    report, refreshed = cached
    response.headers[REFRESHED_HEADER] = refreshed.isoformat() if refreshed else "never"
    return report


def daily_report(
    state: State, principal: PrincipalDep, org: OrgDep, window: WindowDep, response: Response
) -> dict[str, Any]:
    """The live report of a local date or range."""
    return live_report(state, principal, org, window, response)


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
