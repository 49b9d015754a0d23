"""Supervised background work: a failing round is counted and retried, never abandoned."""

from shared.background import BACKGROUND_FAILURES, until_done


async def test_a_task_run_until_done_is_retried_after_a_failure_and_then_ends(monkeypatch):
    monkeypatch.setattr("shared.background.asyncio.sleep", _no_wait)
    calls = []

    async def round_() -> None:
        calls.append(len(calls))
        if len(calls) < 3:
            raise ConnectionResetError("broker reconnecting")

    before = BACKGROUND_FAILURES.labels(task="unit-until-done")._value.get()
    await until_done("unit-until-done", round_, server_id="s1")

    assert calls == [0, 1, 2]
    assert BACKGROUND_FAILURES.labels(task="unit-until-done")._value.get() - before == 2


async def _no_wait(_seconds: float) -> None:
    return None
