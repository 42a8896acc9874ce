"""The bounded state of a live depth stream (vda_ros/ros/stream_state.py), alone, with an injected clock."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from vda_ros.ros.stream_state import CameraInfoCache, LogLimiter, LruMap, ProblemLog, message_kind


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def info(frame_id: str, stamp: int, fx: float = 50.0) -> CameraInfo:
    sec, nanosec = divmod(stamp, 10**9)
    return CameraInfo(
        header=Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id),
        k=[fx, 0.0, 32.0, 0.0, fx, 24.0, 0.0, 0.0, 1.0],
    )


def test_lru_map_forgets_the_least_recently_used_key() -> None:
    lru: LruMap[str, int] = LruMap(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # a is now the most recently used
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c"), len(lru)) == (1, None, 3, 2)


def test_camera_info_cache_keeps_the_latest_of_a_bounded_number_of_frame_ids() -> None:
    cache = CameraInfoCache(size=4, max_frames=3)
    for index in range(1000):  # a publisher inventing a new frame_id for every message
        cache.add(info(f"cam_{index}", index, fx=float(index)))
    assert [cache.lookup(f"cam_{i}", 10**12) is None for i in (0, 996, 997, 998, 999)] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert cache.lookup("cam_999", 10**12).k[0] == 999.0

    cache.lookup("cam_997", 10**12)  # in use: survives the next new frame_id, cam_998 does not
    cache.add(info("new", 5000))
    assert cache.lookup("cam_997", 10**12) is not None and cache.lookup("cam_998", 10**12) is None


def test_camera_info_cache_prefers_the_stamp_then_the_latest_of_the_frame() -> None:
    cache = CameraInfoCache()
    cache.add(info("cam", 10, fx=40.0))
    cache.add(info("cam", 20, fx=45.0))
    assert cache.lookup("cam", 10).k[0] == 40.0
    assert cache.lookup("cam", 30).k[0] == 45.0
    assert cache.lookup("other", 10) is None


def test_message_kind_masks_numbers_and_quoted_values() -> None:
    assert message_kind("unsupported image encoding '16UC1'") == message_kind("unsupported image encoding 'bayer'")
    assert message_kind('frame_id changed from "a" to "b"') == message_kind('frame_id changed from "c" to "d"')
    assert message_kind("size changed from 64x48 to 80x60") == "size changed from #x# to #x#"
    assert message_kind("time jumped back by 100.200 s") == "time jumped back by # s"
    assert message_kind("data too short") != message_kind("unsupported image encoding '16UC1'")


def test_log_limiter_logs_each_new_kind_and_repeats_once_per_period_with_the_held_count() -> None:
    lines: list[str] = []
    clock = FakeClock()
    limiter = LogLimiter(lines.append, period=10.0, clock=clock)
    assert limiter.log("reset: size changed from 64x48 to 80x60")
    for step in range(1, 80):  # a stream alternating sizes, 8 frames a second (binary-exact steps)
        clock.now += 0.125
        limiter.log(f"reset: size changed from {(64, 80)[step % 2]}x48 to 80x60")
        if step == 40:
            assert limiter.log("reset: frame_id changed from 'a' to 'b'"), "a new kind is never held back"
    assert lines == ["reset: size changed from 64x48 to 80x60", "reset: frame_id changed from 'a' to 'b'"]

    clock.now += 0.125  # 10 s after the first line
    assert limiter.log("reset: size changed from 80x48 to 80x60")
    assert lines[-1] == "reset: size changed from 80x48 to 80x60 (79 more of this kind not logged since the last one)"
    clock.now += 10.0
    assert limiter.log("reset: size changed from 64x48 to 80x60")
    assert lines[-1] == "reset: size changed from 64x48 to 80x60", "nothing was held back: no count"


def test_log_limiter_remembers_a_bounded_number_of_kinds() -> None:
    lines: list[str] = []
    limiter = LogLimiter(lines.append, period=10.0, max_kinds=2, clock=FakeClock())
    for message in ("a", "b", "a", "c", "b"):  # c pushes out b (a was used more recently)
        limiter.log(message)
    assert lines == ["a", "b", "c", "b"]


def test_problem_log_counts_everything_and_reports_each_kind_once() -> None:
    lines: list[str] = []
    problems = ProblemLog(lines.append, max_kinds=8)
    for encoding in ("16UC1", "32FC1", "bayer_rggb8", "16UC1"):
        problems.add(f"bad image on /image: unsupported image encoding '{encoding}'")
    for frame_id in range(100):
        problems.add(f"CameraInfo of frame 'cam_{frame_id}' is uncalibrated")
    assert problems.count == 104 and problems.last == "CameraInfo of frame 'cam_99' is uncalibrated"
    assert lines == [
        "bad image on /image: unsupported image encoding '16UC1' (skipped; more of this kind are counted in "
        "/diagnostics, not logged)",
        "CameraInfo of frame 'cam_0' is uncalibrated (skipped; more of this kind are counted in /diagnostics, "
        "not logged)",
    ]
