"""Preprocessing rules of the official pipeline: network sizes, exact CPU numbers, and the device path."""

import cv2
import numpy as np
import pytest
import torch

from vda_ros.model.preprocess import network_size, preprocess, preprocess_on_device, to_frame_size


@pytest.mark.parametrize(
    ("frame", "input_size", "expected"),
    [
        ((96, 128), 280, (280, 378)),
        ((240, 320), 280, (280, 378)),
        ((160, 320), 280, (252, 504)),
        ((480, 640), 518, (518, 686)),
        ((540, 960), 518, (518, 924)),
        ((720, 1280), 518, (518, 924)),
        ((1080, 1920), 518, (518, 924)),
        ((1280, 720), 518, (924, 518)),
        ((375, 1242), 518, (280, 924)),
        ((436, 1024), 518, (392, 924)),
        ((720, 1280), 1024, (1036, 1820)),
        ((480, 640), 505, (518, 672)),
    ],
)
def test_network_size_matches_upstream_examples(
    frame: tuple[int, int], input_size: int, expected: tuple[int, int]
) -> None:
    assert network_size(*frame, input_size) == expected


def test_cpu_path_is_float32_division_cubic_and_float64_normalisation() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    got = preprocess(frame, (28, 42))
    image = cv2.resize(frame.astype(np.float32) / np.float32(255), (42, 28), interpolation=cv2.INTER_CUBIC)
    expected = ((image - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])).astype(np.float32)
    assert got.dtype == torch.float32 and got.shape == (3, 28, 42)
    np.testing.assert_array_equal(got.numpy(), expected.transpose(2, 0, 1))


@pytest.mark.parametrize(("shape", "size"), [((96, 128, 3), (280, 378)), ((480, 640, 3), (518, 686))])
def test_device_path_matches_cpu_path(shape: tuple[int, int, int], size: tuple[int, int]) -> None:
    """Same resize kernel on the device: within 1e-4 in [0, 1] units even on noise (worst case for cubic)."""
    frame = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    difference = (preprocess(frame, size) - preprocess_on_device(frame, size, torch.device("cpu"))) * std
    assert difference.abs().max() < 1e-4


def test_back_to_frame_size_is_bilinear_align_corners() -> None:
    depth = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    out = to_frame_size(depth, 3, 3)
    np.testing.assert_allclose(out[0].numpy(), [[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]])
