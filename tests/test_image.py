import pytest
import torch

from restorekit.errors import AlgorithmError, InvalidImageError
from restorekit.image import (
    check_image,
    from_numpy,
    image_from_bhwc,
    image_to_bhwc,
    mask_from_bhw,
    mask_to_bhw,
    match_batch,
    match_channels,
    to_numpy,
)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_round_trip_keeps_pixels_and_alpha(channels):
    x = torch.rand(2, 5, 7, channels)
    split = image_from_bhwc(x)
    assert split.pixels.shape == (2, channels - (channels in (2, 4)), 5, 7)
    assert split.pixels.is_contiguous() and split.pixels.dtype == torch.float32
    assert (split.alpha is not None) == (channels in (2, 4))
    back = image_to_bhwc(split.pixels, split.alpha)
    assert back.shape == x.shape and back.is_contiguous()
    assert torch.equal(back, x)


def test_three_dimensional_image_is_a_batch_of_one():
    assert image_from_bhwc(torch.rand(4, 4, 3)).pixels.shape == (1, 3, 4, 4)


def test_non_contiguous_and_half_input():
    x = torch.rand(1, 3, 8, 8).permute(0, 2, 3, 1)  # non-contiguous [B,H,W,C] view
    assert not x.is_contiguous()
    out = image_from_bhwc(x.half())
    assert out.pixels.dtype == torch.float32 and out.pixels.is_contiguous()


def test_values_are_clamped_to_unit_range():
    x = torch.tensor([[[[-0.5], [1.5]]]])
    assert image_from_bhwc(x).pixels.flatten().tolist() == [0.0, 1.0]


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(1, 4, 4, 5), "channels"),
        (torch.rand(4, 4), "shape"),
        (torch.zeros(1, 0, 4, 3), "empty"),
        (torch.full((1, 2, 2, 3), float("nan")), "NaN"),
        (torch.full((1, 2, 2, 3), float("inf")), "NaN or infinite"),
        (torch.zeros(1, 2, 2, 3, dtype=torch.uint8), "floating-point"),
        ("not a tensor", "IMAGE tensor"),
    ],
)
def test_bad_images_are_rejected_with_a_message(bad, message):
    with pytest.raises(InvalidImageError, match=message) as info:
        image_from_bhwc(bad, "my_input")
    assert "my_input" in str(info.value)


def test_to_comfy_rejects_nan_results():
    with pytest.raises(AlgorithmError, match="NaN"):
        image_to_bhwc(torch.full((1, 3, 2, 2), float("nan")))


def test_to_comfy_size_change_with_alpha_is_an_error():
    with pytest.raises(AlgorithmError, match="alpha"):
        image_to_bhwc(torch.rand(1, 3, 4, 4), torch.rand(1, 1, 2, 2))


def test_masks():
    m = mask_from_bhw(torch.rand(2, 5, 6))
    assert m.shape == (2, 1, 5, 6)
    assert mask_from_bhw(torch.rand(5, 6)).shape == (1, 1, 5, 6)
    assert mask_to_bhw(m).shape == (2, 5, 6)
    with pytest.raises(InvalidImageError):
        mask_from_bhw(torch.rand(1, 2, 3, 4))


def test_check_image():
    check_image(torch.rand(1, 3, 2, 2))
    for bad in (torch.rand(3, 2, 2), torch.rand(1, 4, 2, 2), torch.zeros(1, 1, 2, 2, dtype=torch.int32)):
        with pytest.raises(InvalidImageError):
            check_image(bad)


def test_match_batch_and_channels():
    x = torch.rand(1, 1, 4, 4)
    assert match_batch(x, 3, "ref").shape[0] == 3
    with pytest.raises(InvalidImageError, match="ref"):
        match_batch(torch.rand(2, 1, 4, 4), 3, "ref")
    assert match_channels(x, 3).shape == (1, 3, 4, 4)
    rgb = torch.rand(1, 3, 4, 4)
    assert match_channels(rgb, 1).shape == (1, 1, 4, 4)


def test_numpy_bridge_is_contiguous_and_round_trips():
    x = torch.rand(2, 3, 5, 4).to(memory_format=torch.channels_last)
    arr = to_numpy(x)
    assert arr.shape == (2, 5, 4, 3) and arr.flags["C_CONTIGUOUS"] and arr[1].flags["C_CONTIGUOUS"]
    assert torch.equal(from_numpy(arr, x), x.contiguous())


def test_alpha_fitted_to_a_resized_result():
    from restorekit.image import alpha_for

    alpha = torch.zeros(2, 1, 4, 6)
    alpha[..., :, 3:] = 1.0
    same = torch.rand(2, 3, 4, 6)
    assert alpha_for(alpha, same) is alpha
    bigger = alpha_for(alpha, torch.rand(2, 3, 8, 12))
    assert bigger.shape == (2, 1, 8, 12) and bigger.min() >= 0 and bigger.max() <= 1
    assert bigger[..., :, :4].max() < 0.5 and bigger[..., :, 8:].min() > 0.5
    assert alpha_for(alpha, torch.rand(1, 3, 4, 6)) is None
    assert alpha_for(None, same) is None
