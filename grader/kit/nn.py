"""The neural-network mini-library students build their models with (imported as ``nn``).

Values are numpy arrays. Data nodes (`Constant`, `Parameter`) hold values; function nodes compute a
value from their parents when constructed. `gradients` back-propagates from a loss node and
`Parameter.update` applies a step. Given the same seed, every value matches the course's original
library bit for bit. Imports numpy and the standard library only.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Add",
    "AddBias",
    "Constant",
    "DataNode",
    "DotProduct",
    "FunctionNode",
    "GraphReuseError",
    "LabelError",
    "Linear",
    "NNError",
    "Node",
    "NodeTypeError",
    "NonFiniteError",
    "Parameter",
    "ReLU",
    "ShapeError",
    "SoftmaxLoss",
    "SquareLoss",
    "as_scalar",
    "format_shape",
    "gradients",
]


_ARRAY = np.ndarray  # the one array type the fast paths take; subclasses go the general way
_FLOAT64 = np.dtype(np.float64)
# Constants as 0-d float64 arrays: with a float64 array, a ufunc computes exactly what it computes with
# the Python number (same loop, same value), without converting that number on every call.
_ZERO = np.zeros(())
_TWO = np.full((), 2.0)
_ZERO.flags.writeable = False
_TWO.flags.writeable = False

# The original library validated with `assert`, so student code may catch AssertionError: every
# error below is also one, while being a real exception that `python -O` cannot strip.
class NNError(AssertionError):
    """Base class of every error `nn` raises for a misuse."""


class ShapeError(NNError, ValueError):
    """An input or parameter has the wrong number of dimensions or the wrong shape."""


class NodeTypeError(NNError, TypeError):
    """An argument has the wrong type (not a node, not a numpy float array, wrong arity...)."""


class LabelError(NNError, ValueError):
    """SoftmaxLoss labels are not a probability distribution per row."""


class GraphReuseError(NNError, RuntimeError):
    """A loss node was back-propagated a second time."""


class NonFiniteError(NNError, FloatingPointError):
    """A parameter update produced NaN or infinity."""


def format_shape(shape: Sequence[int]) -> str:
    """Write a shape as ``4x1`` (``()`` for a 0-d value), as node reprs and error messages do."""
    return "x".join(str(dim) for dim in shape) if len(shape) else "()"


def _type_names(values: Iterable[object]) -> str:
    return ", ".join(type(value).__name__ for value in values)


class Node:
    """A value in a computation graph: ``.data`` holds it, ``.parents`` the nodes it came from."""

    data: Any
    parents: Sequence[Node]
    used: bool  # set (never defaulted) by `gradients` on a loss node it has back-propagated

    def __repr__(self) -> str:
        return f"<{type(self).__name__} shape={format_shape(np.shape(self.data))} at {hex(id(self))}>"


class DataNode(Node):
    """A node that holds a value rather than computing one: `Constant` and `Parameter`."""

    def __init__(self, data: Any) -> None:
        self.parents = []
        self.data = data

    def _forward(self, *inputs: Any) -> Any:
        return self.data

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        return []


# Below this many values a new array costs less than looking the buffers up.
_UPDATE_BUFFER_MIN_SIZE = 4096


class Parameter(DataNode):
    """A trainable n×m matrix, e.g. ``nn.Parameter(784, 200)``.

    Initialised from numpy's global random state, uniform in ±sqrt(3 / mean(n, m)).
    """

    def __init__(self, *shape: int) -> None:
        if len(shape) != 2:
            raise ShapeError(
                f"Parameter needs exactly 2 dimensions, e.g. nn.Parameter(784, 200), "
                f"instead got {len(shape)}"
            )
        if not all(isinstance(dim, int) and dim > 0 for dim in shape):
            got = " and ".join(f"{dim} ({type(dim).__name__})" for dim in shape)
            raise ShapeError(
                f"Parameter dimensions must be positive Python ints (convert with int()), instead got {got}"
            )
        limit = np.sqrt(3.0 / np.mean(shape))
        super().__init__(np.random.uniform(low=-limit, high=limit, size=shape))

    def update(self, direction: Constant, multiplier: float) -> None:
        """In place: ``data += multiplier * direction.data`` (direction as returned by `gradients`)."""
        if not isinstance(direction, Constant):
            raise NodeTypeError(
                f"Update direction must be a Constant (as returned by nn.gradients), "
                f"instead got {type(direction).__name__}"
            )
        if direction.data.shape != self.data.shape:
            raise ShapeError(
                f"Update direction shape {format_shape(direction.data.shape)} does not match "
                f"parameter shape {format_shape(self.data.shape)}; pass this parameter's own gradient"
            )
        if not isinstance(multiplier, (int, float)):
            raise NodeTypeError(
                f"Multiplier must be a Python int or float (convert with float()), "
                f"instead got {type(multiplier).__name__}"
            )
        data, step = self.data, direction.data
        if type(data) is not _ARRAY or type(step) is not _ARRAY or data.dtype is not _FLOAT64 \
                or step.dtype is not _FLOAT64:
            self.data += multiplier * step
            all_finite = np.isfinite(self.data).all()
        elif data.size < _UPDATE_BUFFER_MIN_SIZE:
            # The same update (`multiplier * step` is this np.multiply) without the wrappers around it.
            self.data += np.multiply(multiplier, step)
            data = self.data
            if data.size == 1:
                all_finite = math.isfinite(data.item())
            else:  # .all()'s own reduction; no arithmetic here, which could raise warnings of its own
                all_finite = np.logical_and.reduce(np.isfinite(data), None)
        else:
            # The same two operations into buffers kept for this parameter (outside its __dict__, which
            # students may look at) instead of two new arrays each step: 1.4 MB for a 784x200 weight.
            buffers = _UPDATE_BUFFERS.get(self) if type(self) is Parameter else None
            if buffers is None or buffers[0].shape != data.shape:
                buffers = (np.empty(data.shape), np.empty(data.shape, dtype=bool))
                if type(self) is Parameter:
                    _UPDATE_BUFFERS[self] = buffers
            product, finite = buffers
            self.data += np.multiply(multiplier, step, out=product)
            all_finite = np.logical_and.reduce(np.isfinite(self.data, out=finite), None)
        if not all_finite:
            raise NonFiniteError("Parameter contains NaN or infinity after update, cannot continue")


_UPDATE_BUFFERS: weakref.WeakKeyDictionary[Parameter, tuple[Any, Any]] = weakref.WeakKeyDictionary()


class Constant(DataNode):
    """A fixed float array, e.g. a batch of inputs or labels; datasets and `gradients` create them."""

    def __init__(self, data: Any) -> None:
        if type(data) is np.ndarray and data.dtype.kind == "f":  # the usual case, checked cheaply
            self.parents = []
            self.data = data
            return
        if not isinstance(data, np.ndarray):
            raise NodeTypeError(
                f"Constant data must be a numpy array (convert with np.asarray), "
                f"instead got {type(data).__name__}"
            )
        if not np.issubdtype(data.dtype, np.floating):
            raise NodeTypeError(
                f"Constant data must have a float dtype (convert with .astype(np.float64)), "
                f"instead got {data.dtype}"
            )
        super().__init__(data)


def _check_nodes(owner: str, parents: Sequence[object]) -> None:
    for parent in parents:
        if not isinstance(parent, Node):
            raise NodeTypeError(
                f"Inputs to {owner} must be nodes (wrap arrays in nn.Constant), "
                f"instead got types {_type_names(parents)}"
            )


def _check_arity(owner: str, inputs: Sequence[Any], count: int) -> None:
    if len(inputs) != count:
        raise NodeTypeError(f"{owner} takes {count} input(s), instead got {len(inputs)}")


def _check_2d(owner: str, inputs: Sequence[Any]) -> None:
    if not all(np.ndim(value) == 2 for value in inputs):
        shapes = " and ".join(format_shape(np.shape(value)) for value in inputs)
        raise ShapeError(f"{owner} inputs must be 2-D (batch x features), instead got shapes {shapes}")


def _check_same_shape(a: Any, b: Any) -> None:
    if a.shape != b.shape:
        raise ShapeError(
            f"Input shapes should match, instead got {format_shape(a.shape)} and {format_shape(b.shape)}"
        )


class FunctionNode(Node):
    """A node computed from its parents at construction; subclasses define `_forward`/`_backward`."""

    def __init__(self, *parents: Node) -> None:
        _check_nodes(type(self).__name__, parents)
        self.parents = parents
        self.data = self._forward(*(parent.data for parent in parents))

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        raise NotImplementedError("FunctionNode subclasses must define _forward")

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        raise NotImplementedError("FunctionNode subclasses must define _backward")


class Add(FunctionNode):
    """Element-wise sum: ``Add(x, y)`` with x and y both B×F gives B×F."""

    def __init__(self, *parents: Node) -> None:
        # The exact class with its own forward and valid 2-D arrays: computed here, with the same
        # expression; anything else (a subclass's forward, an error to report) takes the general path.
        if len(parents) == 2 and type(self)._forward is _add_forward:
            first, second = parents
            if isinstance(first, Node) and isinstance(second, Node):
                a, b = first.data, second.data
                if type(a) is _ARRAY and type(b) is _ARRAY and a.ndim == 2 and b.ndim == 2 and a.shape == b.shape:
                    self.parents = parents
                    self.data = a + b
                    return
        super().__init__(*parents)

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        _check_arity("Add", inputs, 2)
        _check_2d("Add", inputs)
        _check_same_shape(inputs[0], inputs[1])
        return inputs[0] + inputs[1]

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        return [gradient, gradient]


_add_forward = Add._forward


class AddBias(FunctionNode):
    """Adds a bias row to every row: ``AddBias(features, bias)``, B×F and 1×F give B×F."""

    def __init__(self, *parents: Node) -> None:
        # As Add.__init__.
        if len(parents) == 2 and type(self)._forward is _add_bias_forward:
            first, second = parents
            if isinstance(first, Node) and isinstance(second, Node):
                a, b = first.data, second.data
                if (type(a) is _ARRAY and type(b) is _ARRAY and a.ndim == 2 and b.ndim == 2
                        and b.shape[0] == 1 and b.shape[1] == a.shape[1]):
                    self.parents = parents
                    self.data = a + b
                    return
        super().__init__(*parents)

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        _check_arity("AddBias", inputs, 2)
        _check_2d("AddBias", inputs)
        features, bias = inputs
        if bias.shape[0] != 1 or bias.shape[1] != features.shape[1]:
            raise ShapeError(
                f"AddBias needs a 1x{features.shape[1]} bias for {format_shape(features.shape)} "
                f"features, instead got {format_shape(bias.shape)}"
            )
        return features + bias

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        return [gradient, np.sum(gradient, axis=0, keepdims=True)]


_add_bias_forward = AddBias._forward


class DotProduct(FunctionNode):
    """Row-wise dot products: ``DotProduct(features, weights)``, B×F and 1×F give B×1.

    Forward only (the perceptron it was made for needs no gradients); use `Linear` in models.
    """

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        _check_arity("DotProduct", inputs, 2)
        _check_2d("DotProduct", inputs)
        features, weights = inputs
        if weights.shape[0] != 1 or weights.shape[1] != features.shape[1]:
            raise ShapeError(
                f"DotProduct needs 1x{features.shape[1]} weights for {format_shape(features.shape)} "
                f"features, instead got {format_shape(weights.shape)}"
            )
        return np.dot(features, np.transpose(weights))

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        raise NotImplementedError(
            "DotProduct has no backward pass because the assignment never needs one; "
            "build models with nn.Linear instead"
        )


class Linear(FunctionNode):
    """Matrix product: ``Linear(features, weights)``, B×I and I×O give B×O."""

    def __init__(self, *parents: Node) -> None:
        # As Add.__init__.
        if len(parents) == 2 and type(self)._forward is _linear_forward:
            first, second = parents
            if isinstance(first, Node) and isinstance(second, Node):
                a, b = first.data, second.data
                if type(a) is _ARRAY and type(b) is _ARRAY and a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]:
                    self.parents = parents
                    # ndarray.dot is np.dot's own routine, without the dispatch NumPy 1.x wraps np.dot in.
                    self.data = a.dot(b)
                    return
        super().__init__(*parents)

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        _check_arity("Linear", inputs, 2)
        _check_2d("Linear", inputs)
        features, weights = inputs
        if features.shape[1] != weights.shape[0]:
            raise ShapeError(
                f"Linear needs weights with {features.shape[1]} rows for {format_shape(features.shape)} "
                f"features, instead got {format_shape(weights.shape)}"
            )
        return np.dot(features, weights)

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        return [np.dot(gradient, inputs[1].T), np.dot(inputs[0].T, gradient)]


_linear_forward = Linear._forward


class ReLU(FunctionNode):
    """Element-wise ``max(x, 0)``: ``ReLU(x)`` keeps x's B×F shape."""

    def __init__(self, *parents: Node) -> None:
        if len(parents) == 1 and type(self)._forward is _relu_forward:  # as in Add.__init__
            (source,) = parents
            if isinstance(source, Node):
                x = source.data
                if type(x) is np.ndarray and x.ndim == 2:
                    self.parents = parents
                    self.data = np.maximum(x, _ZERO if x.dtype is _FLOAT64 else 0)
                    return
        super().__init__(*parents)

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        _check_arity("ReLU", inputs, 1)
        _check_2d("ReLU", inputs)
        return np.maximum(inputs[0], 0)

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        return [gradient * np.where(inputs[0] > 0, 1.0, 0.0)]


_relu_forward = ReLU._forward


class SquareLoss(FunctionNode):
    """Regression loss ``mean((a - b)² / 2)``: ``SquareLoss(a, b)`` with a and b both B×F, a 0-d value."""

    def __init__(self, *parents: Node) -> None:
        if len(parents) == 2 and type(self)._forward is _square_loss_forward:  # as in Add.__init__
            first, second = parents
            if isinstance(first, Node) and isinstance(second, Node):
                a, b = first.data, second.data
                if (type(a) is _ARRAY and type(b) is _ARRAY and a.ndim == 2 and b.ndim == 2 and a.shape == b.shape
                        and a.dtype is _FLOAT64 and b.dtype is _FLOAT64 and a.size):
                    # np.mean(np.square(a - b) / 2) in one temporary: the same operations in the same order
                    # (np.mean is add.reduce, then a division by the count, as a float64), so the same bits.
                    self.parents = parents
                    difference = a - b
                    np.square(difference, out=difference)
                    np.true_divide(difference, _TWO, out=difference)
                    self.data = np.float64(np.add.reduce(difference, None) / difference.size)
                    return
        super().__init__(*parents)

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        _check_arity("SquareLoss", inputs, 2)
        _check_2d("SquareLoss", inputs)
        _check_same_shape(inputs[0], inputs[1])
        return np.mean(np.square(inputs[0] - inputs[1]) / 2)

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        a, b = inputs
        return [gradient * (a - b) / a.size, gradient * (b - a) / a.size]


_square_loss_forward = SquareLoss._forward



class SoftmaxLoss(FunctionNode):
    """Classification loss: ``SoftmaxLoss(logits, labels)``, both B×C, labels rows are distributions.

    The value (0-d) is the mean over rows of ``-Σ labels · log_softmax(logits)``.
    """

    def __init__(self, *parents: Node) -> None:
        if type(self)._forward is not _softmax_forward:  # a subclass's or a patched forward
            super().__init__(*parents)
            return
        _check_nodes("SoftmaxLoss", parents)
        self.parents = parents
        inputs = [parent.data for parent in parents]
        logits, labels = inputs if len(inputs) == 2 else (None, None)
        if (type(logits) is _ARRAY and type(labels) is _ARRAY and logits.dtype is _FLOAT64
                and labels.dtype is _FLOAT64 and logits.ndim == 2 and logits.shape == labels.shape):
            # _check_softmax_inputs and the value's expression, without numpy's wrappers: np.all, np.sum,
            # np.max and np.mean are these reductions (np.mean: add.reduce, then a division by the count as
            # a float64), so the same checks, errors and bits.
            if not np.logical_and.reduce(np.greater_equal(labels, _ZERO), None):
                raise LabelError("SoftmaxLoss labels must be non-negative; pass logits first and labels second")
            if not (np.abs(np.add.reduce(labels, 1) - 1.0) <= _ALLCLOSE_TOLERANCE).all():
                raise LabelError(
                    "SoftmaxLoss labels must sum to 1 in every row; pass logits first and labels second"
                )
            log_probs = logits - np.maximum.reduce(logits, 1, None, None, True)
            log_probs -= np.log(np.add.reduce(np.exp(log_probs), 1, None, None, True))
            per_row = np.add.reduce(labels * log_probs, 1)
            np.negative(per_row, out=per_row)
            self.data = np.float64(np.add.reduce(per_row, None) / per_row.size)
        else:
            log_probs = _check_softmax_inputs(inputs)
            self.data = np.mean(-np.sum(inputs[1] * log_probs, axis=1))
        if type(self) is SoftmaxLoss:
            # Backward reuses these log-probabilities while the logits array is still the same object; kept
            # beside the node rather than in it, where students may look.
            _SOFTMAX_LOG_PROBS[self] = (inputs[0], log_probs)

    @staticmethod
    def log_softmax(logits: Any) -> Any:
        """Row-wise log-softmax of a B×C array, shifted by each row's max for stability."""
        log_probs = logits - np.max(logits, axis=1, keepdims=True)
        log_probs -= np.log(np.sum(np.exp(log_probs), axis=1, keepdims=True))
        return log_probs

    @staticmethod
    def _forward(*inputs: Any) -> Any:
        log_probs = _check_softmax_inputs(inputs)
        return np.mean(-np.sum(inputs[1] * log_probs, axis=1))

    @staticmethod
    def _backward(gradient: Any, *inputs: Any) -> list[Any]:
        logits, labels = inputs
        log_probs = SoftmaxLoss.log_softmax(logits)
        return [
            gradient * (np.exp(log_probs) - labels) / logits.shape[0],
            gradient * -log_probs / logits.shape[0],
        ]


_softmax_forward = SoftmaxLoss._forward
_SOFTMAX_LOG_PROBS: weakref.WeakKeyDictionary[SoftmaxLoss, tuple[Any, Any]] = weakref.WeakKeyDictionary()
_ALLCLOSE_TOLERANCE = 1e-08 + 1e-05 * 1.0  # np.allclose(x, 1)'s atol + rtol·|1|


def _rows_sum_to_one(labels: Any) -> bool:
    row_sums = np.sum(labels, axis=1)
    if row_sums.dtype == np.float64:
        # Same comparison np.allclose makes (NaN and ±inf compare False here too), without its overhead.
        return bool((np.abs(row_sums - 1.0) <= _ALLCLOSE_TOLERANCE).all())
    return bool(np.allclose(row_sums, 1))


def _check_softmax_inputs(inputs: Sequence[Any]) -> Any:
    """Validate SoftmaxLoss inputs and return log_softmax(logits)."""
    _check_arity("SoftmaxLoss", inputs, 2)
    _check_2d("SoftmaxLoss", inputs)
    _check_same_shape(inputs[0], inputs[1])
    labels = inputs[1]
    if not np.all(labels >= 0):
        raise LabelError(
            "SoftmaxLoss labels must be non-negative; pass logits first and labels second"
        )
    if not _rows_sum_to_one(labels):
        raise LabelError(
            "SoftmaxLoss labels must sum to 1 in every row; pass logits first and labels second"
        )
    return SoftmaxLoss.log_softmax(inputs[0])


# ---------------------------------------------------------------------------------------------------
# Back-propagation
#
# Contract: visit the nodes in reverse of a depth-first post-order from the loss (parents in argument
# order); each node's gradient starts as zeros_like(data) (the loss's as the float 1.0) and every
# contribution is added in that order. The fast path computes only contributions that can reach a
# requested parameter, keeps the first contribution itself instead of adding it to zeros, and adds the
# next ones into it in place when nobody else holds that array.
#
# Skipping the zeros changes nothing but the sign of some zeros: 0.0 + c equals c except that -0.0
# becomes +0.0. Our own backward operations (products, sums, matrix products, divisions by a count) map
# inputs that differ only in the sign of zeros to outputs that differ only in the sign of zeros, so the
# difference can only reach what is observable as a signed zero. What is observable gets the zeros start
# back by adding 0.0: every returned parameter gradient (the contract's never holds -0.0), and every
# gradient handed to a student's own `_backward`.

_FAST_TYPES = frozenset(
    {Constant, Parameter, Add, AddBias, DotProduct, Linear, ReLU, SquareLoss, SoftmaxLoss}
)


class _Accumulator:
    """Per-node gradient sums: ``grads[node]``, and which of those arrays we may write into."""

    __slots__ = ("grads", "owned", "unsigned")

    def __init__(self) -> None:
        self.grads: dict[Node, Any] = {}
        # Nodes whose gradient array nobody else references, so it may be added into in place.
        self.owned: set[Node] = set()
        # Nodes whose gradient holds no -0.0, so the zeros start would not change it. Adding anything to
        # such an array keeps it so: in round-to-nearest only (-0.0) + (-0.0) gives -0.0.
        self.unsigned: set[Node] = set()

    def add_product(self, node: Node, product: Any, inner: int) -> None:
        """Add a new matrix product (np.dot) over an inner dimension of `inner` terms.

        With two terms or more it holds no -0.0: numpy's and BLAS's sums start from +0.0, and +0.0 plus
        a -0.0 term is +0.0. (A 1x1 by 1x1 product is a plain multiplication and can give -0.0.) The
        equality tests check this on the platform they run on.
        """
        first = node not in self.grads
        self.add(node, product, True)
        if first and inner > 1 and self.grads[node] is product:
            self.unsigned.add(node)

    def add(self, node: Node, contribution: Any, fresh: bool) -> None:
        """Add a contribution; fresh: a new array of ours, else another node's gradient (shared)."""
        grads = self.grads
        current = grads.get(node)
        if current is None:
            data = node.data
            if (
                type(contribution) is np.ndarray
                and type(data) is np.ndarray
                and contribution.dtype == data.dtype
                and contribution.shape == data.shape
            ):
                grads[node] = contribution
                if fresh:
                    self.owned.add(node)
            else:  # a cast or a broadcast: exactly the contract's zeros-then-add
                self.add_foreign(node, contribution)
        elif node in self.owned:
            current += contribution
        else:
            total = current.copy()
            total += contribution
            grads[node] = total
            self.owned.add(node)

    def add_foreign(self, node: Node, contribution: Any) -> None:
        """Add a contribution from a student's `_backward`: never kept, since they may still hold it."""
        current = self.grads.get(node)
        if current is None:
            total = np.zeros_like(node.data)
            total += contribution
            self.grads[node] = total
            self.owned.add(node)
        else:
            self.add(node, contribution, False)

    def observable(self, node: Node) -> Any:
        """The node's gradient as the contract has it (zeros start included), in an array of its own."""
        gradient = self.grads.get(node)
        if gradient is None:
            return np.zeros_like(node.data)
        if type(gradient) is not np.ndarray or gradient.dtype.kind not in "fc":
            return gradient.copy() if isinstance(gradient, np.ndarray) and node not in self.owned else gradient
        if node in self.owned:
            if node in self.unsigned:
                return gradient
            return np.add(gradient, _ZERO if gradient.dtype is _FLOAT64 else 0.0, out=gradient)
        self.owned.add(node)
        self.grads[node] = gradient = np.add(gradient, _ZERO if gradient.dtype is _FLOAT64 else 0.0)
        return gradient


def _plan(root: Node, requested: set[Node]) -> tuple[list[Node], set[Node]]:
    """The nodes whose backward runs, in depth-first post-order from root (parents in argument order),
    and the nodes that matter: a requested parameter is among their ancestors or is themselves, or
    they are of a type not ours (students' own operations, whose _backward always runs as written).

    Without recursion, since graphs can be deep. DotProduct nodes are always listed: reaching one raises.
    """
    work: list[Node] = []
    relevant: set[Node] = set()
    seen = {root}
    stack: list[tuple[Node, Iterator[Node]]] = [(root, iter(root.parents))]
    while stack:
        node, pending = stack[-1]
        for parent in pending:
            if parent not in seen:
                seen.add(parent)
                if parent.parents:
                    stack.append((parent, iter(parent.parents)))
                    break
                # A leaf (a data node) is finished at once.
                kind = type(parent)
                if parent in requested or kind not in _FAST_TYPES:
                    relevant.add(parent)
                    if kind is not Parameter and kind is not Constant:
                        work.append(parent)
        else:
            stack.pop()
            kind = type(node)
            if node in requested or kind not in _FAST_TYPES:
                relevant.add(node)
            else:
                for parent in node.parents:
                    if parent in relevant:
                        relevant.add(node)
                        break
            if (node in relevant and kind is not Parameter and kind is not Constant) or kind is DotProduct:
                work.append(node)
    return work, relevant


def gradients(loss: Node, parameters: Iterable[Parameter]) -> list[Constant]:
    """Gradients of a loss with respect to parameters, as Constants in the given order.

    Usage: ``grad_w, grad_b = nn.gradients(loss, [w, b])``. A loss can be back-propagated once;
    a parameter the loss does not depend on gets zeros.
    """
    if not isinstance(loss, (SquareLoss, SoftmaxLoss)):
        raise NodeTypeError(
            f"Loss must be a SquareLoss or SoftmaxLoss node, instead got {type(loss).__name__}"
        )
    parameters = list(parameters)
    for parameter in parameters:
        if not isinstance(parameter, Parameter):
            raise NodeTypeError(
                f"Parameters must all be nn.Parameter nodes, instead got types {_type_names(parameters)}"
            )
    if getattr(loss, "used", False):
        raise GraphReuseError("Loss node has already been used for backpropagation, cannot reuse")
    loss.used = True

    work, relevant = _plan(loss, set(parameters))
    acc = _Accumulator()
    grads, owned, unsigned = acc.grads, acc.owned, acc.unsigned
    grads[loss] = 1.0
    # The common case inline: a node's first contribution, an exact ndarray of its value's dtype and shape,
    # is kept as is (owned when it is a new array of ours); anything else goes through `acc`. A dtype
    # equal to another without being the same object only takes the longer way there.
    for node in reversed(work):
        kind = type(node)
        if kind is Linear:
            features, weights = node.parents
            gradient = grads[node]
            exact = type(gradient) is _ARRAY  # then ndarray.dot: see Linear.__init__
            if features in relevant:
                w = weights.data
                product = gradient.dot(w.T) if exact and type(w) is _ARRAY else np.dot(gradient, w.T)
                if features in grads or not (type(product) is _ARRAY and type(x := features.data) is _ARRAY
                                             and product.dtype is x.dtype and product.shape == x.shape):
                    acc.add_product(features, product, w.shape[1])
                else:
                    grads[features] = product
                    owned.add(features)
                    if w.shape[1] > 1:
                        unsigned.add(features)
            if weights in relevant:
                x = features.data
                product = x.T.dot(gradient) if exact and type(x) is _ARRAY else np.dot(x.T, gradient)
                if weights in grads or not (type(product) is _ARRAY and type(w := weights.data) is _ARRAY
                                            and product.dtype is w.dtype and product.shape == w.shape):
                    acc.add_product(weights, product, x.shape[0])
                else:
                    grads[weights] = product
                    owned.add(weights)
                    if x.shape[0] > 1:
                        unsigned.add(weights)
        elif kind is AddBias:
            features, bias = node.parents
            gradient = grads[node]
            if features in relevant:
                if features in grads or not (type(gradient) is _ARRAY and type(x := features.data) is _ARRAY
                                             and gradient.dtype is x.dtype and gradient.shape == x.shape):
                    acc.add(features, gradient, False)
                else:
                    grads[features] = gradient  # shared with this node: never written into
            if bias in relevant:
                if type(gradient) is _ARRAY:  # np.sum's own reduction, without its wrapper
                    total = np.add.reduce(gradient, 0, None, None, True)
                    if bias in grads or not (type(b := bias.data) is _ARRAY and total.dtype is b.dtype
                                             and total.shape == b.shape):
                        acc.add(bias, total, True)
                    else:
                        grads[bias] = total
                        owned.add(bias)
                else:
                    acc.add(bias, np.sum(gradient, axis=0, keepdims=True), True)
        elif kind is ReLU:
            (source,) = node.parents
            gradient = grads[node]
            x = source.data
            if type(gradient) is _ARRAY and gradient.dtype is _FLOAT64 and type(x) is _ARRAY:
                # g * 1.0 and g * 0.0 exactly as with the float mask, one pass cheaper; into g itself when
                # it is ours, since this node's gradient is not read again.
                mask = np.greater(x, _ZERO) if x.dtype is _FLOAT64 else x > 0
                if node in owned and gradient.shape == mask.shape:
                    masked = np.multiply(gradient, mask, out=gradient)
                else:
                    masked = gradient * mask
                if source in grads or masked.dtype is not x.dtype or masked.shape != x.shape:
                    acc.add(source, masked, True)
                else:
                    grads[source] = masked
                    owned.add(source)
            else:
                acc.add(source, ReLU._backward(gradient, x)[0], True)
        elif kind is Add:
            gradient = grads[node]
            for parent in node.parents:
                if parent in relevant:
                    acc.add(parent, gradient, False)
        elif kind is SquareLoss:
            a, b = node.parents
            gradient = grads[node]
            x, y = a.data, b.data
            if (type(gradient) is float and a in relevant and a not in grads and type(x) is _ARRAY
                    and type(y) is _ARRAY and x.dtype is _FLOAT64 and y.dtype is _FLOAT64 and x.shape == y.shape):
                # gradient * (a - b) / size, each step into the new difference array; a product with the
                # loss's own gradient, 1.0, is the identity (a - b holds no signalling NaN), so it is skipped.
                difference = x - y
                if gradient != 1.0:
                    np.multiply(gradient, difference, out=difference)
                grads[a] = np.true_divide(difference, float(x.size), out=difference)
                owned.add(a)
                if b in relevant:
                    acc.add(b, gradient * (y - x) / x.size, True)
            else:
                _backward_square(node, acc, relevant)
        elif kind is SoftmaxLoss:
            _backward_softmax(node, acc, relevant)
        elif kind is DotProduct:
            DotProduct._backward(None)
        else:
            parents = node.parents
            gradient = acc.observable(node)
            contributions = node._backward(gradient, *(parent.data for parent in parents))  # type: ignore[attr-defined]
            for parent, contribution in zip(parents, contributions):
                acc.add_foreign(parent, contribution)

    results: dict[Node, Constant] = {}
    for parameter in parameters:
        if parameter not in results:
            gradient = grads.get(parameter)
            if parameter in owned and type(gradient) is _ARRAY and gradient.dtype is _FLOAT64:
                if parameter not in unsigned:  # the zeros start, into our own array (see acc.observable)
                    np.add(gradient, _ZERO, out=gradient)
            else:
                gradient = acc.observable(parameter)
            results[parameter] = Constant(gradient)
    return [results[parameter] for parameter in parameters]


def _backward_square(node: Node, acc: _Accumulator, relevant: set[Node]) -> None:
    a, b = node.parents
    gradient = acc.grads[node]
    size = a.data.size
    if a in relevant:
        difference = a.data - b.data
        if type(gradient) is float and type(difference) is _ARRAY and difference.dtype is _FLOAT64:
            # As in `gradients`.
            if gradient != 1.0:
                np.multiply(gradient, difference, out=difference)
            acc.add(a, np.true_divide(difference, float(size), out=difference), True)
        else:
            acc.add(a, gradient * difference / size, True)
    if b in relevant:
        acc.add(b, gradient * (b.data - a.data) / size, True)


def _backward_softmax(node: Node, acc: _Accumulator, relevant: set[Node]) -> None:
    logits, labels = node.parents
    gradient = acc.grads[node]
    cached = _SOFTMAX_LOG_PROBS.get(node)  # type: ignore[call-overload]
    if isinstance(logits, FunctionNode) and cached is not None and cached[0] is logits.data:
        log_probs = cached[1]
    else:
        log_probs = SoftmaxLoss.log_softmax(logits.data)
    batch = logits.data.shape[0]
    if logits in relevant:
        y = labels.data
        if (type(gradient) is float and type(log_probs) is _ARRAY and log_probs.dtype is _FLOAT64
                and type(y) is _ARRAY and y.dtype is _FLOAT64 and y.shape == log_probs.shape):
            # gradient * (exp(log_probs) - labels) / batch, each step into the new exp array; the product with
            # the loss's own gradient, 1.0, is skipped as in the square loss's backward.
            contribution = np.exp(log_probs)
            np.subtract(contribution, y, out=contribution)
            if gradient != 1.0:
                np.multiply(gradient, contribution, out=contribution)
            acc.add(logits, np.true_divide(contribution, float(batch), out=contribution), True)
        else:
            acc.add(logits, gradient * (np.exp(log_probs) - labels.data) / batch, True)
    if labels in relevant:
        acc.add(labels, gradient * -log_probs / batch, True)


def as_scalar(node: Node) -> float:
    """The single value of a node (e.g. a loss) as a Python float."""
    if not isinstance(node, Node):
        raise NodeTypeError(f"as_scalar needs a node, instead got {type(node).__name__}")
    data = node.data
    # np.size(data) is data.size for these two types, without np.size's dispatch.
    size = data.size if type(data) is np.float64 or type(data) is _ARRAY else np.size(data)
    if size != 1:
        raise ShapeError(
            f"as_scalar needs a node holding exactly one value, "
            f"instead got shape {format_shape(np.shape(node.data))}"
        )
    value: float = data.item()
    return value
