"""`make demo`: a 10,000-message campaign through three local SMTP servers weighted 1:2:7, watched to the end.

Everything goes through the public HTTP APIs, as a platform team would drive them: the operator
creates a tenant on a plan that grants no pool server, the tenant adds, tests and enables three
servers of its own, uploads a list, and launches a campaign whose policy weights them 1:2:7.
The SMTP servers count what they receive, so the table at the end is checked from both ends.
The web console runs beside the services: the demo prints its address and the tenant's token, and
`--stay` keeps everything running afterwards, until Ctrl-C, to look around in it.
"""

import time

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from shared.contracts import FINAL_STATUSES, MessageStatus
from tools.stack.api import Campaign
from tools.stack.campaigns import CampaignPlan, ProvisionedCampaign, launch_and_wait, provision_campaign
from tools.stack.errors import RunFailed
from tools.stack.run import WITH_CONSOLE, configure_logging, logs_dir, new_run_name, running_stack
from tools.stack.sinks import CountingSmtpSinks

WEIGHTS = (1.0, 2.0, 7.0)
BODY_BYTES = 2_000

console = Console()
app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def demo(
    recipients: int = typer.Option(10_000, min=1, help="Recipients in the campaign's list."),
    timeout: float = typer.Option(600.0, min=1, help="Seconds to wait for the campaign to complete."),
    keep_database: bool = typer.Option(
        False, help="Keep the run's PostgreSQL database to look at afterwards."
    ),
    stay: bool = typer.Option(
        False, help="Keep the services and the console running afterwards, until Ctrl-C."
    ),
) -> None:
    """Run the demo; exits 0 only if every message reached a final state and the SMTP servers agree."""
    configure_logging(RichHandler(console=console, show_path=False))
    run_name = new_run_name("demo")
    try:
        with (
            CountingSmtpSinks(len(WEIGHTS)) as sinks,
            running_stack(run_name, keep_database=keep_database, waves=WITH_CONSOLE) as stack,
        ):
            plan = CampaignPlan(recipients, WEIGHTS, BODY_BYTES)
            provisioned = provision_campaign(stack.operator_api(), sinks.ports, plan, report=announce)
            announce(
                f"the console: {stack.console_url}/campaigns/{provisioned.campaign_id} "
                f"(sign in with the tenant's token {provisioned.api.token}, or the operator's {stack.operator_token})"
            )
            campaign, received = launch_and_watch(provisioned, sinks, recipients, timeout)
            problems = report_outcome(provisioned, campaign, received, recipients)
            if stay:
                console.print(
                    f"[bold]still running[/]: the console is at {stack.console_url}; Ctrl-C stops everything"
                )
                while True:
                    time.sleep(3600)
    except RunFailed as error:
        console.print(f"[red]demo failed:[/] {error}\nservice logs: {logs_dir(run_name)}")
        raise typer.Exit(1) from error
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]" if not stay else "stopped")
        raise typer.Exit(130 if not stay else 0) from None
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]✓[/] all {campaign.total} messages reached a final state")


def report_outcome(
    provisioned: ProvisionedCampaign, campaign: Campaign, received: list[int], recipients: int
) -> list[str]:
    """The tables, and what is wrong with the outcome (printed too); empty when the demo succeeded."""
    console.print(servers_table(provisioned, campaign, received))
    console.print(states_table(campaign))
    problems = verify(campaign, recipients, sum(received))
    for problem in problems:
        console.print(f"[red]✗[/] {problem}")
    return problems


def announce(step: str) -> None:
    console.print(f"[green]✓[/] {step}")


def launch_and_watch(
    provisioned: ProvisionedCampaign, sinks: CountingSmtpSinks, recipients: int, timeout: float
) -> tuple[Campaign, list[int]]:
    """The campaign once completed, and what each sink received meanwhile; with a progress bar."""
    columns = (
        TextColumn("[bold]final messages"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[states]}"),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=recipients, states="launching")

        def show(campaign: Campaign) -> None:
            states = " · ".join(f"{name} {n}" for name, n in sorted(campaign.counts.items()))
            progress.update(task, total=campaign.total or recipients, completed=campaign.final, states=states)

        delivered = launch_and_wait(provisioned, sinks, timeout_seconds=timeout, on_progress=show)
        return delivered.campaign, delivered.received


def servers_table(provisioned: ProvisionedCampaign, campaign: Campaign, received: list[int]) -> Table:
    table = Table(
        title="Messages per server",
        caption="received: counted by the server's SMTP sink · routed: the campaign's per-server count",
    )
    table.add_column("server")
    for column in ("received", "routed", "share", "expected"):
        table.add_column(column, justify="right")
    routed_total = sum(campaign.per_server.values()) or 1
    for server, weight, count in zip(provisioned.servers, WEIGHTS, received, strict=True):
        routed = campaign.per_server.get(str(server.id), 0)
        table.add_row(
            server.name,
            f"{count:,}",
            f"{routed:,}",
            f"{routed / routed_total:.1%}",
            f"{weight / sum(WEIGHTS):.0%}",
        )
    table.add_section()
    table.add_row("total", f"{sum(received):,}", f"{sum(campaign.per_server.values()):,}", "", "")
    return table


def states_table(campaign: Campaign) -> Table:
    table = Table(title="Messages per final state")
    table.add_column("state")
    table.add_column("messages", justify="right")
    for status in sorted(FINAL_STATUSES, key=list(MessageStatus).index):
        table.add_row(status.value, f"{campaign.counts.get(status.value, 0):,}")
    table.add_section()
    table.add_row("total", f"{campaign.final:,} of {campaign.total:,}")
    return table


def verify(campaign: Campaign, recipients: int, received: int) -> list[str]:
    """What is wrong with the outcome, as sentences; empty when the demo succeeded."""
    problems = []
    if campaign.total != recipients:
        problems.append(f"the campaign has {campaign.total} messages for {recipients} recipients")
    if campaign.final != campaign.total:
        problems.append(f"only {campaign.final} of {campaign.total} messages reached a final state")
    sent = campaign.counts.get("sent", 0)
    if received != sent:
        problems.append(f"the SMTP servers received {received} messages but the campaign counts {sent} sent")
    return problems


if __name__ == "__main__":
    app()
