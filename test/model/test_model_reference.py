"""Parity with the official implementation: the same weights and frames must give the same depths.

The reference files were produced by the official code on CPU in fp32 with seeded random weights; matching
them to 1e-4 of their range is the evidence that the released checkpoints will give the released depths.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vda_ros.model import OfflineDepth, StreamingDepth, random_model

TOLERANCE = 1e-4
INPUT_SIZE = 280


def load_frames(reference_dir: Path) -> list[np.ndarray]:
    paths = sorted((reference_dir / "frames_a").glob("*.png"))
    assert len(paths) == 48
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def assert_matches_reference(depths: np.ndarray, reference_file: Path, frames: int | None = None) -> None:
    """`depths` equal the reference file's (its first `frames` only, when given) within the tolerance."""
    reference = np.load(reference_file)["depths"][:frames]
    assert depths.shape == reference.shape, f"shape {depths.shape} != reference {reference.shape}"
    assert depths.dtype == np.float32
    limit = TOLERANCE * float(np.abs(reference).max())
    errors = np.abs(depths - reference).reshape(len(reference), -1).max(axis=1)
    worst = int(errors.argmax())
    assert errors.max() <= limit, (
        f"frame {worst}: max abs error {errors[worst]:.3g} > {limit:.3g} ({reference_file.name})"
    )


@pytest.fixture(scope="module")
def frames(reference_dir: Path) -> list[np.ndarray]:
    return load_frames(reference_dir)


@pytest.mark.slow
def test_streaming_matches_official(frames: list[np.ndarray], reference_dir: Path) -> None:
    engine = StreamingDepth(random_model("vits", seed=0), input_size=INPUT_SIZE, device="cpu", precision="fp32")
    depths = np.stack([engine.step(frame) for frame in frames])
    assert_matches_reference(depths, reference_dir / "vits_seed0_a_stream_280.npz")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("metric", "reference_name"),
    [(False, "vits_seed0_a_offline_280.npz"), (True, "vits_seed0_a_offline_metric_280.npz")],
    ids=["relative", "metric"],
)
def test_offline_matches_official(
    frames: list[np.ndarray], reference_dir: Path, metric: bool, reference_name: str
) -> None:
    engine = OfflineDepth(
        random_model("vits", seed=0, metric=metric), input_size=INPUT_SIZE, device="cpu", precision="fp32"
    )
    depths = np.stack(list(engine.run(iter(frames))))
    assert_matches_reference(depths, reference_dir / reference_name)


def test_reference_check_detects_a_wrong_model(frames: list[np.ndarray], reference_dir: Path) -> None:
    """The tolerance is tight enough that another seed (a different network) fails it."""
    engine = StreamingDepth(random_model("vits", seed=1), input_size=INPUT_SIZE, device="cpu", precision="fp32")
    depths = np.stack([engine.step(frame) for frame in frames[:2]])
    reference = np.load(reference_dir / "vits_seed0_a_stream_280.npz")["depths"][:2]
    assert np.abs(depths - reference).max() > 100 * TOLERANCE * np.abs(reference).max()
