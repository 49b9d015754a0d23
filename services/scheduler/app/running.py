"""The running campaigns as a whole, for monitoring: how many, how many of their messages are not
final yet, and how many stalled (pending messages, and no status change for too long).

A background round reads them in one query of the runs, from what the progress ticks recorded
(`app.progress`), never from the messages themselves.
"""

from services.scheduler.app.ports import CampaignGauges, Store


class RunningCampaigns:
    def __init__(self, store: Store, gauges: CampaignGauges, *, stalled_after_seconds: float) -> None:
        self._store = store
        self._gauges = gauges
        self._stalled_after_seconds = stalled_after_seconds

    async def report(self) -> None:
        async with self._store.transaction() as repo:
            figures = await repo.running_figures(stalled_after_seconds=self._stalled_after_seconds)
        self._gauges.running(figures)
