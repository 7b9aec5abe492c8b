"""The course kit's `nn` written literally from COURSE_KIT.md: the benchmarks' stand-in for the course kit.

Every forward validates with `assert` and computes at construction; `gradients` visits every node of a
recursive depth-first post-order, starts every node's gradient at `zeros_like`, computes every backward
(including gradients nobody asked for) and adds contributions in order. No shortcut of any kind: this is
what the contract's words cost, and its values are the contract's values. Python 3.9, NumPy 1.22 to 2.x.
"""

import numpy as np


def format_shape(shape):
    return "x".join(str(dim) for dim in shape) if len(shape) else "()"


class Node:
    def __repr__(self):
        return f"<{type(self).__name__} shape={format_shape(np.shape(self.data))} at {hex(id(self))}>"


class DataNode(Node):
    def __init__(self, data):
        self.parents = []
        self.data = data

    def _forward(self, *inputs):
        return self.data

    @staticmethod
    def _backward(gradient, *inputs):
        return []


class Parameter(DataNode):
    def __init__(self, *shape):
        assert len(shape) == 2, f"Shape must have 2 dimensions, instead has {len(shape)}"
        assert all(isinstance(dim, int) and dim > 0 for dim in shape), "Shape must consist of positive integers"
        limit = np.sqrt(3.0 / np.mean(shape))
        super().__init__(np.random.uniform(low=-limit, high=limit, size=shape))

    def update(self, direction, multiplier):
        assert isinstance(direction, Constant), "Update direction must be a Constant"
        assert direction.data.shape == self.data.shape, "Update direction shape does not match parameter shape"
        assert isinstance(multiplier, (int, float)), "Multiplier must be a Python scalar"
        self.data += multiplier * direction.data
        assert np.all(np.isfinite(self.data)), "Parameter contains NaN or infinity after update, cannot continue"


class Constant(DataNode):
    def __init__(self, data):
        assert isinstance(data, np.ndarray), "Data should be a numpy array"
        assert np.issubdtype(data.dtype, np.floating), "Data should be a float array"
        super().__init__(data)


class FunctionNode(Node):
    def __init__(self, *parents):
        assert all(isinstance(parent, Node) for parent in parents), "Inputs must be nodes"
        self.parents = parents
        self.data = self._forward(*(parent.data for parent in parents))


class Add(FunctionNode):
    @staticmethod
    def _forward(*inputs):
        assert len(inputs) == 2 and inputs[0].ndim == 2 and inputs[1].ndim == 2
        assert inputs[0].shape == inputs[1].shape, "Input shapes should match"
        return inputs[0] + inputs[1]

    @staticmethod
    def _backward(gradient, *inputs):
        return [gradient, gradient]


class AddBias(FunctionNode):
    @staticmethod
    def _forward(*inputs):
        assert len(inputs) == 2 and inputs[0].ndim == 2 and inputs[1].ndim == 2
        assert inputs[1].shape[0] == 1 and inputs[0].shape[1] == inputs[1].shape[1]
        return inputs[0] + inputs[1]

    @staticmethod
    def _backward(gradient, *inputs):
        return [gradient, np.sum(gradient, axis=0, keepdims=True)]


class DotProduct(FunctionNode):
    @staticmethod
    def _forward(*inputs):
        assert len(inputs) == 2 and inputs[0].ndim == 2 and inputs[1].ndim == 2
        assert inputs[1].shape[0] == 1 and inputs[0].shape[1] == inputs[1].shape[1]
        return np.dot(inputs[0], np.transpose(inputs[1]))

    @staticmethod
    def _backward(gradient, *inputs):
        raise NotImplementedError("Backpropagation through DotProduct nodes is not needed in this assignment")


class Linear(FunctionNode):
    @staticmethod
    def _forward(*inputs):
        assert len(inputs) == 2 and inputs[0].ndim == 2 and inputs[1].ndim == 2
        assert inputs[0].shape[1] == inputs[1].shape[0]
        return np.dot(inputs[0], inputs[1])

    @staticmethod
    def _backward(gradient, *inputs):
        return [np.dot(gradient, inputs[1].T), np.dot(inputs[0].T, gradient)]


class ReLU(FunctionNode):
    @staticmethod
    def _forward(*inputs):
        assert len(inputs) == 1 and inputs[0].ndim == 2
        return np.maximum(inputs[0], 0)

    @staticmethod
    def _backward(gradient, *inputs):
        return [gradient * np.where(inputs[0] > 0, 1.0, 0.0)]


class SquareLoss(FunctionNode):
    @staticmethod
    def _forward(*inputs):
        assert len(inputs) == 2 and inputs[0].ndim == 2 and inputs[1].ndim == 2
        assert inputs[0].shape == inputs[1].shape, "Input shapes should match"
        return np.mean(np.square(inputs[0] - inputs[1]) / 2)

    @staticmethod
    def _backward(gradient, *inputs):
        a, b = inputs
        return [gradient * (a - b) / a.size, gradient * (b - a) / a.size]


class SoftmaxLoss(FunctionNode):
    @staticmethod
    def log_softmax(logits):
        log_probs = logits - np.max(logits, axis=1, keepdims=True)
        log_probs -= np.log(np.sum(np.exp(log_probs), axis=1, keepdims=True))
        return log_probs

    @staticmethod
    def _forward(*inputs):
        assert len(inputs) == 2 and inputs[0].ndim == 2 and inputs[1].ndim == 2
        assert inputs[0].shape == inputs[1].shape, "Input shapes should match"
        assert np.all(inputs[1] >= 0), "Labels must be non-negative"
        assert np.allclose(np.sum(inputs[1], axis=1), 1), "Labels must sum to 1 in every row"
        log_probs = SoftmaxLoss.log_softmax(inputs[0])
        return np.mean(-np.sum(inputs[1] * log_probs, axis=1))

    @staticmethod
    def _backward(gradient, *inputs):
        logits, labels = inputs
        log_probs = SoftmaxLoss.log_softmax(logits)
        return [gradient * (np.exp(log_probs) - labels) / logits.shape[0],
                gradient * -log_probs / logits.shape[0]]


def gradients(loss, parameters):
    assert isinstance(loss, (SquareLoss, SoftmaxLoss)), "Loss must be a loss node"
    assert all(isinstance(parameter, Parameter) for parameter in parameters), "Parameters must be Parameters"
    assert not hasattr(loss, "used"), "Loss node has already been used for backpropagation, cannot reuse"
    loss.used = True

    nodes = set()
    tape = []

    def visit(node):
        if node not in nodes:
            for parent in node.parents:
                visit(parent)
            nodes.add(node)
            tape.append(node)

    visit(loss)
    nodes |= set(parameters)
    grads = {node: np.zeros_like(node.data) for node in nodes}
    grads[loss] = 1.0
    for node in reversed(tape):
        parent_grads = node._backward(grads[node], *(parent.data for parent in node.parents))
        for parent, parent_grad in zip(node.parents, parent_grads):  # noqa: B905 (runs on Python 3.9)
            grads[parent] += parent_grad
    return [Constant(grads[parameter]) for parameter in parameters]


def as_scalar(node):
    assert np.size(node.data) == 1, f"Node has shape {node.data.shape}, cannot convert to a scalar"
    return node.data.item()
