"""app.eager: a coroutine runs at once, and only its waiting part goes to a task."""

from __future__ import annotations

import asyncio

import pytest

from app import eager


def test_a_coroutine_that_never_waits_finishes_inside_start() -> None:
    done: list[str] = []

    async def send() -> None:
        done.append("sent")

    assert eager.start(send()) is None
    assert done == ["sent"]


def test_a_waiting_coroutine_runs_up_to_its_wait_then_finishes_in_a_task() -> None:
    async def scenario() -> None:
        steps: list[str] = []
        gate = asyncio.get_running_loop().create_future()

        async def send() -> str:
            steps.append("before")
            value = await gate
            steps.append(f"after {value}")
            return "result"

        rest = eager.start(send())
        assert rest is not None and steps == ["before"]
        task = asyncio.create_task(eager.finish(rest))
        await asyncio.sleep(0)
        assert not task.done()
        gate.set_result(7)
        assert await asyncio.wait_for(task, 1) == "result"
        assert steps == ["before", "after 7"]

    asyncio.run(scenario())


def test_cancelling_the_task_cancels_the_coroutine_at_its_wait() -> None:
    async def scenario() -> None:
        cleaned: list[bool] = []

        async def send() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append(True)

        rest = eager.start(send())
        assert rest is not None
        task = asyncio.create_task(eager.finish(rest))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleaned == [True]

    asyncio.run(scenario())


def test_an_error_before_the_first_wait_reaches_the_caller() -> None:
    async def send() -> None:
        raise ConnectionError("peer gone")

    with pytest.raises(ConnectionError):
        eager.start(send())


def test_text_frame_is_an_unmasked_final_text_frame_of_any_length() -> None:
    from websockets.frames import Frame, Opcode

    from app.fastwrite import text_frame

    assert text_frame("hi") == b"\x81\x02hi"
    long_text = "é" * 40_000  # 80,000 bytes: the 64-bit length form
    framed = text_frame(long_text)
    assert framed[:2] == b"\x81\x7f"
    assert int.from_bytes(framed[2:10], "big") == 80_000
    assert Frame(Opcode.TEXT, long_text.encode()).serialize(mask=False) == framed
