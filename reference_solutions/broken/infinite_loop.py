"""Expected: q1 timeout, 2 points — train() never stops (sanity checks passed before it); the timeout inside
train() earns the retry with the second seed, which times out too."""

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
        while True:
            pass
