"""Live analytics: read from the marts only (never the raw JSON), cached until the next refresh."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import OrgDep, State, WindowDep
from service.api.schemas import (
    BreakdownItem,
    CarrierTransferShare,
    CountShare,
    Report,
    SuccessfulTransferShare,
    TotalsStats,
)

router = APIRouter(tags=["live analytics"])
REFRESHED_HEADER = "X-Data-Refreshed-At"


async def live_report(state: State, org: OrgDep, window: WindowDep, response: Response) -> dict[str, Any]:
    report, refreshed = await run_in_threadpool(state.live.report, org, window.start, window.end)
    response.headers[REFRESHED_HEADER] = refreshed.isoformat() if refreshed else "never"
    return report


@router.get("/daily-report", response_model=Report, summary="Live report for a local date or range")
async def daily_report(state: State, org: OrgDep, window: WindowDep, response: Response) -> dict[str, Any]:
    return await live_report(state, org, window, response)


def _breakdown_route(path: str, dimension: str) -> None:
    async def endpoint(
        state: State, org: OrgDep, window: WindowDep, response: Response
    ) -> list[dict[str, Any]]:
        report = await live_report(state, org, window, response)
        return report["breakdowns"].get(dimension, [])

    endpoint.__name__ = f"{dimension}_stats"
    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        response_model=list[BreakdownItem],
        summary=f"Classified calls by {dimension}",
    )


def _kpi_route(path: str, kpi: str, model: type, summary: str) -> None:
    async def endpoint(state: State, org: OrgDep, window: WindowDep, response: Response) -> dict[str, Any]:
        report = await live_report(state, org, window, response)
        return report["kpis"][kpi]

    endpoint.__name__ = f"{kpi}_stats"
    router.add_api_route(path, endpoint, methods=["GET"], response_model=model, summary=summary)


for _path, _dimension in [
    ("/call-stage-stats", "call_stage"),
    ("/call-classification-stats", "call_classification"),
    ("/load-status-stats", "load_status"),
    ("/carrier-end-state-stats", "carrier_end_state"),
    ("/pricing-notes-stats", "pricing_notes"),
]:
    _breakdown_route(_path, _dimension)

for _path, _kpi, _model, _summary in [
    (
        "/non-convertible-calls",
        "non_convertible_calls",
        CountShare,
        "Non-convertible calls (carrier not NOT_QUALIFIED)",
    ),
    (
        "/non-convertible-calls-carrier-not-qualified",
        "carrier_not_qualified",
        CountShare,
        "Carrier not qualified",
    ),
    (
        "/non-convertible-calls-with-carrier-not-qualified",
        "non_convertible_calls_with_carrier_not_qualified",
        CountShare,
        "Non-convertible or carrier not qualified",
    ),
    (
        "/carrier-transfer-stats",
        "carrier_transfer_over_total_call_attempts",
        CarrierTransferShare,
        "Carrier asked for a transfer",
    ),
    (
        "/successful-transfer-stats",
        "successfully_transferred_for_booking",
        SuccessfulTransferShare,
        "Successfully transferred for booking",
    ),
]:
    _kpi_route(_path, _kpi, _model, _summary)


@router.get(
    "/total-calls-and-total-duration-stats", response_model=TotalsStats, summary="Call volume and duration"
)
async def totals(state: State, org: OrgDep, window: WindowDep, response: Response) -> dict[str, Any]:
    kpis = (await live_report(state, org, window, response))["kpis"]
    return {key: kpis[key] for key in TotalsStats.model_fields}
