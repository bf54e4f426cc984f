"""The shared test kit (grader/kit.py), and that the suites built on it name only true mistakes."""

import pytest
import torch

from grader import kit
from grader.kit import EXACT, F32, F64, Tol
from grader.mistakes import Mistake, Mutant, apply_patch


def test_randn_is_seeded_and_float32_is_float64_rounded():
    """The same seed gives the same values; a float32 case holds the float64 case's values rounded;
    a name seeds as well as an int, and a generator continues its own stream."""
    a, b = kit.randn((3, 4), 5), kit.randn((3, 4), 5)
    assert a.dtype == F64 and torch.equal(a, b)
    assert torch.equal(kit.randn((3, 4), 5, F32, scale=2.0), (2.0 * a).float())
    assert torch.equal(kit.randn((2,), "case"), kit.randn((2,), "case"))
    gen = kit.generator(5)
    first, second = kit.randn((3, 4), gen), kit.randn((3, 4), gen)
    assert torch.equal(first, a) and not torch.equal(second, a)
    u = kit.rand((1000,), 1, low=2.0, high=3.0)
    assert float(u.min()) >= 2.0 and float(u.max()) < 3.0


def test_names_for_messages():
    assert kit.dtype_name(F32) == "float32"
    assert kit.shape_name(torch.Size([3])) == "(3,)" and kit.shape_name(()) == "()"
    assert kit.describe(F64, (3, 4), lr=0.1) == "float64, shape (3, 4), lr=0.1"
    assert (
        kit.output_name("grad_weight", "linear_backward", torch.zeros(3, 5))
        == "grad_weight (of shape (3, 5)) from linear_backward"
    )
    assert kit.output_name("loss", "mse_loss", torch.tensor(1.0)) == "loss (a scalar) from mse_loss"


def test_tol_unpacks_as_rtol_and_atol_and_keeps_its_reason():
    t = Tol(1e-5, 1e-6, "float32 sums")
    assert dict(**t) == {"rtol": 1e-5, "atol": 1e-6}
    assert t.scaled(100.0).atol == pytest.approx(1e-4) and t.scaled(100.0).why == "float32 sums"
    wider = t.plus(atol=1e-3, why="huge logits")
    assert wider.atol == pytest.approx(1e-3 + 1e-6) and "huge logits" in wider.why
    assert "float32 sums" in str(t) and EXACT.rtol == EXACT.atol == 0.0


def test_backward_and_central_differences_agree_with_the_formula():
    """d/dx sum(g * sin(x) * w) by autograd and by float64 central differences, against cos(x) * g * w."""
    x, w, g = kit.randn((4,), 1), kit.randn((4,), 2), kit.randn((4,), 3)
    out, (gx, gw) = kit.backward(lambda a, b: torch.sin(a) * b, [x, w], g)
    assert torch.allclose(out, torch.sin(x) * w)
    assert torch.allclose(gx, torch.cos(x) * w * g) and torch.allclose(gw, torch.sin(x) * g)
    assert not x.requires_grad  # the caller's tensors are never touched
    loss, (lx,) = kit.backward(lambda a: (a * a).sum(), [x])
    assert torch.allclose(lx, 2 * x)
    xs = x.clone()
    (fd,) = kit.central_differences(lambda: float((g * torch.sin(xs) * w).sum()), [xs])
    assert torch.equal(xs, x)  # nudged, then restored exactly
    assert torch.allclose(fd, torch.cos(x) * w * g, rtol=1e-7, atol=1e-9)
    with pytest.raises(TypeError):
        kit.central_differences(lambda: 0.0, [x.float()])


def _message(call) -> str:
    with pytest.raises(pytest.fail.Exception) as info:
        call()
    return str(info.value)


FLIP, HALF = Mistake("flipped", "the sign is flipped."), Mistake("halved", "everything is halved.")


def test_check_outputs_names_the_output_its_shape_and_only_mistakes_that_explain_every_output():
    """A wrong output is named after a mistake only if that mistake's prediction matches every
    output of the call, not just the one at hand."""
    expected = (torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]))
    predictions = lambda: [(FLIP, (-expected[0], expected[1])), (HALF, (expected[0] / 2, expected[1] / 2))]  # noqa: E731
    check = lambda actual: kit.check_outputs(
        actual,
        expected,
        names=("a", "b"),
        of="f",
        case="case 1",  # noqa: E731
        tol=Tol(0, 1e-9, "exact"),
        near=predictions,
    )
    assert check((expected[0].clone(), expected[1].clone()))[0] is not None
    flipped = _message(lambda: check((-expected[0], expected[1])))
    assert "a (of shape (2,)) from f, for case 1" in flipped and "[flipped]" in flipped and "[halved]" not in flipped
    # The first output looks halved, but the second is right: "halved" does not explain the call.
    half_a = _message(lambda: check((expected[0] / 2, expected[1])))
    assert "[halved]" not in half_a and "Known mistake" not in half_a
    assert "[halved]" in _message(lambda: check((expected[0] / 2, expected[1] / 2)))
    assert "tuple of 2 items" in _message(lambda: check(expected[0]))


def test_check_outputs_names_a_wrong_shape_a_mistake_gives():
    expected = (torch.ones(2, 3),)
    transposed = Mistake("transposed", "transposed.")
    message = _message(
        lambda: kit.check_outputs(
            (torch.ones(3, 2),),
            expected,
            names=("w",),
            of="f",
            case="c",
            tol=EXACT,
            near=lambda: [(transposed, (torch.ones(3, 2),))],
        )
    )
    assert "wrong shape (3, 2), expected (2, 3)" in message and "[transposed]" in message


def test_nan_alone_does_not_name_a_mistake_the_other_outputs_rule_out():
    """Two mistakes that both give NaN for one output: only the one whose other outputs match."""
    nan = torch.tensor([float("nan")])
    right_m = torch.tensor([0.5])
    predictions = lambda: [(FLIP, (nan, right_m)), (HALF, (nan, right_m / 2))]  # noqa: E731
    message = _message(
        lambda: kit.check_outputs(
            (nan, right_m),
            (torch.tensor([1.0]), right_m),
            names=("p", "m"),
            of="step",
            case="c",
            tol=EXACT,
            near=predictions,
        )
    )
    assert "[flipped]" in message and "[halved]" not in message


def test_call_checking_inputs_catches_changes_and_returned_inputs():
    x = torch.tensor([1.0, -1.0])
    assert "modified its argument x" in _message(
        lambda: kit.call_checking_inputs(lambda x: x.mul_(2), dict(x=x.clone()), call="f(x)")
    )
    assert "params[0]" in _message(
        lambda: kit.call_checking_inputs(lambda params: params[0].zero_(), dict(params=[x.clone()]), call="f")
    )
    assert "itself" in _message(lambda: kit.call_checking_inputs(lambda x: x, dict(x=x), call="f(x)"))
    assert torch.equal(kit.call_checking_inputs(lambda x: x * 2, dict(x=x), call="f(x)"), 2 * x)


def test_tensor_list_and_cases():
    assert "one tensor per layer (2), got list of length 1" in _message(
        lambda: kit.tensor_list([torch.ones(1)], 2, "grads", per="layer")
    )
    assert "grads[1] should be a torch.Tensor" in _message(lambda: kit.tensor_list([torch.ones(1), 3], 2, "grads"))
    params = kit.cases({"wide matrix, lr 0.1": (F32, (16, 33)), "scalar": 5})
    assert [p.id for p in params] == ["wide matrix, lr 0.1", "scalar"]
    assert params[0].values == (F32, (16, 33)) and params[1].values == (5,)


def test_mutant_compact_and_older_forms():
    """Mutant(mistake, {old: new}) takes its id from the mistake; id= overrides it; the older
    Mutant(id, mistake, pairs) form other topics use still builds the same thing."""
    compact = Mutant("ascent", {"p - lr": "p + lr"})
    assert (compact.id, compact.mistake, compact.patch) == ("ascent", "ascent", (("p - lr", "p + lr"),))
    named = Mutant("ascent", {"p - lr": "p + lr"}, id="class-ascent")
    assert (named.id, named.mistake) == ("class-ascent", "ascent")
    older = Mutant("class-ascent", "ascent", (("p - lr", "p + lr"),))
    assert older == named
    assert apply_patch("x = p - lr\n", compact.patch, "t") == apply_patch("x = p - lr\n", {"p - lr": "p + lr"}, "t")
    with pytest.raises(ValueError):
        Mutant("ascent", {})
