"""Expected: q1 failed_check, 2 points — after training, train() overwrites dataset.y with the model's own
predictions, so that get_loss() over the dataset is zero; the grader refuses it, naming dataset.y.

Under the course's rule (the loss on dataset.y as train() left it) this would have passed; the grader takes
the targets as sin of the inputs actually scored, which rewriting dataset.y cannot change.
"""

import nn


class RegressionModel(object):
    def __init__(self):
        self.w = nn.Parameter(1, 1)
        self.b = nn.Parameter(1, 1)

    def run(self, x):
        return nn.AddBias(nn.Linear(x, self.w), self.b)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        dataset.y = self.run(nn.Constant(dataset.x)).data
