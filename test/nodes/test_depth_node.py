"""depth_node end to end: the node in its own process, this test talking to it over DDS.

Two node processes serve the whole module (starting one costs seconds): a metric model fed raw
Images, and a relative model fed CompressedImages through a remapped topic. Both run the real
network on random weights on the CPU with a small input size. Expected values are computed here
independently (pinhole back-projection written out, not the package's own function).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from depth_quality_figures import output_figures, published_gain
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from encoded_images import png_of_zeros
from hooked_depth_node import FAULT_MESSAGE
from rclpy.node import NodeNameNonExistentError
from ros_helpers import (
    REPO_ROOT,
    Collector,
    NodeProcess,
    TestNode,
    diagnostic_values,
    node_env,
    wait_for_subscribers,
    wait_until,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from synthetic_scene import quality_sequence

from vda_ros.core.depth_quality import (
    ConfidenceCues,
    agreement_confidence,
    combine_confidence,
    flying_pixels,
    geometric_confidence,
)
from vda_ros.core.outputs import CameraModel, frame_outputs
from vda_ros.nodes.depth_service import FAILURE_LOG_PERIOD, FAILURES_FOR_ERROR, RESET_LOG_PERIOD
from vda_ros.nodes.depth_settings import DepthSettings
from vda_ros.ros.child_nodes import node_command
from vda_ros.ros.stream_state import StreamContinuity

# Every test here starts ROS nodes but the last two (the parameters file, the continuity reasons), which are instant.
pytestmark = pytest.mark.ros

MODULE = "vda_ros.nodes.depth_node"
HOOKED_MODULE = "hooked_depth_node"
"""test/hooked_depth_node.py: the same node with a fault put into its inference step."""
WIDTH, HEIGHT = 64, 48
MAX_RES = 96
"""The metric node shrinks larger images to this longer side."""
COMMON_PARAMS = {
    "random_weights": True,
    "encoder": "vits",
    "device": "cpu",
    "input_size": 112,
    "max_res": MAX_RES,
    "diagnostics_period": 0.5,
}
RNG = np.random.default_rng(3)
OVERLOAD_BURST = 20
"""Frames sent back to back in each burst of the overload test."""
OVERLOAD_BURSTS = 15
"""Bursts in the overload test (each waits for one more output)."""


# --- messages -----------------------------------------------------------------------------------


def stamp_at(seconds: float) -> Time:
    sec = int(seconds)
    return Time(sec=sec, nanosec=round((seconds - sec) * 1e9))


def now_stamp() -> Time:
    return stamp_at(time.time())


def random_rgb(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A smooth random scene (noise blurred), closer to a photo than white noise."""
    noise = RNG.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def image_msg(
    pixels: np.ndarray,
    stamp: Time,
    frame_id: str = "cam",
    encoding: str = "rgb8",
    padding: int = 0,
    width: int | None = None,
) -> Image:
    """An Image of pixels already in encoding's byte layout, each row followed by padding bytes.

    width defaults to the array's second dimension; packed formats (YUV 4:2:2) pass their own.
    """
    rows = pixels.reshape(pixels.shape[0], -1)
    rows = np.concatenate([rows, np.full((rows.shape[0], padding), 255, np.uint8)], axis=1)
    msg = Image(
        header=Header(stamp=stamp, frame_id=frame_id),
        height=pixels.shape[0],
        width=pixels.shape[1] if width is None else width,
        encoding=encoding,
        step=rows.shape[1],
    )
    msg.data = rows.tobytes()
    return msg


def compressed_msg(rgb: np.ndarray, stamp: Time, fmt: str, frame_id: str = "cam") -> CompressedImage:
    ok, encoded = cv2.imencode(f".{fmt}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = CompressedImage(header=Header(stamp=stamp, frame_id=frame_id), format=fmt)
    msg.data = encoded.tobytes()
    return msg


def info_msg(
    stamp: Time,
    frame_id: str = "cam",
    width: int = WIDTH,
    height: int = HEIGHT,
    k: tuple[float, float, float, float] = (50.0, 52.0, 31.5, 23.5),
) -> CameraInfo:
    fx, fy, cx, cy = k
    return CameraInfo(
        header=Header(stamp=stamp, frame_id=frame_id),
        width=width,
        height=height,
        distortion_model="plumb_bob",
        d=[0.0] * 5,
        k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )


def depth_array(msg: Image) -> np.ndarray:
    assert msg.encoding == "32FC1" and msg.step == msg.width * 4
    return np.frombuffer(bytes(msg.data), dtype=">f4" if msg.is_bigendian else "<f4").reshape(msg.height, msg.width)


def cloud_fields(msg: PointCloud2) -> dict[str, np.ndarray]:
    """Each field of an organised cloud as an (H, W) array (rgb as uint32 bit patterns)."""
    order = ">" if msg.is_bigendian else "<"
    kinds = {PointField.FLOAT32: "f4", PointField.UINT32: "u4"}
    dtype = np.dtype(
        {
            "names": [f.name for f in msg.fields],
            "formats": [order + ("u4" if f.name == "rgb" else kinds[f.datatype]) for f in msg.fields],
            "offsets": [f.offset for f in msg.fields],
            "itemsize": msg.point_step,
        }
    )
    assert msg.row_step == msg.point_step * msg.width
    points = np.frombuffer(bytes(msg.data), dtype=dtype).reshape(msg.height, msg.width)
    return {name: points[name] for name in dtype.names}


def pinhole_points(z: np.ndarray, info: CameraInfo, stride: int = 1) -> np.ndarray:
    """X = (u - cx) / fx * Z, Y = (v - cy) / fy * Z at pixel centres (u, v) = (column, row)."""
    fx, fy, cx, cy = info.k[0], info.k[4], info.k[2], info.k[5]
    v, u = np.mgrid[0 : z.shape[0] : stride, 0 : z.shape[1] : stride]
    z = z[::stride, ::stride].astype(np.float64)
    return np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=-1)


def assert_cloud_is_backprojection(cloud: PointCloud2, z: np.ndarray, info: CameraInfo, stride: int = 1) -> None:
    fields = cloud_fields(cloud)
    expected = pinhole_points(z, info, stride)
    assert (cloud.height, cloud.width) == expected.shape[:2]
    got = np.stack([fields["x"], fields["y"], fields["z"]], axis=-1).astype(np.float64)
    assert np.array_equal(np.isnan(got), np.isnan(expected)), "NaN points differ from invalid depths"
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert cloud.is_dense == (not np.isnan(got).any())


# --- fixtures ------------------------------------------------------------------------------------


@dataclass
class Rig:
    """One depth node under test and the test's publishers and collectors for it."""

    ros: TestNode
    process: NodeProcess
    namespace: str
    image_pub: object
    info_pub: object
    outputs: dict[str, Collector] = field(default_factory=dict)
    diagnostics: Collector | None = None

    @property
    def node_name(self) -> str:
        return f"{self.namespace}/depth_node"

    def send(self, image: Image | CompressedImage, info: CameraInfo | None = None) -> None:
        if info is not None:
            self.info_pub.publish(info)
        self.image_pub.publish(image)

    def request(
        self,
        image: Image | CompressedImage,
        info: CameraInfo | None = None,
        expect: tuple[str, ...] = ("depth", "colored"),
        timeout: float = 40.0,
    ) -> dict[str, object]:
        """Send a frame until every expected output with its stamp arrived (input is best effort)."""
        stamp = image.header.stamp
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send(image, info)
            if wait_until(lambda: all(self.outputs[n].with_stamp(stamp) for n in expect), 4.0):
                return {name: self.outputs[name].with_stamp(stamp) for name in self.outputs}
            assert self.process.running(), self.process.log()
        raise AssertionError(f"no {expect} for stamp {stamp} within {timeout} s\n{self.process.log()}")

    def diag(self, newer_than: float = 0.0, timeout: float = 10.0) -> dict[str, str]:
        """Key/values of this node's newest /diagnostics status received after time newer_than."""
        name = f"{self.node_name}: depth"

        def fresh() -> bool:
            return any(t > newer_than and any(s.name == name for s in m.status) for m, t in self.diagnostics.items())

        assert wait_until(fresh, timeout), f"no /diagnostics from {name}"
        return diagnostic_values(self.diagnostics, name)

    def wait_for_diag(self, predicate: Callable[[dict[str, str]], bool], timeout: float = 20.0) -> dict[str, str]:
        """Wait for a diagnostics status that satisfies predicate; return it."""
        found: dict[str, str] = {}

        def check() -> bool:
            values = diagnostic_values(self.diagnostics, f"{self.node_name}: depth")
            found.update(values or {})
            return values is not None and predicate(values)

        assert wait_until(check, timeout, 0.1), f"diagnostics never satisfied the check; last: {found}"
        return found


@pytest.fixture(scope="module")
def ros() -> Iterator[TestNode]:
    node = TestNode("depth_node_test")
    yield node
    node.close()


@pytest.fixture(scope="module")
def diagnostics(ros: TestNode) -> Collector:
    return ros.collect(DiagnosticArray, "/diagnostics", depth=100)


def hooked_env(**extra: str) -> dict[str, str]:
    """The environment of a node run as HOOKED_MODULE (test/hooked_depth_node.py), the hooks set by extra."""
    env = node_env(**extra)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "test"), env["PYTHONPATH"]])
    return env


def start_rig(
    ros: TestNode,
    diagnostics: Collector,
    tmp_path: Path,
    namespace: str,
    params: dict,
    remaps: dict[str, str],
    image_type: type,
    image_topic: str,
    depth_topic: str,
    *,
    module: str = MODULE,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
) -> Rig:
    """Start a depth node (module, run after the command prefix, in env) and wait until it listens."""
    command = node_command(
        module, {**COMMON_PARAMS, **params}, {"__ns": namespace, **remaps}, REPO_ROOT / "config" / "depth.yaml"
    )
    process = NodeProcess([*prefix, *command], tmp_path / f"{namespace.strip('/')}.log", env)
    rig = Rig(
        ros,
        process,
        namespace,
        ros.publisher(image_type, image_topic),
        ros.publisher(CameraInfo, f"{namespace}/camera_info"),
        diagnostics=diagnostics,
    )
    rig.outputs = {
        "depth": ros.collect(Image, f"{namespace}/{depth_topic}"),
        "colored": ros.collect(Image, f"{namespace}/depth/colored"),
        "info": ros.collect(CameraInfo, f"{namespace}/depth/camera_info"),
        "points": ros.collect(PointCloud2, f"{namespace}/points"),
    }
    try:
        assert process.wait_for_log("listening on", 120.0), process.log()
        wait_for_subscribers(rig.image_pub)
        wait_for_subscribers(rig.info_pub)
    except BaseException:
        process.stop()
        raise
    return rig


@pytest.fixture(scope="module")
def metric(ros: TestNode, diagnostics: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    # A deep reliable input queue: any bound on latency must then come from the node's own
    # newest-frame slot, not from a keep-last-1 subscription discarding frames before it.
    params = {"metric": True, "input_reliability": "reliable", "input_queue_depth": 50}
    rig = start_rig(
        ros,
        diagnostics,
        tmp_path_factory.mktemp("metric"),
        "/metric",
        params,
        {},
        Image,
        "/metric/image",
        "depth/image",
    )
    rig.outputs["relative"] = ros.collect(Image, "/metric/depth/relative")
    yield rig
    assert rig.process.stop() == 0, rig.process.log()


@pytest.fixture(scope="module")
def relative(ros: TestNode, diagnostics: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    rig = start_rig(
        ros,
        diagnostics,
        tmp_path_factory.mktemp("relative"),
        "/relative",
        {"metric": False, "image_transport": "compressed"},
        {"image": "camera/image_raw"},
        CompressedImage,
        "/relative/camera/image_raw/compressed",
        "depth/relative",
    )
    rig.outputs["metric_topic"] = ros.collect(Image, "/relative/depth/image")
    yield rig
    assert rig.process.stop() == 0, rig.process.log()


# --- metric model, raw images --------------------------------------------------------------------


def test_outputs_share_the_image_header_and_the_cloud_is_the_backprojected_depth(metric: Rig) -> None:
    rgb, stamp = random_rgb(), now_stamp()
    out = metric.request(image_msg(rgb, stamp), info_msg(stamp), expect=("depth", "colored", "info", "points"))
    header = Header(stamp=stamp, frame_id="cam")
    for name in ("depth", "colored", "info", "points"):
        assert out[name].header == header, name

    depth_msg, colored, info, cloud = out["depth"], out["colored"], out["info"], out["points"]
    assert (depth_msg.encoding, depth_msg.width, depth_msg.height) == ("32FC1", WIDTH, HEIGHT)
    depth = depth_array(depth_msg)
    # REP 117: every value is a positive finite distance or NaN, never 0 or inf.
    assert np.all(np.isnan(depth) | (np.isfinite(depth) & (depth > 0)))
    assert np.isfinite(depth).any()

    assert (colored.encoding, colored.width, colored.height) == ("bgr8", WIDTH, HEIGHT)
    bgr = np.frombuffer(bytes(colored.data), np.uint8).reshape(HEIGHT, colored.step)[:, : WIDTH * 3]
    assert not bgr.reshape(HEIGHT, WIDTH, 3)[np.isnan(depth)].any(), "invalid depth must be black"

    assert (info.width, info.height) == (WIDTH, HEIGHT)
    np.testing.assert_allclose(info.k, info_msg(stamp).k)

    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
    assert_cloud_is_backprojection(cloud, depth, info)
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    assert np.array_equal(cloud_fields(cloud)["rgb"], packed)
    assert not out["relative"], "a metric model publishes nothing on depth/relative"


def test_large_images_are_shrunk_and_intrinsics_scaled_to_the_depth(metric: Rig) -> None:
    big_w, big_h = 160, 120  # longer side 160 > max_res 96: depth is 96 x 72, intrinsics x 0.6
    stamp = now_stamp()
    k = (100.0, 104.0, 79.5, 59.5)
    out = metric.request(
        image_msg(random_rgb(big_w, big_h), stamp),
        info_msg(stamp, width=big_w, height=big_h, k=k),
        expect=("depth", "info", "points"),
    )
    depth, info = depth_array(out["depth"]), out["info"]
    assert depth.shape == (72, 96) and (info.width, info.height) == (96, 72)
    np.testing.assert_allclose([info.k[0], info.k[4], info.k[2], info.k[5]], [60.0, 62.4, 47.7, 35.7], rtol=1e-9)
    assert_cloud_is_backprojection(out["points"], depth, info)


def test_padded_and_other_encodings_are_read(metric: Rig) -> None:
    rgb = random_rgb()
    stamp = now_stamp()
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    out = metric.request(
        image_msg(bgr, stamp, encoding="bgr8", padding=13), info_msg(stamp), expect=("depth", "points")
    )
    packed = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    assert np.array_equal(cloud_fields(out["points"])["rgb"], packed), "row padding must be skipped"

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    uyvy = np.zeros((HEIGHT, WIDTH * 2), np.uint8)
    for pixels, encoding in ((grey, "mono8"), (rgba, "rgba8"), (uyvy, "yuv422")):
        msg = image_msg(pixels, now_stamp(), encoding=encoding, width=WIDTH)
        assert depth_array(metric.request(msg)["depth"]).shape == (HEIGHT, WIDTH), encoding


def test_camera_info_is_paired_by_stamp_and_else_the_latest_of_the_frame(metric: Rig) -> None:
    barrier, first, second = now_stamp(), stamp_at(time.time() + 0.001), stamp_at(time.time() + 0.002)
    k_first, k_second = (40.0, 41.0, 30.0, 22.0), (45.0, 46.0, 32.0, 24.0)
    metric.info_pub.publish(info_msg(first, k=k_first))
    metric.info_pub.publish(info_msg(second, k=k_second))
    # CameraInfo arrives in order on its topic: once the node pairs the one sent last (another
    # frame's), it has both of the above, before any of the images below.
    metric.request(
        image_msg(random_rgb(), barrier, frame_id="barrier"),
        info_msg(barrier, frame_id="barrier"),
        expect=("depth", "info"),
    )
    out = metric.request(image_msg(random_rgb(), first), expect=("depth", "info"))
    assert out["info"].k[0] == k_first[0], "the CameraInfo with the image's own stamp wins"
    later = stamp_at(time.time() + 0.003)
    out = metric.request(image_msg(random_rgb(), later), expect=("depth", "info"))
    assert out["info"].k[0] == k_second[0], "without one of its stamp, the latest of the frame is used"


def test_depth_never_waits_for_camera_info(metric: Rig) -> None:
    stamp = now_stamp()
    out = metric.request(image_msg(random_rgb(), stamp, frame_id="calibrated_later"))
    assert out["depth"].header.frame_id == "calibrated_later"
    # Outputs come in order on each topic: once the next frame's CameraInfo and cloud are here,
    # any for the first frame would have come before them.
    later = now_stamp()
    metric.request(
        image_msg(random_rgb(), later, frame_id="calibrated_later"),
        info_msg(later, frame_id="calibrated_later"),
        expect=("depth", "info", "points"),
    )
    assert metric.outputs["info"].with_stamp(stamp) is None
    assert metric.outputs["points"].with_stamp(stamp) is None


def test_depth_limits_and_stride_shape_the_cloud_at_runtime(metric: Rig) -> None:
    stamp = now_stamp()
    depth = depth_array(metric.request(image_msg(random_rgb(), stamp), info_msg(stamp), expect=("depth",))["depth"])
    low, high = (float(v) for v in np.nanpercentile(depth, [25, 75]))
    results = metric.ros.set_parameters(
        metric.node_name, {"min_depth": low, "max_depth": high, "points_stride": 3, "points_rgb": False}
    )
    assert all(r.successful for r in results), results
    try:
        stamp = now_stamp()
        out = metric.request(image_msg(random_rgb(), stamp), info_msg(stamp), expect=("depth", "info", "points"))
        depth = depth_array(out["depth"])
        assert np.isfinite(depth).mean() > 0.5, "limits apply to the cloud, not to the depth image"
        cloud = out["points"]
        assert [f.name for f in cloud.fields] == ["x", "y", "z"]
        windowed = np.where((depth >= low) & (depth <= high), depth, np.nan)
        assert_cloud_is_backprojection(cloud, windowed, out["info"], stride=3)
        assert np.isnan(cloud_fields(cloud)["z"]).any() and not cloud.is_dense

        rejected = metric.ros.set_parameters(metric.node_name, {"min_depth": 5.0, "max_depth": 1.0})
        assert not rejected[0].successful and "min_depth" in rejected[0].reason
        read_only = metric.ros.set_parameters(metric.node_name, {"input_size": 140})
        assert not read_only[0].successful
    finally:
        metric.ros.set_parameters(
            metric.node_name, {"min_depth": 0.0, "max_depth": 0.0, "points_stride": 1, "points_rgb": True}
        )


def _send_and_wait(rig: Rig, expect: tuple[str, ...]) -> tuple[Time, dict[str, object]]:
    """Send one frame once (the metric rig's input is reliable: it arrives) and wait for its outputs.

    Unlike request(), nothing is sent twice: the frame before this one is the camera's previous frame.
    """
    stamp = now_stamp()
    rig.send(image_msg(random_rgb(), stamp), info_msg(stamp))
    assert wait_until(lambda: all(rig.outputs[n].with_stamp(stamp) for n in expect), 60.0), rig.process.log()
    return stamp, {name: rig.outputs[name].with_stamp(stamp) for name in expect}


def test_confidence_is_lazy_and_describes_the_published_depth(metric: Rig) -> None:
    """depth/confidence: computed only with a subscriber; the geometry of the depth times its agreement with the
    camera's previous frame; min_confidence and the filter change at runtime."""
    metric.request(image_msg(random_rgb(), now_stamp()), expect=("depth",))
    metric.wait_for_diag(lambda v: int(v["confidence not computed (no subscriber)"]) >= 1)
    topic = f"{metric.namespace}/depth/confidence"
    metric.outputs["confidence"] = metric.ros.collect(Image, topic)
    assert wait_until(lambda: metric.ros.node.count_publishers(topic) >= 1, 20.0)
    assert all(r.successful for r in metric.ros.set_parameters(metric.node_name, {"flying_pixel_filter": False}))
    try:
        metric.request(image_msg(random_rgb(), now_stamp()), info_msg(now_stamp()), expect=("depth", "confidence"))
        stamp, out = _send_and_wait(metric, ("depth", "confidence", "info", "points"))
        depths = metric.outputs["depth"].messages()
        at = next(i for i, msg in enumerate(depths) if msg.header.stamp == stamp)
        depth, previous = depth_array(depths[at]), depth_array(depths[at - 1])  # in order: reliable, one writer
        confidence = depth_array(out["confidence"])
        assert out["confidence"].header == out["depth"].header and confidence.shape == depth.shape
        info = out["info"]
        flying = flying_pixels(depth, info.k[0], info.k[4], info.k[2], info.k[5])
        expected = combine_confidence(depth, geometric_confidence(flying), agreement_confidence(depth, previous))
        np.testing.assert_allclose(confidence, expected, rtol=1e-6, atol=1e-7)
        assert ((confidence >= 0) & (confidence <= 1)).all() and 0 < confidence.max()

        threshold = float(np.median(confidence[confidence > 0]))
        changed = metric.ros.set_parameters(
            metric.node_name, {"flying_pixel_filter": True, "min_confidence": threshold}
        )
        assert all(r.successful for r in changed), changed
        _, out = _send_and_wait(metric, ("depth", "confidence", "points"))
        depth, confidence = depth_array(out["depth"]), depth_array(out["confidence"])
        assert (confidence[np.isnan(depth)] == 0).all()
        z = cloud_fields(out["points"])["z"]
        np.testing.assert_array_equal(np.isnan(z), np.isnan(depth) | (confidence < threshold))
    finally:
        metric.ros.set_parameters(metric.node_name, {"flying_pixel_filter": True, "min_confidence": 0.0})


def _resets(values: dict[str, str]) -> int:
    return int(values["stream resets"])


def test_size_change_frame_change_time_jump_and_service_reset_the_stream(metric: Rig) -> None:
    base = time.time()
    metric.request(image_msg(random_rgb(), stamp_at(base)))
    before = _resets(metric.diag(time.time()))

    cases = [
        (image_msg(random_rgb(80, 60), stamp_at(base + 0.1)), "image size changed"),
        (image_msg(random_rgb(80, 60), stamp_at(base + 0.2), frame_id="other_cam"), "frame_id changed"),
        (image_msg(random_rgb(80, 60), stamp_at(base - 100.0), frame_id="other_cam"), "time jumped back"),
    ]
    for count, (msg, reason) in enumerate(cases, start=1):
        metric.request(msg)  # the node keeps publishing after each reset
        values = metric.wait_for_diag(lambda v, n=before + count: _resets(v) >= n)
        assert reason in values["last reset reason"], values

    client = metric.ros.node.create_client(Trigger, f"{metric.node_name}/reset")
    assert client.wait_for_service(10.0)
    assert metric.ros.call(client, Trigger.Request()).success
    metric.request(image_msg(random_rgb(80, 60), stamp_at(base - 99.0), frame_id="other_cam"))
    values = metric.wait_for_diag(lambda v: _resets(v) >= before + 4)
    assert "~/reset" in values["last reset reason"]
    log = metric.process.log()
    assert "temporal cache reset: time jumped back by 100.200 s" in log, log


def test_a_stream_alternating_sizes_resets_every_frame_but_logs_a_line_per_period(metric: Rig) -> None:
    metric.request(image_msg(random_rgb(), now_stamp()))
    before = _resets(metric.diag(time.time()))
    logged_before = metric.process.log().count("temporal cache reset: image size changed")
    started = time.monotonic()
    sizes = [(80, 60), (WIDTH, HEIGHT)] * 5
    for width, height in sizes:
        metric.request(image_msg(random_rgb(width, height), now_stamp()))
    elapsed = time.monotonic() - started  # every reset of this test was logged (or not) in this time
    metric.wait_for_diag(lambda v: _resets(v) >= before + len(sizes))
    logged = metric.process.log().count("temporal cache reset: image size changed") - logged_before
    # A new kind at once, then at most one line a period (however slow the machine made this).
    assert logged <= 1 + elapsed // RESET_LOG_PERIOD, (logged, elapsed)


def test_overload_drops_frames_and_latency_stays_bounded(metric: Rig) -> None:
    """Bursts of frames, the next sent as soon as an output arrives: the input outpaces any model.

    Latency is from a frame's stamp (set when this test publishes it) to the node's publication of
    its depth (the node's clock, carried by DDS): how busy this test process is does not enter.
    """
    metric.request(image_msg(random_rgb(), now_stamp()))  # same size as what follows: no reset inside
    before = metric.diag(time.time())
    collector = metric.outputs["depth"]
    frames = [image_msg(random_rgb(), Time()) for _ in range(OVERLOAD_BURST)]
    sent: set[tuple[int, int]] = set()

    def burst_outputs() -> list[tuple[Image, float]]:
        return [(m, t) for m, t in collector.published() if (m.header.stamp.sec, m.header.stamp.nanosec) in sent]

    for burst in range(OVERLOAD_BURSTS):
        for msg in frames:
            msg.header.stamp = now_stamp()
            sent.add((msg.header.stamp.sec, msg.header.stamp.nanosec))
            metric.image_pub.publish(msg)
        assert wait_until(lambda n=burst: len(burst_outputs()) > n, 40.0, 0.002), metric.process.log()
    newest = frames[-1].header.stamp
    assert wait_until(lambda: collector.with_stamp(newest) is not None, 40.0), "the newest frame is never dropped"

    # Outputs come in order: every output of a burst frame is here once the newest one is.
    outputs = burst_outputs()
    after = metric.wait_for_diag(lambda v: int(v["frames processed"]) >= int(before["frames processed"]) + len(outputs))
    received = int(after["frames received"]) - int(before["frames received"])
    assert OVERLOAD_BURSTS <= len(outputs) < received / 2, (len(outputs), received)
    assert int(after["frames dropped"]) - int(before["frames dropped"]) > 0
    inference_p95 = float(after["inference latency p95 (ms)"]) / 1e3
    latencies = [published - (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9) for m, published in outputs]
    # At most one inference waiting plus one running (plus transport and a busy machine's jitter);
    # a queue would instead grow by an inference time per frame, to seconds within a few bursts.
    assert max(latencies) < 3 * inference_p95 + 0.5, (latencies, inference_p95)


def test_bad_inputs_are_reported_once_and_skipped(metric: Rig) -> None:
    before = int(metric.diag(time.time())["bad inputs"])
    good = random_rgb()
    unsupported = image_msg(np.zeros((HEIGHT, WIDTH * 2), np.uint8), now_stamp(), encoding="16UC1", width=WIDTH)
    truncated = image_msg(good, now_stamp())
    truncated.data = bytes(truncated.data)[:100]
    odd_yuv = image_msg(np.zeros((HEIGHT, 2 * (WIDTH - 1)), np.uint8), now_stamp(), encoding="yuv422", width=WIDTH - 1)
    bad = [unsupported, unsupported, unsupported, truncated, truncated, odd_yuv]
    for count, msg in enumerate(bad, start=before + 1):
        metric.image_pub.publish(msg)
        # Each one looked at before the next is sent, so none replaces another in the node's slot.
        values = metric.wait_for_diag(lambda v, n=count: int(v["bad inputs"]) >= n)
    assert "bad input" in values["message"], values

    stamp = now_stamp()
    uncalibrated = info_msg(stamp, frame_id="uncalibrated", k=(0.0, 0.0, 0.0, 0.0))
    out = metric.request(image_msg(good, stamp, frame_id="uncalibrated"), uncalibrated)
    assert out["depth"] is not None
    later = now_stamp()
    metric.request(image_msg(good, later), info_msg(later), expect=("depth", "points"))  # still running
    # Outputs come in order, and each frame is logged before its outputs: this settles both.
    assert metric.outputs["points"].with_stamp(stamp) is None

    log = metric.process.log()
    assert log.count("unsupported image encoding '16UC1'") == 1, log
    assert log.count("image data too short") == 1, log
    assert log.count("needs an even width") == 1, log
    assert log.count("is uncalibrated") == 1, log
    assert metric.process.running()


def test_diagnostics_report_rates_latencies_device_and_model(metric: Rig) -> None:
    metric.request(image_msg(random_rgb(), now_stamp()))
    values = metric.diag(time.time())
    assert values["hardware_id"] == "cpu"
    assert "RANDOM WEIGHTS" in values["model"] and "vits metric" in values["model"]
    assert values["level"] == str(DiagnosticStatus.WARN[0]) and "RANDOM WEIGHTS" in values["message"]
    for key in (
        "input rate (Hz)",
        "output rate (Hz)",
        "inference latency median (ms)",
        "inference latency p95 (ms)",
        "end-to-end latency median (ms)",
        "end-to-end latency p95 (ms)",
        "frames dropped",
    ):
        assert float(values[key]) >= 0.0, key
    assert float(values["inference latency median (ms)"]) > 0.0


def test_points_diagnostics_say_at_once_why_there_is_no_cloud(metric: Rig) -> None:
    """publish_points is a runtime switch: diagnostics say it is off without waiting for another frame."""
    stamp = now_stamp()
    metric.request(image_msg(random_rgb(), stamp), info_msg(stamp), expect=("depth", "points"))
    metric.wait_for_diag(lambda v: v["point cloud"] == "publishing")
    assert all(r.successful for r in metric.ros.set_parameters(metric.node_name, {"publish_points": False}))
    try:
        metric.wait_for_diag(lambda v: v["point cloud"] == "off (publish_points is false)")
    finally:
        metric.ros.set_parameters(metric.node_name, {"publish_points": True})


def _advertised(rig: Rig) -> set[str]:
    """The topics the rig's node publishes, less those every node has (none while the node is not discovered)."""
    try:
        topics = rig.ros.node.get_publisher_names_and_types_by_node("depth_node", rig.namespace)
    except NodeNameNonExistentError:
        return set()
    return {name for name, _ in topics} - {"/rosout", "/parameter_events", "/diagnostics"}


def test_only_what_the_model_can_publish_is_advertised_and_the_log_says_which(metric: Rig, relative: Rig) -> None:
    expected = [
        (
            metric,
            {
                "/metric/depth/image",
                "/metric/depth/camera_info",
                "/metric/depth/colored",
                "/metric/depth/confidence",
                "/metric/points",
            },
        ),
        (
            relative,
            {
                "/relative/depth/relative",
                "/relative/depth/camera_info",
                "/relative/depth/colored",
                "/relative/depth/confidence",
                "/relative/points",
            },
        ),
    ]
    for rig, topics in expected:
        assert wait_until(lambda r=rig, t=topics: _advertised(r) == t, 20.0), (_advertised(rig), topics)
    assert (
        "outputs: depth/image (metres), depth/camera_info (with a CameraInfo), depth/colored (while subscribed), "
        "depth/confidence (while subscribed), points (with a calibrated CameraInfo, while subscribed)"
    ) in metric.process.log()
    # points stays advertised for a relative model (relative_scale can turn it on at runtime): the log says why
    # nothing is published on it yet.
    assert (
        "outputs: depth/relative (relative inverse depth), depth/camera_info (with a CameraInfo), depth/colored "
        "(while subscribed), depth/confidence (while subscribed), points (advertised, off: relative depth has no "
        "scale (set relative_scale, relative_shift))"
    ) in relative.process.log()


# --- relative model, compressed images on a remapped topic ---------------------------------------


def test_compressed_relative_input_publishes_relative_depth_only(relative: Rig) -> None:
    for fmt in ("jpg", "png"):
        stamp = now_stamp()
        out = relative.request(
            compressed_msg(random_rgb(), stamp, fmt), info_msg(stamp), expect=("depth", "colored", "info")
        )
        assert out["depth"].encoding == "32FC1" and out["depth"].header.stamp == stamp
        assert np.isfinite(depth_array(out["depth"])).all()
    # The node's publishers were created together, and its outputs on three of them have arrived.
    assert relative.ros.node.count_publishers("/relative/depth/image") == 0, "relative values never on depth/image"
    assert not relative.outputs["metric_topic"].messages()
    relative.wait_for_diag(lambda v: v["point cloud"].startswith("off: relative depth has no scale"))
    assert not relative.outputs["points"].messages(), "no cloud without a relative-to-metric scale"


def _first_frame_of_a_stream(rig: Rig, rgb: np.ndarray, expect: tuple[str, ...] = ("depth",)) -> dict:
    """The outputs of rgb as the first frame of a new stream (~/reset first): the same image, the same depth."""
    client = rig.ros.node.create_client(Trigger, f"{rig.node_name}/reset")
    assert client.wait_for_service(10.0)
    assert rig.ros.call(client, Trigger.Request()).success
    stamp = now_stamp()
    return rig.request(compressed_msg(rgb, stamp, "png"), info_msg(stamp), expect=expect)


def test_relative_scale_and_shift_give_a_cloud_with_nan_where_undefined(relative: Rig) -> None:
    rgb = random_rgb()
    rel = depth_array(_first_frame_of_a_stream(relative, rgb)["depth"])
    shift = -float(np.median(rel))  # half the pixels get a negative denominator: no metric depth there
    # The filter off: this is about the scale (random weights' depth has flying pixels of its own, which
    # test_confidence_is_lazy_and_describes_the_published_depth and test_pipeline cover).
    scaled = {"relative_scale": 1.0, "relative_shift": shift, "flying_pixel_filter": False}
    assert all(r.successful for r in relative.ros.set_parameters(relative.node_name, scaled))
    try:
        out = _first_frame_of_a_stream(relative, rgb, expect=("depth", "info", "points"))
        rel = depth_array(out["depth"]).astype(np.float64)
        denominator = rel + shift
        with np.errstate(divide="ignore"):
            metres = np.where(denominator > 0, 1.0 / denominator, np.nan)
        assert 0.2 < np.isnan(metres).mean() < 0.8
        assert_cloud_is_backprojection(out["points"], metres, out["info"])
    finally:
        relative.ros.set_parameters(
            relative.node_name, {"relative_scale": 0.0, "relative_shift": 0.0, "flying_pixel_filter": True}
        )


def test_undecodable_compressed_image_is_skipped(relative: Rig) -> None:
    broken = compressed_msg(random_rgb(), now_stamp(), "jpg")
    broken.data = bytes(broken.data)[:40]
    relative.image_pub.publish(broken)
    relative.wait_for_diag(lambda v: "cannot decode CompressedImage" in v["last bad input"])
    relative.request(compressed_msg(random_rgb(), now_stamp(), "jpg"))


def test_decompression_bomb_is_refused_from_its_header(relative: Rig) -> None:
    """A ~100 KB PNG of 12000x9000 pixels: refused before decoding (no 108 MP allocation), the node keeps going."""
    bomb = CompressedImage(header=Header(stamp=now_stamp(), frame_id="cam"), format="png")
    bomb.data = png_of_zeros(12000, 9000)
    relative.image_pub.publish(bomb)
    relative.wait_for_diag(lambda v: "above the limit of 50 MP" in v["last bad input"])
    relative.request(compressed_msg(random_rgb(), now_stamp(), "png"))


def test_frame_too_elongated_for_the_network_is_bad_input(metric: Rig) -> None:
    sliver = image_msg(random_rgb(96, 2), now_stamp())  # 48:1 leaves less than a patch at input 112
    metric.image_pub.publish(sliver)
    metric.wait_for_diag(lambda v: "too elongated for input size 112" in v["last bad input"])
    metric.request(image_msg(random_rgb(), now_stamp()))


# --- failures in the inference step -------------------------------------------------------------

ERROR_LEVEL = str(DiagnosticStatus.ERROR[0])
WARN_LEVEL = str(DiagnosticStatus.WARN[0])
GRAPH_BACKEND = {"backend": "onnxruntime", "input_size": 56}
"""A backend that builds graphs into its cache on the first frame, at the smallest input size."""


def _send_until(rig: Rig, condition: Callable[[], bool], timeout: float) -> bool:
    """Send a fresh frame (and its CameraInfo) every 0.2 s until condition holds (best-effort input: repeat)."""

    def check() -> bool:
        stamp = now_stamp()
        rig.send(image_msg(random_rgb(), stamp), info_msg(stamp))
        return condition()

    return wait_until(check, timeout, 0.2)


def test_a_step_failing_again_and_again_is_logged_with_its_traceback_and_turns_to_error(
    ros: TestNode, diagnostics: Collector, tmp_path: Path
) -> None:
    """A CUDA out-of-memory (or a bug) in every step: tracebacks rate-limited, ERROR, and recovery once it stops."""
    fault = tmp_path / "fault"
    fault.touch()
    rig = start_rig(
        ros,
        diagnostics,
        tmp_path,
        "/faulty",
        {"metric": True},
        {},
        Image,
        "/faulty/image",
        "depth/image",
        module=HOOKED_MODULE,
        env=hooked_env(VDA_TEST_STEP_FAULT=str(fault)),
    )
    try:
        started = time.monotonic()
        status = f"{rig.node_name}: depth"
        assert _send_until(
            rig, lambda: (diagnostic_values(diagnostics, status) or {}).get("level") == ERROR_LEVEL, 120.0
        ), rig.process.log()
        log, elapsed = rig.process.log(), time.monotonic() - started
        values = diagnostic_values(diagnostics, status)
        assert int(values["frames failed"]) >= FAILURES_FOR_ERROR, values
        assert values["message"].startswith("inference failing: the last"), values
        assert values["last failure"] == f"RuntimeError: {FAULT_MESSAGE}", values
        assert "inference failed on /faulty/image, frame skipped:\nTraceback (most recent call last):" in log, log
        assert f"RuntimeError: {FAULT_MESSAGE}" in log
        logged = log.count("inference failed on /faulty/image")
        assert logged <= 1 + elapsed // FAILURE_LOG_PERIOD < int(values["frames failed"]), (logged, elapsed, values)

        fault.unlink()  # the fault passes: depth flows and the camera is healthy again
        stamp = now_stamp()
        rig.request(image_msg(random_rgb(), stamp), info_msg(stamp), expect=("depth",))
        values = rig.wait_for_diag(lambda v: v["level"] == WARN_LEVEL)
        assert values["message"] == "RANDOM WEIGHTS: depth is meaningless", values
    finally:
        assert rig.process.stop() == 0, rig.process.log()


def test_a_graph_cache_that_fills_up_stops_inference_once_with_one_error(
    ros: TestNode, diagnostics: Collector, tmp_path: Path
) -> None:
    """Files over 40 MB fail (EFBIG, like a full disk, for root too): the first graph export fails, for good."""
    cache = tmp_path / "graphs"
    params = {"metric": True, "backend_cache": str(cache), **GRAPH_BACKEND}
    full_disk = ("bash", "-c", 'ulimit -f 40000 && exec "$@"', "bash")  # KiB; Fast DDS' segments are 32 MiB
    rig = start_rig(
        ros, diagnostics, tmp_path, "/full", params, {}, Image, "/full/image", "depth/image", prefix=full_disk
    )
    try:
        stopped = f"inference stopped: the onnxruntime backend cannot build its graphs in {cache} ("
        assert _send_until(rig, lambda: stopped in rig.process.log() or not rig.process.running(), 300.0)
        assert rig.process.running(), rig.process.log()
        received = int(rig.diag(time.time())["frames received"])
        assert _send_until(rig, lambda: int(rig.diag()["frames received"]) >= received + 5, 60.0)
        values = rig.diag(time.time())
        assert values["level"] == ERROR_LEVEL and values["message"].startswith(stopped), values
        assert "set the backend_cache parameter to another folder" in values["message"], values
        model = diagnostic_values(diagnostics, f"{rig.node_name}: model")
        assert model["level"] == ERROR_LEVEL and model["message"] == values["message"], model
        assert values["frames processed"] == "0", values
        log = rig.process.log()
        assert log.count("building onnx graph") == 1 and log.count(stopped) == 1, log
        assert list(cache.iterdir()) == [], "a failed build leaves nothing in the cache"
    finally:
        assert rig.process.stop() == 0, rig.process.log()


# --- start-up ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"checkpoint": "/nonexistent/video_depth_anything_vits.pth"},
            ["/nonexistent/video_depth_anything_vits.pth", "vda-download-weights --encoder vits", "random_weights"],
        ),
        ({"metric": True}, ["metric_video_depth_anything_vits.pth", "--metric"]),
        ({"device": "tpu"}, ["device must be one of auto, cuda, cpu; got 'tpu'"]),
        (
            {"random_weights": True, "backend": "onnxruntime", "precision": "bf16"},
            ["cannot start: the onnxruntime backend offers precision fp32, int8, not bf16"],
        ),
    ],
    ids=["missing-checkpoint", "missing-default-checkpoint", "bad-choice", "precision-the-backend-lacks"],
)
def test_start_up_errors_stop_the_node_with_a_clear_message(tmp_path: Path, params: dict, expected: list[str]) -> None:
    env = node_env(VDA_CHECKPOINT_DIR=str(tmp_path / "no_weights_here"))
    with NodeProcess(node_command(MODULE, params), tmp_path / "node.log", env) as process:
        assert process.wait(120.0) == 1
        log = process.log()
    assert "cannot start" in log and "Traceback" not in log, log
    for text in expected:
        assert text in log, log


@pytest.mark.parametrize(
    ("cache", "reason"),
    [
        ("file", "it is a file, not a folder"),
        ("file/graphs", "a part of its path is a file, not a folder"),
        ("/sys", None),  # a folder nobody may write, root included (the reason depends on how /sys is mounted)
    ],
    ids=["a-file", "under-a-file", "read-only-folder"],
)
def test_a_graph_cache_that_cannot_be_written_stops_the_node_at_start_up(
    tmp_path: Path, cache: str, reason: str | None
) -> None:
    (tmp_path / "file").write_text("not a folder")
    folder = tmp_path / cache  # an absolute cache stays as it is
    params = {"random_weights": True, "device": "cpu", "backend_cache": str(folder), **GRAPH_BACKEND}
    with NodeProcess(node_command(MODULE, params), tmp_path / "node.log") as process:
        # Without the check the node would start and fail on its first frame: do not wait for that.
        assert wait_until(lambda: not process.running() or "listening on" in process.log(), 120.0)
        assert process.wait(10.0) == 1, process.log()
        log = process.log()
    expected = f"cannot start: the graph cache folder {folder} cannot be used: "
    assert expected in log and "; choose another folder with backend_cache" in log, log
    assert reason is None or f"{expected}{reason};" in log, log
    assert "Traceback" not in log, log
    assert (tmp_path / "file").read_text() == "not a folder"


def test_the_spellings_the_tools_replaced_set_the_current_parameters_and_warn(ros: TestNode, tmp_path: Path) -> None:
    """depth_node takes the shared groups' older spellings too (vda-process-bag's, video_source's)."""
    old = {"point_stride": 2, "no_points": True, "color_range": [1.0, 5.0], "reliability": "best_effort"}
    params = {**COMMON_PARAMS, **old, "fp32": True}
    with NodeProcess(node_command(MODULE, params, {"__ns": "/old"}), tmp_path / "node.log") as process:
        assert process.wait_for_log("listening on", 120.0), process.log()
        current = ["points_stride", "publish_points", "color_min", "color_max", "output_reliability", "precision"]
        values = ros.get_parameters("/old/depth_node", current)
        log = process.log()
    assert values == {
        "points_stride": 2,
        "publish_points": False,
        "color_min": 1.0,
        "color_max": 5.0,
        "output_reliability": "best_effort",
        "precision": "fp32",
    }, values
    assert "points (advertised, off (publish_points is false))" in log, log
    for spelling, replacement in [
        ("point_stride", "points_stride"),
        ("no_points", "publish_points (false)"),
        ("color_range", "color_min and color_max"),
        ("reliability", "output_reliability"),
    ]:
        assert f"'{spelling}' is deprecated; use {replacement}" in log, log
    assert "'fp32' is deprecated" not in log, "the official run.py's shorthand is kept on purpose"


# --- parameters file and the node's pieces alone -------------------------------------------------


def test_parameters_file_declares_exactly_the_node_parameters() -> None:
    with open(REPO_ROOT / "config" / "depth.yaml") as stream:
        values = yaml.safe_load(stream)["/**"]["ros__parameters"]
    # String arrays (cameras) are absent: an empty list in a parameters file has no type for ROS.
    expected = {o.name: o.default for o in DepthSettings.options() if not isinstance(o.default, tuple)}
    assert values == expected
    assert all(type(values[k]) is type(v) for k, v in expected.items())


def test_the_node_path_on_the_network_like_scene_meets_the_issue_figures() -> None:
    """Issue 23 on depth_node's per-frame outputs (no network): the synthetic scene's metres, as a metric model would
    give them, replayed through frame_outputs with the node's default settings and a camera's ConfidenceCues."""
    sequence = quality_sequence(4)
    settings = DepthSettings()
    k = sequence.scene.intrinsics
    height, width = sequence.metric.shape[1:]
    camera = CameraModel("cam", width, height, k, np.hstack([k, np.zeros((3, 1))]))
    published = {}
    for filtering in (False, True):
        quality = settings.quality.replace(flying_pixel_filter=filtering)
        cues = ConfidenceCues()
        published[filtering] = [
            frame_outputs(
                rgb,
                depth,
                metric=True,
                settings=settings.outputs,
                camera=camera,
                quality=quality,
                want_confidence=True,
                confidence_factors=cues.next_frame(depth),
            )
            for rgb, depth in zip(sequence.scene.rgb, sequence.metric, strict=True)
        ]
    off, on = published[False], published[True]
    assert settings.quality.flying_pixel_filter, "on by default"
    figures = output_figures(sequence, [out.depth for out in off], [out.depth for out in on])
    assert figures.flying_reduction >= 5.0 and figures.interior_kept >= 0.95, figures
    gain = published_gain(sequence, [out.depth for out in off[1:]], [out.confidence for out in off[1:]], 1)
    assert gain >= 0.25
    for out in on:
        assert out.confidence is not None and (out.confidence[np.isnan(out.depth)] == 0).all()
        np.testing.assert_array_equal(np.isnan(out.cloud.xyz[..., 2]), np.isnan(out.depth))


def test_stream_continuity_reasons() -> None:
    continuity = StreamContinuity()
    assert continuity.check("a", (48, 64), 10) is None
    assert continuity.check("a", (48, 64), 10) is None  # a repeated stamp is not a jump back
    assert "size" in continuity.check("a", (60, 80), 11)
    assert "frame_id" in continuity.check("b", (60, 80), 12)
    assert "time jumped back" in continuity.check("b", (60, 80), 10)
    assert continuity.check("b", (60, 80), 13) is None
