"""The training loss equals the official loss/loss.py (values recorded by running it) and rejects bad input."""

from pathlib import Path

import numpy as np
import pytest
import torch

from vda_ros.training import LossInputError, VideoDepthLoss

FIXTURE = Path(__file__).parents[1] / "fixtures" / "training" / "official_loss.npz"
NAMES = ("spatial_loss", "stable_loss", "total_loss")


def _cases() -> list[int]:
    with np.load(FIXTURE) as data:
        return list(range(int(data["cases"])))


@pytest.mark.parametrize("case", _cases())
def test_matches_official_values_and_gradients(case: int) -> None:
    with np.load(FIXTURE) as data:
        fixture = {k[len(f"case{case}_") :]: data[k] for k in data.files if k.startswith(f"case{case}_")}
    loss = VideoDepthLoss(trim=float(fixture["trim"]))
    for name in NAMES:
        prediction = torch.tensor(fixture["prediction"], requires_grad=True)
        out = loss(prediction, torch.tensor(fixture["target"]), torch.tensor(fixture["mask"]))
        assert set(out) == set(NAMES)
        (grad,) = torch.autograd.grad(out[name], prediction)
        expected = float(fixture[name])
        assert expected != 0.0
        assert abs(out[name].item() - expected) <= 1e-6 * abs(expected), (name, out[name].item(), expected)
        expected_grad = fixture[name + "_grad"]
        assert np.abs(expected_grad).max() > 0
        error = np.abs(grad.numpy() - expected_grad).max()
        assert error <= 1e-6 * np.abs(expected_grad).max(), (name, error)


def test_float_mask_equals_boolean_mask() -> None:
    generator = torch.Generator().manual_seed(0)
    prediction = torch.rand(1, 3, 10, 10, generator=generator)
    target = torch.rand(1, 3, 10, 10, generator=generator) + 1
    mask = torch.rand(1, 3, 10, 10, generator=generator) > 0.3
    loss = VideoDepthLoss()
    assert loss(prediction, target, mask)["total_loss"] == loss(prediction, target, mask.float())["total_loss"]


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        (((1, 2, 8, 8), (1, 2, 8, 9), (1, 2, 8, 8)), "same"),
        (((2, 8, 8), (2, 8, 8), (2, 8, 8)), r"\(B, T, H, W\)"),
        (((1, 1, 8, 8), (1, 1, 8, 8), (1, 1, 8, 8)), "at least 2 frames"),
    ],
)
def test_bad_shapes_are_named(shapes: tuple, message: str) -> None:
    p, t, m = (torch.ones(s) for s in shapes)
    with pytest.raises(LossInputError, match=message):
        VideoDepthLoss()(p, t, m.bool())


def test_empty_or_non_binary_mask_is_an_error() -> None:
    p = torch.rand(1, 2, 8, 8)
    with pytest.raises(LossInputError, match="mask is empty"):
        VideoDepthLoss()(p, p + 1, torch.zeros(1, 2, 8, 8, dtype=torch.bool))
    with pytest.raises(LossInputError, match="only 0 and 1"):
        VideoDepthLoss()(p, p + 1, torch.full((1, 2, 8, 8), 0.5))
