import pytest

from restorekit.progress import CallbackRelay, report, scaled, track


def test_track_reports_each_step():
    seen = []
    assert list(track(range(3), 3, lambda d, t: seen.append((d, t)))) == [0, 1, 2]
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_scaled_maps_sub_progress():
    seen = []
    sub = scaled(lambda d, t: seen.append((d, t)), start=10, span=10, total=30)
    sub(5, 10)
    sub(10, 10)
    assert seen == [(15, 30), (20, 30)]
    assert scaled(None, 0, 1, 1) is None
    report(None, 1, 2)  # no callback: nothing happens


def test_callback_relay_tells_the_callbacks_own_exception():

    class Stop(Exception):
        pass

    def interrupt(done: int, total: int) -> None:
        raise Stop

    assert CallbackRelay(None).callback is None
    relay = CallbackRelay(interrupt)
    other = ValueError("from the core")
    assert not relay.raised_by_callback(other)
    with pytest.raises(Stop) as caught:
        relay.callback(1, 2)
    assert relay.raised_by_callback(caught.value)
    assert not relay.raised_by_callback(other)
