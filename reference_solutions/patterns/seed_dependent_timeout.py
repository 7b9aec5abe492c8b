"""Expected: q1 passed, 6 points — under seed 0 training never reaches its stopping rule and times out inside
train(); the retry with seed 1 stops within a second and counts.

A pattern from real submissions: a small network trained "until the loss over the whole dataset is below
0.01", with no cap on the number of epochs. Whether the rule is reached depends on the initial weights: from
seed 0's start, stochastic gradient descent settles into a cycle with the loss around 0.05 and stays there;
from seed 1's it falls below 0.01 after about 500 epochs. The course, unseeded, gave it full credit.
"""

import nn


class RegressionModel(object):
    def __init__(self):
        self.batch_size = 20
        self.learning_rate = 0.05
        self.w1 = nn.Parameter(1, 16)
        self.b1 = nn.Parameter(1, 16)
        self.w2 = nn.Parameter(16, 1)
        self.b2 = nn.Parameter(1, 1)
        self.parameters = [self.w1, self.b1, self.w2, self.b2]

    def run(self, x):
        hidden = nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1))
        return nn.AddBias(nn.Linear(hidden, self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        everything = (nn.Constant(dataset.x), nn.Constant(dataset.y))
        while nn.as_scalar(self.get_loss(*everything)) >= 0.01:
            for x, y in dataset.iterate_once(self.batch_size):
                gradients = nn.gradients(self.get_loss(x, y), self.parameters)
                for parameter, gradient in zip(self.parameters, gradients):
                    parameter.update(gradient, -self.learning_rate)
