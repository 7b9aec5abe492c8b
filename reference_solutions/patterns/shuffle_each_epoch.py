"""Expected: q1 passed, 6 points — train() reshuffles dataset.x and dataset.y together before every epoch
and leaves them in the last epoch's order; the course scored the dataset as train() left it, and so do we.

The kit never reshuffles, so students who know that SGD likes shuffled batches do it themselves, drawing the
order from numpy's global random state (seeded by the grader, so the result is reproducible).
"""

import numpy as np

import nn


class RegressionModel(object):
    def __init__(self):
        self.w1 = nn.Parameter(1, 64)
        self.b1 = nn.Parameter(1, 64)
        self.w2 = nn.Parameter(64, 1)
        self.b2 = nn.Parameter(1, 1)

    def run(self, x):
        return nn.AddBias(nn.Linear(nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1)), self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        parameters = [self.w1, self.b1, self.w2, self.b2]
        for epoch in range(3000):
            shuffled = np.random.permutation(len(dataset.x))
            dataset.x, dataset.y = dataset.x[shuffled], dataset.y[shuffled]
            for x, y in dataset.iterate_once(10):
                for parameter, gradient in zip(parameters, nn.gradients(self.get_loss(x, y), parameters)):
                    parameter.update(gradient, -0.01)
            if nn.as_scalar(self.get_loss(nn.Constant(dataset.x), nn.Constant(dataset.y))) < 0.008:
                return
