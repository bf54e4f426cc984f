"""Comparisons that fail with teaching sentences (grader/checks.py): docs/design.md rules 5 and 7."""

import pytest
import torch

from grader.checks import check_tensor, check_tuple, check_unchanged, is_close, matching_mistakes
from grader.mistakes import Mistake

Failed = pytest.fail.Exception
f32, f64 = torch.float32, torch.float64
TOL = dict(rtol=1e-3, atol=1e-6)
FLIPPED = Mistake("kernel-flipped", "the kernel is flipped.")
ASCENT = Mistake("ascent", "the update goes uphill.")


def failure(actual, expected, **kwargs) -> str:
    """The message check_tensor fails with."""
    options = dict(name="out from f", case="shape (2, 3), float64", **TOL)
    options.update(kwargs)
    with pytest.raises(Failed) as info:
        check_tensor(actual, expected, **options)
    return str(info.value)


def test_not_a_tensor():
    """A value that is not a tensor is named by its type, with which output and which case."""
    message = failure([1.0, 2.0], torch.zeros(2, dtype=f64))
    assert message.startswith("out from f, for shape (2, 3), float64: expected a torch.Tensor, got list")
    assert "[1.0, 2.0]" in message


def test_none_is_not_a_tensor():
    """A function that forgot to return gives a sentence naming NoneType."""
    assert "expected a torch.Tensor, got NoneType" in failure(None, torch.zeros(2, dtype=f64))


def test_wrong_shape():
    """A wrong shape is reported with both shapes."""
    message = failure(torch.zeros(3, 2, dtype=f64), torch.zeros(2, 3, dtype=f64))
    assert "wrong shape (3, 2), expected (2, 3)" in message


def test_shape_is_reported_before_dtype():
    """With both shape and dtype wrong, the shape is what the learner hears about first."""
    message = failure(torch.zeros(3, dtype=f32), torch.zeros(2, dtype=f64))
    assert "wrong shape" in message and "dtype" not in message


def test_wrong_dtype():
    """A wrong dtype is reported with both dtypes, before any value is compared."""
    message = failure(torch.full((2,), 99.0, dtype=f32), torch.zeros(2, dtype=f64))
    assert "wrong dtype torch.float32, expected torch.float64" in message
    assert "beyond the tolerance" not in message


def test_nan_where_finite_expected():
    """NaN or inf where a finite value is expected: how many, and the first index with both values."""
    actual = torch.tensor([[1.0, 2.0, 3.0], [4.0, float("nan"), float("inf")]], dtype=f64)
    expected = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=f64)
    message = failure(actual, expected)
    assert "2 of 6 values are NaN or infinite where finite values are expected" in message
    assert "first at index (1, 1): got nan, expected 5" in message


def test_value_error_reports_worst_index_and_tolerance():
    """Values beyond tolerance: the count, the stated tolerance, and the worst element with its error."""
    expected = torch.arange(6, dtype=f64).reshape(2, 3)
    actual = expected.clone()
    actual[0, 1] += 0.01
    actual[1, 2] += 0.5
    message = failure(actual, expected, rtol=1e-3, atol=1e-6)
    assert "2 of 6 values are wrong beyond the tolerance" in message
    assert "(|got - expected| <= 1e-06 + 0.001 * |expected|)" in message
    assert "Worst at index (1, 2): got 5.5, expected 5, error 0.5." in message


def test_values_differing_in_later_digits_are_printed_apart():
    """Two values that read the same at 6 significant digits get more digits, never "got 1.9, expected 1.9"."""
    expected = torch.tensor([1.9], dtype=f64)
    message = failure(torch.tensor([1.9000000001], dtype=f64), expected, rtol=0.0, atol=0.0)
    assert "Worst at index (0,): got 1.9000000001, expected 1.9, error 1e-10." in message


def test_neighbouring_floats_are_printed_apart():
    """The smallest difference there is (adjacent float64 or float32 values) still shows in the digits."""
    one = torch.tensor([1.0], dtype=f64)
    message = failure(torch.nextafter(one, one + 1), one, rtol=0.0, atol=0.0)
    assert "got 1.0000000000000002, expected 1," in message
    expected = torch.tensor([1.9], dtype=f32)
    actual = torch.nextafter(expected, expected + 1)
    message = failure(actual, expected, rtol=0.0, atol=0.0)
    assert "got 1.9000001, expected 1.9," in message


def test_printed_values_differ_whenever_the_values_do():
    """For any two different finite values, the printed got and expected differ; equal ones print alike."""
    from grader.checks import _fmt_pair

    pairs = [
        (1.9000000001, 1.9),
        (1.0 + 2**-52, 1.0),
        (123456.6, 123456.7),
        (1e-300, 1.0000000000001e-300),
        (-2.5, -2.5000000000000004),
        (float("inf"), 1e308),
        (float("nan"), 5.0),
    ]
    for got, expected in pairs:
        g, e = _fmt_pair(got, expected)
        assert g != e, (got, expected, g)
    assert _fmt_pair(123456.6, 123456.7) == ("123456.6", "123456.7")  # one digit more, not 17
    assert _fmt_pair(5.5, 5.0) == ("5.5", "5")  # short forms stay short
    assert _fmt_pair(1.9, 1.9) == ("1.9", "1.9")


def test_worst_is_measured_against_the_allowed_error():
    """The worst element is the one furthest beyond its own tolerance, not the largest raw error."""
    expected = torch.tensor([1000.0, 1.0], dtype=f64)
    actual = torch.tensor([1000.5, 1.2], dtype=f64)  # 0.5 is within rtol=1e-3 of 1000; 0.2 is not
    message = failure(actual, expected, rtol=1e-3, atol=0.0)
    assert "1 of 2 values" in message
    assert "Worst at index (1,)" in message


def test_zero_dimensional_tensor():
    """A 0-d tensor reports its index as () rather than crashing."""
    message = failure(torch.tensor(2.0, dtype=f64), torch.tensor(1.0, dtype=f64))
    assert "Worst at index (): got 2, expected 1" in message


def test_passes_within_tolerance():
    """Values within atol + rtol * |expected| (boundary included) pass without a failure."""
    expected = torch.tensor([4.0, 1.0, 0.0], dtype=f64)
    actual = torch.tensor([5.0, 1.5, -0.5], dtype=f64)  # errors exactly 0.25 * 4, 0.5, 0.5
    check_tensor(actual, expected, name="x", case="c", rtol=0.25, atol=0.5)
    check_tensor(expected.clone(), expected, name="x", case="c", rtol=0.0, atol=0.0)


def test_just_beyond_tolerance_fails():
    """A hair past the boundary fails: the stated tolerance is not loosened silently."""
    expected = torch.tensor([4.0], dtype=f64)
    failure(torch.tensor([5.0001], dtype=f64), expected, rtol=0.25, atol=0.0)


def test_result_requiring_grad_is_compared():
    """A result still attached to autograd is compared by value, not refused."""
    actual = torch.ones(2, dtype=f64, requires_grad=True) * 1.0
    check_tensor(actual, torch.ones(2, dtype=f64), name="x", case="c", rtol=0.0, atol=0.0)


def test_empty_tensors_pass():
    """Two empty tensors of the same shape and dtype are equal."""
    check_tensor(torch.zeros(0, 3, dtype=f64), torch.zeros(0, 3, dtype=f64), name="x", case="c", rtol=0, atol=0)


def test_matching_non_finite_expected_values_pass():
    """NaN and infinities in `expected` are matched by the same NaN and infinities in the result."""
    expected = torch.tensor([1.0, float("nan"), float("inf"), -float("inf")], dtype=f64)
    check_tensor(expected.clone(), expected, name="x", case="c", rtol=0.0, atol=0.0)


@pytest.mark.parametrize("wrong", [-float("inf"), float("nan"), 3.0], ids=["other-inf", "nan", "finite"])
def test_differing_non_finite_expected_values_fail(wrong):
    """Where `expected` is +inf, -inf, NaN or a finite number is not accepted."""
    expected = torch.tensor([1.0, float("inf")], dtype=f64)
    actual = torch.tensor([1.0, wrong], dtype=f64)
    assert "where the expected value is infinite or NaN, the output differs" in failure(actual, expected)


def test_largest_float_is_not_infinity():
    """A finite result (the largest float64) where `expected` is +inf is a difference, not a match."""
    expected = torch.tensor([float("inf")], dtype=f64)
    actual = torch.tensor([torch.finfo(f64).max], dtype=f64)
    assert "infinite or NaN, the output differs" in failure(actual, expected)


def test_near_miss_names_the_mistake():
    """When the result equals what a known mistake predicts, the message names the mistake's tag."""
    expected = torch.tensor([1.0, 2.0, 3.0], dtype=f64)
    flipped = torch.tensor([3.0, 2.0, 1.0], dtype=f64)
    message = failure(flipped.clone(), expected, near=[(ASCENT, -expected), (FLIPPED, flipped)])
    assert "Known mistake [kernel-flipped]: the kernel is flipped." in message
    assert "[ascent]" not in message


def test_near_miss_not_named_when_result_differs():
    """A result that matches no predicted mistake names none."""
    expected = torch.tensor([1.0, 2.0, 3.0], dtype=f64)
    message = failure(torch.tensor([9.0, 9.0, 9.0], dtype=f64), expected, near=[(FLIPPED, expected.flip(0))])
    assert "Known mistake" not in message


def test_near_miss_from_a_callable_is_evaluated_only_on_failure():
    """`near` may be a zero-argument function; it is called when the check fails, never when it passes."""
    expected = torch.tensor([1.0, 2.0, 3.0], dtype=f64)
    calls = []

    def predictions():
        calls.append(1)
        return [(FLIPPED, expected.flip(0))]

    check_tensor(expected.clone(), expected, name="x", case="c", near=predictions, **TOL)
    assert calls == []
    message = failure(expected.flip(0), expected, near=predictions)
    assert "[kernel-flipped]" in message
    assert calls == [1]


def test_near_miss_named_for_nan_results():
    """A mistake that predicts NaN (say a division by zero) is named when the result has those NaNs."""
    expected = torch.tensor([1.0, 2.0], dtype=f64)
    predicted = torch.tensor([float("nan"), 2.0], dtype=f64)
    zero = Mistake("step-from-zero", "the step is counted from 0.")
    message = failure(predicted.clone(), expected, near=[(zero, predicted)])
    assert "NaN or infinite" in message and "[step-from-zero]" in message


def test_near_miss_prediction_in_another_dtype():
    """A float64 prediction names the mistake for a float32 result (compared in the result's dtype)."""
    expected = torch.tensor([1.0, 2.0], dtype=f32)
    predicted = torch.tensor([2.0, 1.0], dtype=f64)
    assert "[kernel-flipped]" in failure(predicted.to(f32), expected, near=[(FLIPPED, predicted)])


def test_matching_mistakes_lists_all_matches():
    """matching_mistakes returns every mistake whose prediction matches, in order."""
    x = torch.tensor([1.0, 2.0], dtype=f64)
    found = matching_mistakes(x, [(FLIPPED, x.clone()), (ASCENT, -x), (ASCENT, x + 1e-9)], rtol=0, atol=1e-6)
    assert found == [FLIPPED, ASCENT]


def test_is_close_basics():
    """is_close: within tolerance, same shape and dtype, same NaN and infinities; anything else is False."""
    e = torch.tensor([1.0, 2.0, float("nan"), float("inf")], dtype=f64)
    assert is_close(e + torch.tensor([1e-7, 0, 0, 0], dtype=f64), e, rtol=0, atol=1e-6)
    assert not is_close(e + torch.tensor([1e-5, 0, 0, 0], dtype=f64), e, rtol=0, atol=1e-6)
    assert is_close(torch.tensor([101.0]), torch.tensor([100.0]), rtol=0.01, atol=0.0)
    assert not is_close(e.tolist(), e, rtol=1, atol=1)
    assert not is_close(e.reshape(2, 2), e, rtol=1, atol=1)
    assert not is_close(e.float(), e, rtol=1, atol=1)
    nan_moved = torch.tensor([1.0, float("nan"), 2.0, float("inf")], dtype=f64)
    assert not is_close(nan_moved, e, rtol=1, atol=1)
    sign_flipped = torch.tensor([1.0, 2.0, float("nan"), -float("inf")], dtype=f64)
    assert not is_close(sign_flipped, e, rtol=1, atol=1)


def test_check_unchanged():
    """check_unchanged passes for an untouched input and fails, naming the mistake, for a modified one."""
    before = torch.tensor([1.0, float("nan")])
    check_unchanged(before, before.clone(), name="m", call="adam_step")
    in_place = Mistake("inputs-modified-in-place", "the inputs are modified in place.")
    with pytest.raises(Failed) as info:
        check_unchanged(before, torch.tensor([2.0, float("nan")]), name="m", call="adam_step", mistake=in_place)
    message = str(info.value)
    assert "adam_step modified its argument m in place" in message
    assert "[inputs-modified-in-place]" in message


def test_check_tuple():
    """check_tuple returns a tuple of the right length and fails with a sentence otherwise."""
    assert check_tuple([1, 2, 3], 3, name="adam_step") == (1, 2, 3)
    with pytest.raises(Failed, match=r"adam_step should return a tuple of 3 items, got a tuple of 2 items"):
        check_tuple((1, 2), 3, name="adam_step")
    with pytest.raises(Failed, match=r"got Tensor"):
        check_tuple(torch.zeros(3), 3, name="adam_step")


def test_messages_are_plain_sentences():
    """check_tensor fails with pytrace=False, so the learner sees the sentence and no harness traceback."""
    with pytest.raises(Failed) as info:
        check_tensor(1.0, torch.zeros(1), name="x", case="c", rtol=0, atol=0)
    assert info.value.pytrace is False
