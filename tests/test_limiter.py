"""The speed limiter: FIFO hand-off of slots, live limit changes, cancellation never leaks a slot."""
import asyncio

from engine.session.limiter import Limiter


async def _hold(limiter, started, release, name):
    async with limiter:
        started.append(name)
        await release.wait()


def test_never_more_in_flight_than_the_limit_and_slots_go_in_order():
    async def main():
        limiter, started, release = Limiter(2), [], asyncio.Event()
        tasks = [asyncio.create_task(_hold(limiter, started, release, i)) for i in range(5)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert started == [0, 1] and limiter.in_use == 2
        release.set()
        await asyncio.gather(*tasks)
        assert started == [0, 1, 2, 3, 4] and limiter.in_use == 0
    asyncio.run(main())


def test_raising_the_limit_admits_waiting_work_at_once():
    async def main():
        limiter, started, release = Limiter(1), [], asyncio.Event()
        tasks = [asyncio.create_task(_hold(limiter, started, release, i)) for i in range(4)]
        await asyncio.sleep(0)
        assert started == [0]
        await limiter.set_limit(3)
        for _ in range(3):
            await asyncio.sleep(0)
        assert started == [0, 1, 2]
        release.set()
        await asyncio.gather(*tasks)
    asyncio.run(main())


def test_a_cancelled_waiter_does_not_keep_a_slot():
    async def main():
        limiter, started, release = Limiter(1), [], asyncio.Event()
        first = asyncio.create_task(_hold(limiter, started, release, "first"))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(_hold(limiter, started, release, "cancelled"))
        last = asyncio.create_task(_hold(limiter, started, release, "last"))
        await asyncio.sleep(0)
        release.set()
        waiter.cancel()  # cancelled in the same loop pass as the slot is handed to it
        await asyncio.gather(first, last, waiter, return_exceptions=True)
        assert "last" in started and "cancelled" not in started
        assert limiter.in_use == 0
    asyncio.run(main())
