"""Hints for the failures students hit most, keyed on what the attempt shows.

Each hint is a template with its values (grader.messages), so the portal and the CLI can show it in the
reader's language; `hints_for` gives the English text reports store.
"""

from __future__ import annotations

from grader.messages import N_, Message, message
from grader.report import Attempt

DATASET_SIZES = {"q1": 200, "q2": 60000}
# q2 has 10 digits: guessing scores about 10%, and a model below this accuracy after training learned nothing.
CHANCE_ACCURACY = 0.1
NOT_LEARNING_BELOW = 0.2
# The loss node the assignment asks for in each question, quoting the assignment's own words, and why; the
# other node is accepted and graded all the same.
ASSIGNED_LOSS = {
    "q1": ("RegressionModel", "SquareLoss", N_(
        "{model}.get_loss() returns nn.{used}; the assignment asks for nn.SquareLoss here (\"Emplea "
        "nn.SquareLoss como tu error cuadrático\"): the squared error suits a regression. The grader accepts "
        "either loss and grades the result the same way.")),
    "q2": ("DigitClassificationModel", "SoftmaxLoss", N_(
        "{model}.get_loss() returns nn.{used}; the assignment asks for nn.SoftmaxLoss here (\"Deberías usar "
        "nn.SoftmaxLoss como tu error\"): it suits scores over 10 classes and usually reaches {goal:.0%} in "
        "fewer epochs. The grader accepts either loss and grades the result the same way.")),
}


def hints_for(question: str, attempt: Attempt) -> tuple[str, ...]:
    """The hints for `attempt` of `question`, in English."""
    return tuple(m.text for m in hint_messages_for(question, attempt))


def hint_messages_for(question: str, attempt: Attempt) -> tuple[Message, ...]:
    """The hints for `attempt` of `question`, as templates with values."""
    hints: list[Message] = []
    text = " ".join(filter(None, [attempt.detail, attempt.error.message if attempt.error else ""]))
    if attempt.outcome == "diverged":
        hints.append(message(N_(
            "NaN or infinity usually means the learning rate is too high for your architecture: "
            "try a smaller one (divide it by 10) or a larger batch.")))
    if "not divisible by batch size" in text:
        if question in DATASET_SIZES:
            hints.append(message(N_("The batch size must divide the dataset size ({size} examples): pick a divisor."),
                                 size=DATASET_SIZES[question]))
        else:
            hints.append(message(N_("The batch size must divide the dataset size: pick a divisor.")))
    if "should return an object with shape" in text:
        width = 1 if question == "q1" else 10
        hints.append(message(N_("run(x) must return a node of shape batch_size×{width}: check your last Linear "
                                "layer."), width=width))
    if "new nn.Parameter object was detected" in text or "additional parameters" in text:
        hints.append(message(N_("Create every nn.Parameter once in __init__ and reuse it; run() must not make new "
                                "ones.")))
    if "but the autograder computed" in text:
        hints.append(message(N_("get_loss(x, y) should return nn.SquareLoss(self.run(x), y), computed from run().")))
    if "does not depend on the provided" in text:
        hints.append(message(N_("Build the returned node from the x (and y) arguments you were given.")))
    if "train() changed dataset." in text:
        hints.append(message(N_(
            "The grader scores dataset.x and dataset.y as train() leaves them: shuffle or sort their rows "
            "together (dataset.x[order], dataset.y[order]), but leave the values alone.")))
    if attempt.outcome == "timeout" and attempt.stage == "import":
        hints.append(message(N_(
            "Code at the top level of models.py runs when it is imported, before any question starts: "
            "keep training inside train() and remove waits or loops outside the classes.")))
    elif attempt.outcome == "timeout":
        hints.append(message(N_(
            "Stop training once the loss (q1) or the validation accuracy (q2) reaches the target, and check "
            "for loops that never end. A stopping rule that needs a lucky start is not enough: also stop "
            "after a fixed number of epochs.")))
    if attempt.outcome == "out_of_memory":
        hints.append(message(N_("Your model holds far more memory than it needs: check layer sizes and arrays you "
                                "keep.")))
    if attempt.outcome == "below_threshold" and attempt.epochs in (None, 0):
        hints.append(message(N_("train() never went through the dataset: iterate with "
                                "dataset.iterate_once(batch_size).")))
    elif (attempt.outcome == "below_threshold" and question == "q2" and attempt.metric_value is not None
          and attempt.metric_value < NOT_LEARNING_BELOW):
        hints.append(message(N_(
            "An accuracy of {accuracy:.1%} is what guessing gives ({chance:.0%}, one digit in ten): the model is "
            "not learning. Check that get_loss(x, y) returns nn.SoftmaxLoss(self.run(x), y) with the labels y it "
            "was given, that train() updates every parameter with its gradient from nn.gradients and a negative "
            "multiplier (parameter.update(gradient, -learning_rate)), and that the learning rate is between "
            "{low:g} and {high:g}."), accuracy=attempt.metric_value, chance=CHANCE_ACCURACY, low=0.001, high=1.0))
    elif attempt.outcome == "below_threshold" and question == "q2":
        hints.append(message(N_("Train until the validation accuracy is a little above {goal:.0%} (say {target:.1%}): "
                                "the test set is different."), goal=0.97, target=0.975))
    if question in ASSIGNED_LOSS and attempt.loss_node not in (None, ASSIGNED_LOSS[question][1]):
        model, _loss, template = ASSIGNED_LOSS[question]
        values: dict[str, str | int | float] = {"model": model, "used": str(attempt.loss_node)}
        if "{goal" in template:
            values["goal"] = 0.97
        hints.append(message(template, **values))
    if attempt.error is not None and attempt.error.type in ("ModuleNotFoundError", "ImportError"):
        hints.append(message(N_("The grader has only numpy, nn and backend: remove imports of other modules.")))
    return tuple(hints)
