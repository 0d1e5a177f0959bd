"""AsyncEngine: the engine's async face keeps the event loop free while answers are written."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from docveil.asyncio import AsyncEngine
from docveil.types import Answer, AnswerDelta, Principal

from .answerers import Scripted
from .conftest import ALICE, ingest

QUESTION = "How much is the monthly rent?"
AUDITOR = Principal("acme", "audrey", frozenset({"auditor"}))


async def heartbeat(stop: asyncio.Event, gaps: list[float]) -> None:
    """Ticks every 20 ms and records how late each tick was: the loop's longest stall."""
    last = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.02)
        now = time.monotonic()
        gaps.append(now - last - 0.02)
        last = now


def test_a_slow_ask_does_not_block_searches_on_the_same_loop(make_engine, documents) -> None:
    searched = threading.Event()
    slow = Scripted(["The rent is due monthly [1].\n"] * 8, gate=searched)
    engine = make_engine(slow, answerer="scripted")
    ingest(engine, documents)
    engine.search("warm the encoder", ALICE)

    async def scenario() -> tuple[float, float, list[float], Answer]:
        aengine = AsyncEngine(engine, workers=1, long_workers=1)
        stop, gaps = asyncio.Event(), []
        beat = asyncio.create_task(heartbeat(stop, gaps))
        asked = asyncio.create_task(aengine.ask(QUESTION, ALICE))
        while not slow.requests:  # the answerer is writing from here on
            await asyncio.sleep(0.01)
        for _ in range(3):
            hits = await aengine.search("rent", ALICE, k=2)
            assert hits
        searched_while_answering = not asked.done()
        searched.set()
        answer = await asked
        stop.set()
        await beat
        await aengine.close()
        return searched_while_answering, gaps, answer

    searched_while_answering, gaps, answer = asyncio.run(scenario())
    assert answer.text.count("The rent is due monthly") == 8
    # The answer waits for the searches (30 s at most): a blocking ask would hold the loop for
    # those 30 s and the searches would only run after it.
    assert searched_while_answering, "searches must finish while the answer is still being written"
    assert max(gaps) < 10.0, f"the event loop stalled for {max(gaps):.2f} s"


def test_async_stream_yields_deltas_then_the_answer_and_stops_when_left(make_engine, documents) -> None:
    scripted = Scripted(["First [1].\n", "Second.\n", "Third.\n"])
    endless = Scripted(["Again.\n"] * 200, delay=0.01)
    endless.name = "endless"
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    leaving = make_engine(endless, answerer="endless")

    async def scenario() -> tuple[list[object], bool]:
        aengine = AsyncEngine(engine)
        events = [event async for event in aengine.ask_stream(QUESTION, ALICE)]
        stream = AsyncEngine(leaving).ask_stream(QUESTION, ALICE)
        async for event in stream:
            assert isinstance(event, AnswerDelta)
            break
        await stream.aclose()
        await aengine.close()
        return events, endless.stopped.is_set()

    events, stopped = asyncio.run(scenario())
    assert [type(e) for e in events] == [AnswerDelta] * 3 + [Answer]
    assert "".join(e.text for e in events[:-1]) == events[-1].text
    assert stopped and not endless.finished.is_set()


def test_cancelling_an_async_stream_while_the_answerer_writes_closes_it_cleanly(make_engine, documents) -> None:
    slow = Scripted(["A line [1].\n"] * 20, delay=0.4)
    engine = make_engine(slow, answerer="scripted")
    ingest(engine, documents)

    async def scenario() -> list:
        aengine = AsyncEngine(engine)

        async def read_all() -> None:
            async for _ in aengine.ask_stream(QUESTION, ALICE):
                pass

        reader = asyncio.create_task(read_all())
        while not slow.requests:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.6)  # a next() is now waiting on the answerer in a worker thread
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        records = await aengine.audit_records(AUDITOR, action="ask")
        await aengine.close()
        return records

    records = asyncio.run(scenario())
    assert slow.stopped.is_set() and not slow.finished.is_set()
    assert [r.outcome for r in records] == ["cancelled"]


def test_async_ingest_takes_one_path_as_that_file(make_engine, tmp_path) -> None:
    engine = make_engine()
    (tmp_path / "note.txt").write_text("A note about the delivery dates of the spring catalogue.\n")

    async def scenario():
        aengine = AsyncEngine(engine)
        report = await aengine.ingest(tmp_path / "note.txt", ALICE)
        await aengine.close()
        return report

    report = asyncio.run(scenario())
    assert [d.source for d in report.ingested] == [str(tmp_path / "note.txt")] and not report.failed
