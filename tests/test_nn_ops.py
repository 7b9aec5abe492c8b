"""The student-facing nn library: values, finite-difference gradients, errors, init, update."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from grader.kit import import_kit

nn, _ = import_kit()


def param(values: np.ndarray) -> Any:
    parameter = nn.Parameter(*values.shape)
    parameter.data = np.array(values, dtype=np.float64)
    return parameter


def const(values: Any) -> Any:
    return nn.Constant(np.array(values, dtype=np.float64))


# --- forward values --------------------------------------------------------------------------------


def test_forward_values_match_the_formulas() -> None:
    rng = np.random.RandomState(3)
    x, w, b = rng.randn(4, 3), rng.randn(3, 2), rng.randn(1, 3)
    assert np.array_equal(nn.Linear(const(x), const(w)).data, np.dot(x, w))
    assert np.array_equal(nn.AddBias(const(x), const(b)).data, x + b)
    assert np.array_equal(nn.Add(const(x), const(x)).data, x + x)
    assert np.array_equal(nn.DotProduct(const(x), const(b)).data, np.dot(x, b.T))
    assert np.array_equal(nn.ReLU(const(x)).data, np.maximum(x, 0))
    loss = nn.SquareLoss(const(x), const(2 * x))
    assert loss.data == np.mean(np.square(x - 2 * x) / 2)
    assert np.shape(loss.data) == ()
    labels = np.eye(3)[[0, 2, 1, 1]]
    log_probs = nn.SoftmaxLoss.log_softmax(x)
    assert np.allclose(np.exp(log_probs).sum(axis=1), 1)
    assert nn.SoftmaxLoss(const(x), const(labels)).data == np.mean(-np.sum(labels * log_probs, axis=1))


def test_class_hierarchy() -> None:
    for cls in (nn.Constant, nn.Parameter):
        assert issubclass(cls, nn.DataNode) and issubclass(cls, nn.Node)
    for cls in (nn.Add, nn.AddBias, nn.DotProduct, nn.Linear, nn.ReLU, nn.SquareLoss, nn.SoftmaxLoss):
        assert issubclass(cls, nn.FunctionNode) and issubclass(cls, nn.Node)
    x = const([[1.0]])
    node = nn.Add(x, x)
    assert node.parents == (x, x) and x.parents == []


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: nn.Parameter(4, 1), r"<Parameter shape=4x1 at 0x[0-9a-f]+>"),
        (lambda: const([[1.0, 2.0]]), r"<Constant shape=1x2 at 0x[0-9a-f]+>"),
        (lambda: nn.Linear(const(np.ones((4, 2))), const(np.ones((2, 1)))), r"<Linear shape=4x1 at 0x[0-9a-f]+>"),
        (lambda: nn.SquareLoss(const([[1.0]]), const([[2.0]])), r"<SquareLoss shape=\(\) at 0x[0-9a-f]+>"),
    ],
)
def test_repr(make: Callable[[], Any], expected: str) -> None:
    node = make()
    assert re.fullmatch(expected, repr(node))
    assert repr(node).endswith(f"at {hex(id(node))}>")


def test_format_shape() -> None:
    assert nn.format_shape((4, 1)) == "4x1"
    assert nn.format_shape(()) == "()"
    assert nn.format_shape((7,)) == "7"


# --- finite differences ----------------------------------------------------------------------------


def numeric_gradient(loss_of: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    result = np.zeros_like(array)
    for index in np.ndindex(*array.shape):
        original = array[index]
        array[index] = original + eps
        up = loss_of()
        array[index] = original - eps
        down = loss_of()
        array[index] = original
        result[index] = (up - down) / (2 * eps)
    return result


def away_from_zero(rng: np.random.RandomState, shape: tuple[int, int]) -> np.ndarray:
    values = rng.uniform(0.2, 1.5, size=shape)
    return values * rng.choice([-1.0, 1.0], size=shape)


def distribution_rows(rng: np.random.RandomState, shape: tuple[int, int]) -> np.ndarray:
    weights = rng.uniform(0.1, 1.0, size=shape)
    return weights / weights.sum(axis=1, keepdims=True)


# Each case: input arrays, and a graph from the input nodes to a loss node.
GRADIENT_CASES: dict[str, tuple[Callable[[np.random.RandomState], list[np.ndarray]], Callable[..., Any]]] = {
    "Add": (
        lambda r: [r.randn(3, 4), r.randn(3, 4), r.randn(3, 4)],
        lambda a, b, t: nn.SquareLoss(nn.Add(a, b), t),
    ),
    "AddBias": (
        lambda r: [r.randn(3, 4), r.randn(1, 4), r.randn(3, 4)],
        lambda a, b, t: nn.SquareLoss(nn.AddBias(a, b), t),
    ),
    "Linear": (
        lambda r: [r.randn(3, 4), r.randn(4, 2), r.randn(3, 2)],
        lambda a, b, t: nn.SquareLoss(nn.Linear(a, b), t),
    ),
    "ReLU": (
        lambda r: [away_from_zero(r, (3, 4)), r.randn(3, 4)],
        lambda a, t: nn.SquareLoss(nn.ReLU(a), t),
    ),
    "SquareLoss": (
        lambda r: [r.randn(3, 2), r.randn(3, 2)],
        lambda a, b: nn.SquareLoss(a, b),
    ),
    "SoftmaxLoss": (
        lambda r: [r.randn(3, 4), distribution_rows(r, (3, 4))],
        lambda logits, labels: nn.SoftmaxLoss(logits, labels),
    ),
    "shared node": (
        lambda r: [r.randn(3, 3), r.randn(3, 3)],
        lambda a, t: nn.SquareLoss(nn.Linear(nn.Add(a, a), a), t),
    ),
}


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences(case: str) -> None:
    make_inputs, build = GRADIENT_CASES[case]
    rng = np.random.RandomState(len(case))
    params = [param(values) for values in make_inputs(rng)]

    def loss_value() -> float:
        return float(nn.as_scalar(build(*params)))

    analytic = nn.gradients(build(*params), params)
    for parameter, gradient in zip(params, analytic, strict=True):
        expected = numeric_gradient(loss_value, parameter.data)
        assert gradient.data.shape == parameter.data.shape
        np.testing.assert_allclose(gradient.data, expected, rtol=1e-5, atol=1e-8)


def test_dot_product_has_no_backward() -> None:
    features, weights = param(np.ones((2, 3))), param(np.ones((1, 3)))
    loss = nn.SquareLoss(nn.DotProduct(features, weights), const(np.zeros((2, 1))))
    with pytest.raises(NotImplementedError, match=r"nn\.Linear"):
        nn.gradients(loss, [weights])
    # Even when no requested parameter sits behind it, like the original library.
    constant_only = nn.DotProduct(const(np.ones((2, 3))), const(np.ones((1, 3))))
    loss = nn.SquareLoss(constant_only, const(np.zeros((2, 1))))
    with pytest.raises(NotImplementedError):
        nn.gradients(loss, [])


# --- errors ----------------------------------------------------------------------------------------


def nan_update() -> None:
    parameter = param(np.ones((1, 2)))
    parameter.update(const([[np.inf, 0.0]]), 1.0)


def reused_loss() -> None:
    w = param(np.ones((1, 1)))
    loss = nn.SquareLoss(w, const([[0.0]]))
    nn.gradients(loss, [w])
    nn.gradients(loss, [w])


ONES_2x3 = np.ones((2, 3))
ERROR_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("parameter one dim", lambda: nn.Parameter(3), nn.ShapeError, "exactly 2 dimensions"),
    ("parameter three dims", lambda: nn.Parameter(2, 3, 4), nn.ShapeError, "exactly 2 dimensions"),
    ("parameter zero", lambda: nn.Parameter(0, 3), nn.ShapeError, "positive Python ints"),
    ("parameter negative", lambda: nn.Parameter(2, -1), nn.ShapeError, "positive Python ints"),
    ("parameter numpy int", lambda: nn.Parameter(np.int64(2), 3), nn.ShapeError, r"2 \(int64\)"),
    ("parameter float", lambda: nn.Parameter(2.0, 3), nn.ShapeError, "positive Python ints"),
    ("constant list", lambda: nn.Constant([1.0]), nn.NodeTypeError, "must be a numpy array"),
    ("constant int dtype", lambda: nn.Constant(np.array([[1, 2]])), nn.NodeTypeError, "float dtype"),
    ("update with parameter", lambda: nn.Parameter(1, 2).update(nn.Parameter(1, 2), 0.1),
     nn.NodeTypeError, "must be a Constant"),
    ("update shape", lambda: nn.Parameter(1, 2).update(const([[1.0], [2.0]]), 0.1),
     nn.ShapeError, "Update direction shape 2x1 does not match parameter shape 1x2"),
    ("update numpy float32 multiplier", lambda: nn.Parameter(1, 2).update(const([[1.0, 2.0]]), np.float32(0.1)),
     nn.NodeTypeError, "Multiplier must be a Python int or float"),
    ("update nan", nan_update, nn.NonFiniteError,
     "^Parameter contains NaN or infinity after update, cannot continue$"),
    ("parent not a node", lambda: nn.Add(const(ONES_2x3), ONES_2x3), nn.NodeTypeError, "must be nodes"),
    ("add arity", lambda: nn.Add(const(ONES_2x3)), nn.NodeTypeError, "takes 2 input"),
    ("relu arity", lambda: nn.ReLU(const(ONES_2x3), const(ONES_2x3)), nn.NodeTypeError, "takes 1 input"),
    ("add shapes", lambda: nn.Add(const(ONES_2x3), const(np.ones((3, 1)))), nn.ShapeError,
     "^Input shapes should match, instead got 2x3 and 3x1$"),
    ("add 1-D", lambda: nn.Add(const(np.ones(3)), const(np.ones(3))), nn.ShapeError, "must be 2-D"),
    ("addbias tall bias", lambda: nn.AddBias(const(ONES_2x3), const(ONES_2x3)), nn.ShapeError,
     "needs a 1x3 bias for 2x3 features, instead got 2x3"),
    ("addbias wide bias", lambda: nn.AddBias(const(ONES_2x3), const(np.ones((1, 4)))), nn.ShapeError,
     "instead got 1x4"),
    ("dotproduct weights", lambda: nn.DotProduct(const(ONES_2x3), const(np.ones((3, 1)))), nn.ShapeError,
     "needs 1x3 weights"),
    ("linear inner dims", lambda: nn.Linear(const(ONES_2x3), const(np.ones((2, 5)))), nn.ShapeError,
     "weights with 3 rows for 2x3 features, instead got 2x5"),
    ("relu 1-D", lambda: nn.ReLU(const(np.ones(3))), nn.ShapeError, "must be 2-D"),
    ("squareloss shapes", lambda: nn.SquareLoss(const(ONES_2x3), const(np.ones((2, 1)))), nn.ShapeError,
     "Input shapes should match, instead got 2x3 and 2x1"),
    ("softmax shapes", lambda: nn.SoftmaxLoss(const(ONES_2x3), const(np.ones((2, 1)))), nn.ShapeError,
     "Input shapes should match"),
    ("softmax negative labels", lambda: nn.SoftmaxLoss(const(ONES_2x3), const([[1.5, -0.5, 0.0]] * 2)),
     nn.LabelError, "non-negative"),
    ("softmax rows not summing to 1", lambda: nn.SoftmaxLoss(const(ONES_2x3), const([[0.5, 0.4, 0.0]] * 2)),
     nn.LabelError, "sum to 1"),
    ("softmax nan labels", lambda: nn.SoftmaxLoss(const(ONES_2x3), const([[np.nan, 1.0, 0.0]] * 2)),
     nn.LabelError, "non-negative"),
    ("softmax labels swapped", lambda: nn.SoftmaxLoss(const([[1.0, 0.0]]), const([[3.0, -2.0]])),
     nn.LabelError, "logits first"),
    ("gradients of non-loss", lambda: nn.gradients(nn.ReLU(const(ONES_2x3)), []), nn.NodeTypeError,
     "SquareLoss or SoftmaxLoss"),
    ("gradients wrt constant", lambda: nn.gradients(nn.SquareLoss(const(ONES_2x3), const(ONES_2x3)),
                                                    [const(ONES_2x3)]),
     nn.NodeTypeError, "must all be nn.Parameter"),
    ("reused loss", reused_loss, nn.GraphReuseError,
     "^Loss node has already been used for backpropagation, cannot reuse$"),
    ("as_scalar of array", lambda: nn.as_scalar(np.ones((1, 1))), nn.NodeTypeError, "needs a node"),
    ("as_scalar of 2x1", lambda: nn.as_scalar(const([[1.0], [2.0]])), nn.ShapeError,
     "exactly one value, instead got shape 2x1"),
]


@pytest.mark.parametrize(("name", "action", "error", "message"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors(name: str, action: Callable[[], Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        action()
    # Student code written for the original library may catch AssertionError.
    assert isinstance(caught.value, AssertionError)
    assert isinstance(caught.value, nn.NNError)


def test_error_classes_are_standard_exceptions_too() -> None:
    assert issubclass(nn.ShapeError, ValueError)
    assert issubclass(nn.NodeTypeError, TypeError)
    assert issubclass(nn.LabelError, ValueError)
    assert issubclass(nn.GraphReuseError, RuntimeError)
    assert issubclass(nn.NonFiniteError, ArithmeticError)


# --- parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "n", "m"), [(0, 784, 200), (1, 1, 1), (7, 1, 50), (12345, 10, 3)])
def test_parameter_init_reproduces_the_seeded_draw(seed: int, n: int, m: int) -> None:
    np.random.seed(seed)
    data = nn.Parameter(n, m).data
    np.random.seed(seed)
    limit = np.sqrt(3.0 / np.mean((n, m)))
    expected = np.random.uniform(low=-limit, high=limit, size=(n, m))
    assert data.dtype == np.float64 and data.shape == (n, m)
    assert np.array_equal(data, expected)
    # The next draw continues from the same state.
    after = np.random.uniform()
    np.random.seed(seed)
    nn.Parameter(n, m)
    assert np.random.uniform() == after


def test_update_is_in_place_and_exact() -> None:
    parameter = param(np.array([[1.0, -2.0, 3.0]]))
    array = parameter.data
    direction = const([[0.5, 0.25, -1.0]])
    parameter.update(direction, -0.1)
    assert parameter.data is array
    assert np.array_equal(array, np.array([[1.0, -2.0, 3.0]]) + -0.1 * direction.data)
    for multiplier in (2, 0.5, np.float64(0.5), True):
        parameter.update(direction, multiplier)


UPDATE_CASES = ["finite", "sum overflows", "inf", "-inf", "nan", "inf and -inf"]


@pytest.mark.parametrize("case", UPDATE_CASES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 64), (200, 10), (784, 200)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_update_is_the_literal_update_and_check(case: str, shape: tuple[int, int], dtype: Any) -> None:
    """`data += multiplier * direction`, then NonFiniteError exactly when a value is not finite: the finiteness
    comes from a sum, which can overflow with every value finite (then no error), small or large parameters."""
    rng = np.random.RandomState(sum(shape))
    start = rng.uniform(-1, 1, size=shape).astype(dtype)
    step = rng.uniform(-1, 1, size=shape).astype(dtype)
    big = np.finfo(dtype).max
    if case == "sum overflows":  # every value finite, their sum is not (a 1x1 cannot overflow)
        start[...] = big / 2
        step[...] = 0.75 if start.size > 1 else 0.5
    elif case != "finite":
        values = {"inf": [np.inf], "-inf": [-np.inf], "nan": [np.nan], "inf and -inf": [np.inf, -np.inf]}[case]
        for index, value in enumerate(values):
            step.flat[(index * 7919) % step.size] = value
    for multiplier in (1, 0.5, np.float64(0.5), True):
        parameter = nn.Parameter(*shape)
        parameter.data = start.copy()
        array = parameter.data
        expected = start.copy()
        expected += multiplier * step
        should_fail = not np.all(np.isfinite(expected))
        if should_fail:
            with pytest.raises(nn.NonFiniteError, match="NaN or infinity"):
                parameter.update(nn.Constant(step), multiplier)
        else:
            parameter.update(nn.Constant(step), multiplier)
            parameter.update(nn.Constant(step), 0.0)  # again, with the buffers it may have kept
            expected += 0.0 * step
        assert parameter.data is array and array.dtype == dtype
        assert array.tobytes() == expected.tobytes()
        assert should_fail == (case not in ("finite", "sum overflows"))
        assert sorted(vars(parameter)) == ["data", "parents"]  # nothing of ours for students to see


def test_update_nan_keeps_the_nan_visible() -> None:
    parameter = param(np.ones((1, 2)))
    with pytest.raises(nn.NonFiniteError):
        parameter.update(const([[np.nan, 0.0]]), 1.0)
    assert np.isnan(parameter.data[0, 0])


def test_as_scalar() -> None:
    loss = nn.SquareLoss(const([[1.0, 2.0]]), const([[0.0, 0.0]]))
    value = nn.as_scalar(loss)
    assert type(value) is float and value == 1.25
    single = nn.Constant(np.array([[2.5]], dtype=np.float32))
    assert type(nn.as_scalar(single)) is float and nn.as_scalar(single) == 2.5


def test_label_row_check_agrees_with_allclose() -> None:
    tolerance = 1e-08 + 1e-05
    near = 1.0 + np.array([0.0, tolerance, -tolerance, np.nextafter(tolerance, 1), -np.nextafter(tolerance, 1)])
    values = np.concatenate([near, [np.inf, -np.inf, np.nan, 0.0, 2.0], 1.0 + np.random.RandomState(0).uniform(
        -2e-5, 2e-5, size=200)])
    for value in values:
        row = np.array([[value * 0.25, value * 0.75]])
        for labels in (row, row.astype(np.float32)):
            assert nn._rows_sum_to_one(labels) == np.allclose(np.sum(labels, axis=1), 1)


def test_kit_modules_are_the_top_level_ones() -> None:
    import sys

    from grader.kit import KIT_DIR

    again_nn, again_backend = import_kit()
    assert again_nn is nn and again_backend.nn is nn
    assert sys.modules["nn"] is nn and sys.modules["backend"] is again_backend
    assert sys.path.count(str(KIT_DIR)) == 1
