"""The event broker: screens from another thread reach every stream, and close() ends the streams."""

from __future__ import annotations

import asyncio
import threading

from terminal.web.events import EventBroker, format_event


class Text:
    def __init__(self, text: str):
        self.text = text

    def render(self, language: str) -> dict[str, object]:
        return {"text": f"{language}:{self.text}"}


async def collect(broker: EventBroker, count: int) -> list:
    received = []
    async for screen in broker.subscribe(keepalive_seconds=30):
        received.append(screen)
        if len(received) == count:
            break
    return received


def test_screens_from_thread_reach_stream() -> None:
    async def scenario():
        broker = EventBroker()
        broker.bind(asyncio.get_running_loop())
        broker.publish(Text("on display"))
        stream = asyncio.create_task(collect(broker, 3))
        await asyncio.sleep(0)
        worker = threading.Thread(target=lambda: [broker.publish(Text(name)) for name in ("first", "second")])
        worker.start()
        worker.join()
        return await asyncio.wait_for(stream, 5)

    received = asyncio.run(scenario())
    assert [screen.text for screen in received] == ["on display", "first", "second"]


def test_close_ends_streams() -> None:
    async def scenario():
        broker = EventBroker()
        broker.bind(asyncio.get_running_loop())
        stream = asyncio.create_task(collect(broker, 10))
        await asyncio.sleep(0)
        broker.close()
        received = await asyncio.wait_for(stream, 5)
        late = [screen async for screen in broker.subscribe(keepalive_seconds=30)]
        return received, late

    received, late = asyncio.run(scenario())
    assert received == []
    assert late == []


def test_format_event_one_data_line() -> None:
    assert format_event("screen", {"text": "a\nb"}) == 'event: screen\ndata: {"text": "a\\nb"}\n\n'
