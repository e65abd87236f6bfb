from restorekit.progress import report, scaled, track


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
