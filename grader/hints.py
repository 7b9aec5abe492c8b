"""Hints for the failures students hit most, keyed on what the attempt shows."""

from __future__ import annotations

from grader.report import Attempt

DATASET_SIZES = {"q1": 200, "q2": 60000}
# The loss node the assignment asks for in each question, in its own words; the other node is accepted and
# graded all the same.
ASSIGNED_LOSS = {
    "q1": ("RegressionModel", "SquareLoss", "Emplea nn.SquareLoss como tu error cuadrático",
           "the squared error suits a regression"),
    "q2": ("DigitClassificationModel", "SoftmaxLoss", "Deberías usar nn.SoftmaxLoss como tu error",
           "it suits scores over 10 classes and usually reaches 97% in fewer epochs"),
}


def hints_for(question: str, attempt: Attempt) -> tuple[str, ...]:
    hints: list[str] = []
    text = " ".join(filter(None, [attempt.detail, attempt.error.message if attempt.error else ""]))
    if attempt.outcome == "diverged":
        hints.append(
            "NaN or infinity usually means the learning rate is too high for your architecture: "
            "try a smaller one (divide it by 10) or a larger batch."
        )
    if "not divisible by batch size" in text:
        hints.append(
            f"The batch size must divide the dataset size ({DATASET_SIZES.get(question, 'the dataset')} "
            "examples): pick a divisor."
        )
    if "should return an object with shape" in text:
        width = 1 if question == "q1" else 10
        hints.append(f"run(x) must return a node of shape batch_size×{width}: check your last Linear layer.")
    if "new nn.Parameter object was detected" in text or "additional parameters" in text:
        hints.append("Create every nn.Parameter once in __init__ and reuse it; run() must not make new ones.")
    if "but the autograder computed" in text:
        hints.append("get_loss(x, y) should return nn.SquareLoss(self.run(x), y), computed from run().")
    if "does not depend on the provided" in text:
        hints.append("Build the returned node from the x (and y) arguments you were given.")
    if "train() changed dataset." in text:
        hints.append(
            "The grader scores dataset.x and dataset.y as train() leaves them: shuffle or sort their rows "
            "together (dataset.x[order], dataset.y[order]), but leave the values alone."
        )
    if attempt.outcome == "timeout" and attempt.stage == "import":
        hints.append(
            "Code at the top level of models.py runs when it is imported, before any question starts: "
            "keep training inside train() and remove waits or loops outside the classes."
        )
    elif attempt.outcome == "timeout":
        hints.append(
            "Stop training once the loss (q1) or the validation accuracy (q2) reaches the target, and check "
            "for loops that never end. A stopping rule that needs a lucky start is not enough: also stop "
            "after a fixed number of epochs."
        )
    if attempt.outcome == "out_of_memory":
        hints.append("Your model holds far more memory than it needs: check layer sizes and arrays you keep.")
    if attempt.outcome == "below_threshold" and attempt.epochs in (None, 0):
        hints.append("train() never went through the dataset: iterate with dataset.iterate_once(batch_size).")
    elif attempt.outcome == "below_threshold" and question == "q2":
        hints.append(
            "Train until the validation accuracy is a little above 97% (say 97.5%): the test set is different."
        )
    if question in ASSIGNED_LOSS and attempt.loss_node not in (None, ASSIGNED_LOSS[question][1]):
        model, loss, words, why = ASSIGNED_LOSS[question]
        hints.append(
            f"{model}.get_loss() returns nn.{attempt.loss_node}; the assignment asks for nn.{loss} here "
            f"(\"{words}\"): {why}. The grader accepts either loss and grades the result the same way."
        )
    if attempt.error is not None and attempt.error.type in ("ModuleNotFoundError", "ImportError"):
        hints.append("The grader has only numpy, nn and backend: remove imports of other modules.")
    return tuple(hints)
