"""`python -m service notifications ...`: webhook deliveries (through the running service when one runs)."""

from __future__ import annotations

from typing import Annotated

import typer

notifications_app = typer.Typer(help="Signed webhook deliveries and their attempts.", no_args_is_help=True)


@notifications_app.command("list")
def notifications_list(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Deliveries with every attempt (status code or error, next attempt), newest first, as JSON."""
    from service.cli_common import echo_json, open_operations

    with open_operations() as ops:
        echo_json(ops.notifications(limit, offset))


@notifications_app.command("resend")
def notifications_resend(delivery_id: Annotated[int, typer.Argument(help="The delivery id.", min=1)]) -> None:
    """Send a delivery again with a fresh attempt budget (same event id and body)."""
    from service.cli_common import open_operations

    with open_operations() as ops:
        delivery = ops.resend_notification(delivery_id)
    typer.echo(f"delivery {delivery.id} {delivery.event_type} to {delivery.url}: {delivery.state}")
