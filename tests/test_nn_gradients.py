"""nn.gradients against a slow, literal reading of the contract, bit for bit, on random graphs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from grader.kit import import_kit

nn, _ = import_kit()


# --- the reference: the contract read literally ----------------------------------------------------


def reference_backward(node: Any, g: Any) -> list[Any]:
    inputs = [parent.data for parent in node.parents]
    kind = type(node)
    if kind in (nn.Constant, nn.Parameter):
        return []
    if kind is nn.Add:
        return [g, g]
    if kind is nn.AddBias:
        return [g, np.sum(g, axis=0, keepdims=True)]
    if kind is nn.Linear:
        x, w = inputs
        return [np.dot(g, w.T), np.dot(x.T, g)]
    if kind is nn.ReLU:
        return [g * np.where(inputs[0] > 0, 1.0, 0.0)]
    if kind is nn.SquareLoss:
        a, b = inputs
        return [g * (a - b) / a.size, g * (b - a) / a.size]
    if kind is nn.SoftmaxLoss:
        logits, labels = inputs
        log_probs = logits - np.max(logits, axis=1, keepdims=True)
        log_probs -= np.log(np.sum(np.exp(log_probs), axis=1, keepdims=True))
        batch = logits.shape[0]
        return [g * (np.exp(log_probs) - labels) / batch, g * -log_probs / batch]
    return list(node._backward(g, *inputs))  # a student's own operation


def reference_gradients(loss: Any, parameters: list[Any], zero_start: bool = True) -> list[np.ndarray]:
    tape: list[Any] = []
    seen: set[Any] = set()

    def visit(node: Any) -> None:
        if node not in seen:
            for parent in node.parents:
                visit(parent)
            seen.add(node)
            tape.append(node)

    visit(loss)
    grads: dict[Any, Any] = {node: np.zeros_like(node.data) for node in seen | set(parameters)}
    if not zero_start:  # a deliberately wrong variant: the first contribution is taken as is
        grads = {}
    grads[loss] = 1.0
    for node in reversed(tape):
        for parent, contribution in zip(node.parents, reference_backward(node, grads[node]), strict=False):
            if parent in grads:
                grads[parent] += contribution
            else:
                grads[parent] = np.broadcast_to(contribution, parent.data.shape).astype(parent.data.dtype)
    return [grads.get(parameter, np.zeros_like(parameter.data)) for parameter in parameters]


def assert_bits_equal(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    assert np.array_equal(ours, expected)
    assert np.array_equal(np.signbit(ours), np.signbit(expected)), "signed zeros differ"


# --- random graphs ---------------------------------------------------------------------------------


class Scale2(nn.FunctionNode):
    """A student-style custom operation, with a backward that is not one of ours."""

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        return inputs[0] * 2.0

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        return [gradient * 2.0]


def random_array(rng: np.random.RandomState, shape: tuple[int, int], dtype: Any = np.float64) -> np.ndarray:
    values = rng.randn(*shape)
    style = rng.randint(4)
    if style == 1:  # exact zeros and negative zeros, for ReLU masks and signed-zero sums
        values[rng.rand(*shape) < 0.4] = 0.0
        values[rng.rand(*shape) < 0.2] = -0.0
    elif style == 2:  # an all-zero column: its weight gradients are sums of (signed) zeros
        values[:, rng.randint(shape[1])] = 0.0
    elif style == 3:
        values = -np.abs(values)
    return values.astype(dtype)


def build_random_graph(seed: int) -> tuple[Any, list[Any]]:
    """A random loss graph and a random request list (with repeats and unused parameters)."""
    rng = np.random.RandomState(seed)
    np.random.seed(seed)
    batch = int(rng.randint(1, 5))
    widths = [2, 3, 4]
    params: list[Any] = []
    pool: list[Any] = []

    def new_param(rows: int, cols: int) -> Any:
        parameter = nn.Parameter(rows, cols)
        if rng.rand() < 0.3:
            parameter.data = random_array(rng, (rows, cols))
        params.append(parameter)
        return parameter

    def pick(shape: tuple[int, int] | None = None) -> Any:
        candidates = [node for node in pool if shape is None or node.data.shape == shape]
        return candidates[rng.randint(len(candidates))] if candidates else None

    for width in widths:
        pool.append(nn.Constant(random_array(rng, (batch, width))))
        pool.append(nn.Constant(random_array(rng, (batch, width), np.float32)))
        pool.append(new_param(batch, width))

    for _ in range(int(rng.randint(3, 20))):
        op = rng.randint(6)
        node = pick()
        rows, cols = node.data.shape
        if op == 0:
            other = pick((rows, cols)) if rng.rand() < 0.7 else node  # sometimes the same node twice
            pool.append(nn.Add(node, other))
        elif op == 1:
            bias = pick((1, cols)) if rng.rand() < 0.2 else None
            pool.append(nn.AddBias(node, bias if bias is not None else new_param(1, cols)))
        elif op == 2:
            out = widths[rng.randint(len(widths))]
            existing = [p for p in params if p.data.shape == (cols, out)]
            weights = existing[0] if existing and rng.rand() < 0.5 else new_param(cols, out)
            pool.append(nn.Linear(node, weights))
        elif op == 3:
            pool.append(nn.ReLU(node))
        elif op == 4 and rows == cols:
            pool.append(nn.Linear(node, node))
        elif op == 5:
            pool.append(Scale2(node))

    output = pool[-1]
    rows, cols = output.data.shape
    choice = rng.randint(4)
    if choice == 0:
        loss = nn.SquareLoss(output, nn.Constant(random_array(rng, (rows, cols))))
    elif choice == 1:
        other = pick((rows, cols))
        loss = nn.SquareLoss(output, other)
    elif choice == 2:
        labels = np.eye(cols)[rng.randint(cols, size=rows)]
        loss = nn.SoftmaxLoss(output, nn.Constant(labels.astype(rng.choice([np.float64, np.float32]))))
    else:
        labels = new_param(rows, cols)
        weights = rng.uniform(0.0, 1.0, size=(rows, cols))
        weights[:, 0] = 0.0
        labels.data = weights / weights.sum(axis=1, keepdims=True)
        loss = nn.SoftmaxLoss(output, labels)

    unused = nn.Parameter(2, 2)
    requested = [p for p in params if rng.rand() < 0.8] + [unused]
    if requested and rng.rand() < 0.3:
        requested.append(requested[0])
    order = rng.permutation(len(requested))
    return loss, [requested[i] for i in order]


@pytest.mark.parametrize("block", range(4))
def test_gradients_are_bit_identical_to_the_reference(block: int) -> None:
    negative_zero_grads = 0
    for seed in range(block * 100, block * 100 + 100):
        loss, requested = build_random_graph(seed)
        expected = reference_gradients(loss, requested)
        ours = nn.gradients(loss, requested)
        assert len(ours) == len(requested)
        for gradient, reference in zip(ours, expected, strict=True):
            assert isinstance(gradient, nn.Constant)
            assert_bits_equal(gradient.data, reference)
            negative_zero_grads += int(np.any(np.signbit(gradient.data) & (gradient.data == 0)))
    assert negative_zero_grads == 0  # the zeros-then-add start turns every -0.0 into +0.0


def test_the_random_graphs_exercise_signed_zeros() -> None:
    """Summing without the zeros start gives different bits on these graphs, so the test above can fail."""
    differing = 0
    for seed in range(100):
        loss, requested = build_random_graph(seed)
        expected = reference_gradients(loss, requested)
        naive = reference_gradients(loss, requested, zero_start=False)
        differing += any(
            not np.array_equal(np.signbit(a), np.signbit(b)) for a, b in zip(naive, expected, strict=True)
        )
    assert differing > 0


@pytest.mark.parametrize("shape", [(2, 3), (3, 3)])
def test_pass_through_gradients_shared_by_several_nodes(shape: tuple[int, int]) -> None:
    """Add and AddBias hand the same gradient to several parents; later sums must not leak across."""
    np.random.seed(2)
    a, b, c = nn.Parameter(*shape), nn.Parameter(*shape), nn.Parameter(1, shape[1])
    x = nn.Constant(np.random.randn(*shape))
    inner = nn.Add(a, b)
    outer = nn.Add(nn.AddBias(inner, c), a)
    twice = nn.Add(outer, nn.ReLU(nn.Add(x, b)))
    loss = nn.SquareLoss(twice, nn.AddBias(x, c))
    requested = [a, b, c]
    expected = reference_gradients(loss, requested)
    for gradient, reference in zip(nn.gradients(loss, requested), expected, strict=True):
        assert_bits_equal(gradient.data, reference)


def test_each_parameter_gets_its_own_array() -> None:
    a, b = nn.Parameter(2, 3), nn.Parameter(2, 3)
    loss = nn.SquareLoss(nn.Add(a, b), nn.Constant(np.zeros((2, 3))))
    grad_a, grad_b, grad_a_again = nn.gradients(loss, [a, b, a])
    assert np.array_equal(grad_a.data, grad_b.data)
    assert not np.shares_memory(grad_a.data, grad_b.data)
    assert grad_a_again.data is grad_a.data  # as the original: one accumulator per parameter


def test_unrelated_parameters_get_zeros() -> None:
    w, unused = nn.Parameter(3, 1), nn.Parameter(4, 5)
    loss = nn.SquareLoss(nn.Linear(nn.Constant(np.ones((2, 3))), w), nn.Constant(np.zeros((2, 1))))
    grad_unused, grad_w = nn.gradients(loss, [unused, w])
    assert np.array_equal(grad_unused.data, np.zeros((4, 5))) and not np.signbit(grad_unused.data).any()
    assert grad_w.data.shape == (3, 1) and np.any(grad_w.data != 0)
    assert nn.gradients(nn.SquareLoss(w, w), []) == []


def test_a_loss_backpropagates_once_even_with_other_parameters() -> None:
    w = nn.Parameter(1, 1)
    loss = nn.SquareLoss(w, nn.Constant(np.zeros((1, 1))))
    nn.gradients(loss, [])
    with pytest.raises(nn.GraphReuseError, match="cannot reuse"):
        nn.gradients(loss, [w])
    fresh = nn.SquareLoss(w, nn.Constant(np.zeros((1, 1))))
    assert nn.gradients(fresh, [w])[0].data.shape == (1, 1)


def test_parameters_may_be_any_iterable() -> None:
    w = nn.Parameter(1, 1)
    loss = nn.SquareLoss(w, nn.Constant(np.zeros((1, 1))))
    (gradient,) = nn.gradients(loss, (p for p in [w]))
    assert np.array_equal(gradient.data, w.data)


def test_deep_graphs_do_not_hit_the_recursion_limit() -> None:
    w = nn.Parameter(1, 3)
    node: Any = w
    for _ in range(5000):
        node = nn.Add(node, nn.Constant(np.zeros((1, 3))))
    (gradient,) = nn.gradients(nn.SquareLoss(node, nn.Constant(np.zeros((1, 3)))), [w])
    np.testing.assert_allclose(gradient.data, w.data / 3)


def test_backward_reads_parameter_values_at_gradient_time() -> None:
    """Like the original: an update between forward and gradients is seen by the backward pass."""
    np.random.seed(5)
    x = nn.Constant(np.random.randn(4, 3))
    w1, w2 = nn.Parameter(3, 5), nn.Parameter(5, 2)
    logits = nn.Linear(nn.ReLU(nn.Linear(x, w1)), w2)
    loss = nn.SoftmaxLoss(logits, nn.Constant(np.eye(2)[[0, 1, 1, 0]]))
    w2.update(nn.Constant(np.ones((5, 2))), 0.5)
    logits.data = logits.data * 3.0  # a changed logits array must not reuse cached log-probabilities
    expected = reference_gradients(loss, [w1, w2])
    for gradient, reference in zip(nn.gradients(loss, [w1, w2]), expected, strict=True):
        assert_bits_equal(gradient.data, reference)


def test_loss_values_are_the_original_expressions() -> None:
    np.random.seed(11)
    a, b = np.random.randn(5, 3), np.random.randn(5, 3)
    assert nn.SquareLoss(nn.Constant(a), nn.Constant(b)).data == np.mean(np.square(a - b) / 2)
    labels = np.eye(3)[[0, 1, 2, 2, 1]]
    log_probs = a - np.max(a, axis=1, keepdims=True)
    log_probs -= np.log(np.sum(np.exp(log_probs), axis=1, keepdims=True))
    value = nn.SoftmaxLoss(nn.Constant(a), nn.Constant(labels)).data
    assert value == np.mean(-np.sum(labels * log_probs, axis=1))


class SignProbe(nn.FunctionNode):
    """A student operation whose backward makes the sign of every zero in its gradient visible."""

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        return inputs[0] * 1.0

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        return [np.copysign(1.0, gradient)]


def test_a_students_backward_sees_the_zeros_start() -> None:
    """Negative zeros from a ReLU mask must reach a student's backward as +0.0, as in the contract."""
    x = nn.Constant(np.array([[1.0, -1.0], [2.0, -3.0]]))
    w = nn.Parameter(2, 2)
    w.data = np.array([[1.0, 0.5], [0.25, 1.0]])
    loss = nn.SquareLoss(nn.ReLU(SignProbe(nn.Linear(x, w))), nn.Constant(np.full((2, 2), 5.0)))
    expected = reference_gradients(loss, [w])
    (gradient,) = nn.gradients(loss, [w])
    assert_bits_equal(gradient.data, expected[0])
    # Every output is below its target and one ReLU input is negative: g * 0.0 there is -0.0 before
    # the zeros start, which the probe would turn into a -1 in w's gradient.
    probe = loss.parents[0].parents[0]
    assert np.all(loss.parents[0].data < 5.0) and np.any(probe.data <= 0)


def test_relu_in_place_backward_keeps_shared_gradients_intact() -> None:
    """A ReLU whose gradient is shared (Add hands one array to both parents) must not write into it."""
    np.random.seed(4)
    w1, w2 = nn.Parameter(3, 4), nn.Parameter(3, 4)
    x = nn.Constant(np.random.randn(2, 3))
    a, b = nn.Linear(x, w1), nn.Linear(x, w2)
    summed = nn.Add(nn.ReLU(a), nn.ReLU(b))
    loss = nn.SquareLoss(nn.Add(summed, nn.ReLU(a)), nn.Constant(np.random.randn(2, 4)))
    expected = reference_gradients(loss, [w1, w2])
    for gradient, reference in zip(nn.gradients(loss, [w1, w2]), expected, strict=True):
        assert_bits_equal(gradient.data, reference)


def test_subclasses_and_patched_forwards_are_honoured() -> None:
    x, w = nn.Constant(np.ones((2, 3))), nn.Parameter(3, 1)

    class Doubled(nn.Linear):
        @staticmethod
        def _forward(*inputs: Any) -> Any:
            return np.dot(inputs[0], inputs[1]) * 2.0

    class Plain(nn.Linear):
        pass

    assert np.array_equal(Doubled(x, w).data, 2.0 * np.dot(x.data, w.data))
    assert np.array_equal(Plain(x, w).data, np.dot(x.data, w.data))
    original = nn.ReLU.__dict__["_forward"]  # the staticmethod itself
    try:
        nn.ReLU._forward = staticmethod(lambda *inputs: inputs[0] * 0.0)
        assert np.array_equal(nn.ReLU(x).data, np.zeros((2, 3)))
    finally:
        nn.ReLU._forward = original
    assert np.array_equal(nn.ReLU(x).data, x.data)


@pytest.mark.parametrize("name", ["Add", "AddBias", "Linear", "ReLU", "SquareLoss", "SoftmaxLoss"])
def test_every_patched_forward_is_honoured(name: str) -> None:
    """As the original library: a node's value is whatever its class's _forward returns now."""
    cls = getattr(nn, name)
    features = nn.Constant(np.full((2, 3), 0.5))
    second = {"Add": features, "AddBias": nn.Constant(np.ones((1, 3))), "Linear": nn.Constant(np.ones((3, 3))),
              "SquareLoss": features, "SoftmaxLoss": nn.Constant(np.full((2, 3), 1 / 3))}
    parents = [features] if name == "ReLU" else [features, second[name]]
    original = cls.__dict__["_forward"]
    try:
        cls._forward = staticmethod(lambda *inputs: np.full((7, 7), 42.0))
        assert np.array_equal(cls(*parents).data, np.full((7, 7), 42.0))
    finally:
        cls._forward = original
    assert cls(*parents).data.shape != (7, 7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_loss_value_is_the_original_expression(dtype: Any) -> None:
    rng = np.random.RandomState(9)
    for rows, cols in [(1, 2), (100, 10), (7, 3), (5000, 10)]:
        logits = (rng.randn(rows, cols) * 30).astype(dtype)
        labels = np.eye(cols)[rng.randint(cols, size=rows)].astype(dtype)
        labels[0] = np.full(cols, 1 / cols, dtype=dtype)  # a row that is a spread distribution
        loss = nn.SoftmaxLoss(nn.Constant(logits), nn.Constant(labels))
        log_probs = logits - np.max(logits, axis=1, keepdims=True)
        log_probs -= np.log(np.sum(np.exp(log_probs), axis=1, keepdims=True))
        expected = np.mean(-np.sum(labels * log_probs, axis=1))
        assert type(loss.data) is type(expected) and loss.data.tobytes() == expected.tobytes()
        assert sorted(vars(loss)) == ["data", "parents"]  # nothing of ours for students to see
        nn.gradients(loss, [])
        assert sorted(vars(loss)) == ["data", "parents", "used"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_square_loss_value_is_the_original_expression(dtype: Any) -> None:
    rng = np.random.RandomState(8)
    for rows, cols in [(1, 1), (200, 1), (20, 64), (7, 3)]:
        a, b = rng.randn(rows, cols).astype(dtype), rng.randn(rows, cols).astype(dtype)
        value = nn.SquareLoss(nn.Constant(a), nn.Constant(b)).data
        expected = np.mean(np.square(a - b) / 2)
        assert type(value) is type(expected) and value.tobytes() == expected.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("rows", "inner", "cols"), [(1, 2, 1), (1, 20, 64), (64, 20, 1), (20, 2, 64), (5, 7, 3),
                                                     (100, 784, 200), (784, 100, 200), (200, 100, 10), (1, 5, 1)])
def test_matrix_products_hold_no_negative_zeros(rows: int, inner: int, cols: int, dtype: Any) -> None:
    """nn skips the zeros start for gradients that begin as a product over 2+ terms: all -0.0 terms give +0.0."""
    left = np.full((rows, inner), -0.0, dtype=dtype)
    right = np.ones((inner, cols), dtype=dtype)
    right[::3] = -1.0
    left[:, 1::2] = np.where(right[1::2, :1].T < 0, 0.0, -0.0)  # mixed signs of zero terms
    for a, b in [(left, right), (np.asfortranarray(left), right), (left, np.asfortranarray(right)),
                 (np.ascontiguousarray(right.T), np.ascontiguousarray(left.T))]:
        product = np.dot(a, b)
        assert product.size and np.all(product == 0)
        assert not np.signbit(product).any(), f"{a.shape} x {b.shape} gave -0.0"


def test_a_one_term_product_gets_the_zeros_start() -> None:
    """A 1x1 by 1x1 product is a multiplication: -0.0 there must become +0.0 as in the contract."""
    w = nn.Parameter(1, 1)
    w.data = np.array([[2.0]])
    x = nn.Constant(np.array([[-0.0]]))
    loss = nn.SquareLoss(nn.Linear(x, w), nn.Constant(np.array([[-1.0]])))
    (gradient,) = nn.gradients(loss, [w])
    assert np.signbit(np.dot(x.data.T, np.array([[1.0]])))[0, 0]  # numpy's product alone gives -0.0
    assert_bits_equal(gradient.data, reference_gradients(loss, [w])[0])
    assert gradient.data[0, 0] == 0 and not np.signbit(gradient.data[0, 0])


def test_relu_over_an_ndarray_subclass_gets_the_contracts_backward() -> None:
    """A ReLU whose input holds an np.matrix (where `*` is a matrix product) while its own gradient is a plain
    array: the contract multiplies by np.where(x > 0, 1.0, 0.0), a plain array, element by element."""
    parameter = nn.Parameter(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix says it is deprecated
        parameter.data = np.matrix([[1.0, -2.0, 3.0], [-1.0, 2.0, 0.0]])
    relu = nn.ReLU(parameter)
    relu.data = np.asarray(relu.data)  # a student may replace a node's value
    # Through an Add, which hands the ReLU its own gradient array (shared, so not multiplied in place).
    loss = nn.SquareLoss(nn.Add(relu, nn.Constant(np.zeros((2, 3)))), nn.Constant(np.full((2, 3), 0.5)))
    expected = reference_gradients(loss, [parameter])
    (gradient,) = nn.gradients(loss, [parameter])
    assert_bits_equal(gradient.data, expected[0])
    assert np.array_equal(np.asarray(gradient.data), [[1 / 12, 0.0, 5 / 12], [0.0, 1.5 / 6, 0.0]])
