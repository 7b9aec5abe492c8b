"""A runner that answers each attempt from a script, for testing the grading rules without training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grader.questions.q1_regression import regression_data
from grader.runs import ProgressCallback, RunOutcome, RunRequest

NON_FINITE = "Parameter contains NaN or infinity after update, cannot continue"
# The last stage reported before each kind of timeout (see grader.harness).
TIMEOUT_AFTER = {"timeout-import": None, "timeout-sanity": "built", "timeout-train": "sanity_passed",
                 "timeout-evaluate": "trained"}


def q1_evaluation(loss: float, order: Sequence[int] | np.ndarray[Any, Any] | None = None) -> dict[str, Any]:
    """A consistent q1 evaluation with exactly this loss, its rows in `order` (default: as built)."""
    x, y = regression_data()
    rows = np.arange(len(x)) if order is None else np.asarray(order)
    inputs, targets = x[rows], y[rows]
    predictions = targets + (2 * loss) ** 0.5
    return {
        "inputs": inputs.ravel().tolist(),
        "targets": targets.ravel().tolist(),
        "predictions": predictions.ravel().tolist(),
        "reported_loss": float(0.5 * np.mean((predictions - targets) ** 2)),
    }


class ScriptedRunner:
    """Answers each (question, seed) from `script`, keyed by seed or by (question, seed).

    A value is a q1 loss (float), an evaluation (dict), or one of: "nan" (diverged in train), "error"
    (an exception in train), "oom", "crashed", "infrastructure_error", "timeout-import", "timeout-sanity",
    "timeout-train", "timeout-evaluate".
    """

    name = "local"

    def __init__(self, script: Mapping[Any, float | str | dict[str, Any]], loss_node: str = "SquareLoss") -> None:
        self.script = script
        self.loss_node = loss_node
        self.requests: list[RunRequest] = []

    def run(self, request: RunRequest, on_progress: ProgressCallback | None = None) -> RunOutcome:
        self.requests.append(request)
        step = self.script.get((request.question, request.seed), self.script.get(request.seed))
        assert step is not None, f"no script for {request.question} seed {request.seed}"
        if step == "infrastructure_error":
            return RunOutcome("infrastructure_error", None, "The engine went away.", 0.0, 0.0, 0.0, "", "local")
        if step == "oom":
            return RunOutcome("out_of_memory", None, "Your code used more memory than the limit allows.",
                              1.0, 1.0, 10.0, "", "local")
        if step == "crashed":
            return RunOutcome("crashed", None, "The grader stopped without reporting.", 1.0, 1.0, 10.0, "", "local")
        if isinstance(step, str) and step in TIMEOUT_AFTER:
            stage = TIMEOUT_AFTER[step]
            observation = self._observation(None, stage)
            return RunOutcome("timeout", observation, "Your code ran past the time limit and was stopped.",
                              request.limits.wall_s, 1.0, 10.0, "", "local")
        if step == "nan":
            final: dict[str, Any] = {"status": "error", "stage": "train", "error": {
                "type": "NonFiniteError", "traceback": "", "message": NON_FINITE}}
            return RunOutcome("ok", self._observation(final, "sanity_passed"), "", 1.0, 1.0, 10.0, "", "local")
        if step == "error":
            final = {"status": "error", "stage": "train", "error": {
                "type": "ValueError", "traceback": "Traceback ...", "message": "bad"}}
            return RunOutcome("ok", self._observation(final, "sanity_passed"), "", 1.0, 1.0, 10.0, "", "local")
        evaluation = step if isinstance(step, dict) else q1_evaluation(float(step))
        final = {"status": "ok", "stage": "done", "evaluation": evaluation}
        return RunOutcome("ok", self._observation(final, "trained"), "", 1.0, 1.0, 10.0, "", "local")

    def _observation(self, final: dict[str, Any] | None, stage: str | None) -> dict[str, Any]:
        sanity = stage in ("sanity_passed", "trained")
        return {"final": final, "sanity_passed": sanity, "trained": stage == "trained", "stage": stage,
                "loss_node": self.loss_node if sanity else None, "epochs": 1, "validation_accuracy": []}
