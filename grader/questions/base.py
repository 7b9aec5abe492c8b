"""What a question is: student-side checks run in the sandbox, and a host-side metric."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from grader.challenge import CopyKey
    from grader.report import IntegrityCheck

SANITY_POINTS = 2
THRESHOLD_POINTS = 4
SANITY_BATCH_SIZES = (1, 2, 4)
# The course's checker accepts either loss node for either question.
LOSS_NODES = ("SquareLoss", "SoftmaxLoss")


class CheckFailed(Exception):
    """A grader check failed on the student's model (not an exception raised by student code).

    `template` with `params` (str.format placeholders) makes the message, so the portal can show it in the
    reader's language (grader.messages); pybabel extracts the literal templates (keyword CheckFailed).
    """

    def __init__(self, template: str, **params: Any) -> None:
        super().__init__(template.format(**params) if params else template)
        self.template = template
        self.params = params


class HostDataError(Exception):
    """The host cannot load what it scores against (the labels): our fault, never the student's."""


@dataclass(frozen=True)
class Measurement:
    """The metric the host recomputed, and the predictions in the dataset's original order (for feedback)."""

    value: float
    predictions: tuple[float, ...] = ()


class Question(ABC):
    """One graded question. Methods marked "sandbox" run next to student code; the rest on the host."""

    id: ClassVar[str]
    title: ClassVar[str]
    model_class: ClassVar[str]
    output_width: ClassVar[int]
    loss_class: ClassVar[str]  # the loss node the assignment asks for; the other one is accepted too
    metric_name: ClassVar[str]
    threshold: ClassVar[float]
    comparison: ClassVar[Literal["<=", ">="]]
    # The harness checks the mounted MNIST files before the student's code runs when this is set.
    needs_mnist: ClassVar[bool] = False
    # The integrity check (grader.challenge): on the test split, the host makes a copy of the file named here
    # (in the public MNIST directory) for each attempt, and the trained model predicts it after the graded images.
    copy_source: ClassVar[str | None] = None
    sanity_points: ClassVar[int] = SANITY_POINTS
    threshold_points: ClassVar[int] = THRESHOLD_POINTS

    @property
    def max_points(self) -> int:
        return self.sanity_points + self.threshold_points

    # --- sandbox side -------------------------------------------------------------------------------
    @abstractmethod
    def make_dataset(self, backend: ModuleType, model: Any) -> Any:
        """Build the training dataset the way the course's autograder did (sandbox)."""

    def sanity_check(self, nn: ModuleType, model: Any, dataset: Any) -> str:
        """The course's sanity checks: shapes, dependence on inputs, one set of parameters (sandbox).

        Returns the class name of the loss node get_loss() returned; raises CheckFailed.
        """
        name = type(model).__name__
        loss_node = ""
        parameters: list[Any] | None = None
        for batch_size in SANITY_BATCH_SIZES:
            x = nn.Constant(dataset.x[:batch_size])
            output = model.run(x)
            expect_node(nn, output, f"{name}.run()", (batch_size, self.output_width))
            trace = ancestors(output)
            if x not in trace:
                raise CheckFailed("Node returned from {method}.run() does not depend on the provided input (x)",
                                  method=name)
            if parameters is None:
                parameters = [node for node in trace if isinstance(node, nn.Parameter)]
            if any(isinstance(node, nn.Parameter) and node not in parameters for node in trace):
                raise CheckFailed(
                    "Calling {method}.run() multiple times should always re-use the same parameters, "
                    "but a new nn.Parameter object was detected", method=name
                )
        assert parameters is not None
        for batch_size in SANITY_BATCH_SIZES:
            x = nn.Constant(dataset.x[:batch_size])
            y = nn.Constant(dataset.y[:batch_size])
            loss = model.get_loss(x, y)
            loss_node = expect_loss(nn, loss, f"{name}.get_loss()")
            trace = ancestors(loss)
            if x not in trace:
                raise CheckFailed(
                    "Node returned from {method}.get_loss() does not depend on the provided input (x)", method=name
                )
            if y not in trace:
                raise CheckFailed(
                    "Node returned from {method}.get_loss() does not depend on the provided labels (y)", method=name
                )
            if any(isinstance(node, nn.Parameter) and node not in parameters for node in trace):
                raise CheckFailed(
                    "{method}.get_loss() should not use additional parameters not used by {method}.run()",
                    method=name
                )
        return loss_node

    @abstractmethod
    def evaluate(self, nn: ModuleType, model: Any, dataset: Any, split: str = "test") -> dict[str, Any]:
        """After training: what the host needs to compute the metric, as JSON-able data (sandbox).

        `split` names the held-out images to predict ("test" or "validation"), for questions that use them.
        """

    def predict_copy(self, nn: ModuleType, model: Any, images: Any) -> dict[str, Any]:
        """After `evaluate`: the trained model's answer on the integrity check's copy, as JSON-able data (sandbox).

        Only questions with a `copy_source` are asked; raises CheckFailed like `evaluate`.
        """
        raise NotImplementedError(f"{self.id} has no integrity check")

    # --- host side ----------------------------------------------------------------------------------
    @abstractmethod
    def metric(self, evaluation: Mapping[str, Any], data_dir: Path, split: str = "test") -> Measurement:
        """Recompute the metric from the untrusted evaluation; raise CheckFailed if it is inconsistent.

        `data_dir` is the MNIST cache (its `private/` test labels for split "test", `public/` otherwise).
        """

    def judge_copy(
        self, copy_result: Any, key: CopyKey, data_dir: Path, measured: Measurement
    ) -> IntegrityCheck | None:
        """The integrity check's verdict on an attempt whose metric was measured on the test split (host).

        `copy_result` is the attempt's untrusted answer on the copy (`predict_copy`, or why there is none).
        """
        return None

    def scored_on(self, split: str) -> str:
        """What the metric is computed on under this split ("training", "test" or "validation")."""
        return split

    def meets_threshold(self, value: float) -> bool:
        return value <= self.threshold if self.comparison == "<=" else value >= self.threshold


def ancestors(root: Any) -> set[Any]:
    """The node and everything it was computed from, without recursion (graphs can be deep)."""
    seen: set[Any] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(getattr(node, "parents", ()))
    return seen


def expect_node(nn: ModuleType, node: Any, method: str, shape: tuple[int, int]) -> None:
    if node is None:
        raise CheckFailed("{method} should return a node object, not None", method=method)
    if not isinstance(node, nn.Node):
        raise CheckFailed("{method} should return a node object, instead got type {kind}", method=method,
                          kind=repr(type(node).__name__))
    actual = tuple(node.data.shape)
    if actual != shape:
        raise CheckFailed("{method} should return an object with shape {expected}, got {actual}", method=method,
                          expected=nn.format_shape(shape), actual=nn.format_shape(actual))


def expect_loss(nn: ModuleType, node: Any, method: str) -> str:
    """Check that `node` is a loss node of either kind the course's checker accepted; return its kind."""
    if node is None:
        raise CheckFailed("{method} should return a loss node, not None", method=method)
    for kind in LOSS_NODES:
        if isinstance(node, getattr(nn, kind)):
            return kind
    raise CheckFailed(
        "{method} should return a loss node (nn.SquareLoss or nn.SoftmaxLoss), instead got type {kind}",
        method=method, kind=repr(type(node).__name__)
    )


_REGISTRY: dict[str, Question] = {}


def register(cls: type[Question]) -> type[Question]:
    """Class decorator adding a question to the registry under its id."""
    if cls.id in _REGISTRY:
        raise ValueError(f"question {cls.id!r} is registered twice")
    _REGISTRY[cls.id] = cls()
    return cls


def get_question(question_id: str) -> Question:
    try:
        return _REGISTRY[question_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown question {question_id!r}; known questions: {known}") from None


def all_questions() -> tuple[Question, ...]:
    return tuple(_REGISTRY[q] for q in sorted(_REGISTRY))

