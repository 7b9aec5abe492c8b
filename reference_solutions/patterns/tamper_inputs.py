"""Expected: q1 failed_check, 2 points — train() squeezes dataset.x into [-π/2, π/2] (and recomputes
dataset.y) so that an easier curve is fitted; the grader refuses inputs that are not the original 200
points, naming dataset.x.
"""

import numpy as np

import nn


class RegressionModel(object):
    def __init__(self):
        self.w1 = nn.Parameter(1, 20)
        self.b1 = nn.Parameter(1, 20)
        self.w2 = nn.Parameter(20, 1)
        self.b2 = nn.Parameter(1, 1)

    def run(self, x):
        return nn.AddBias(nn.Linear(nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1)), self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        dataset.x = dataset.x / 4
        dataset.y = np.sin(dataset.x)
        parameters = [self.w1, self.b1, self.w2, self.b2]
        for _ in range(300):
            for x, y in dataset.iterate_once(20):
                for parameter, gradient in zip(parameters, nn.gradients(self.get_loss(x, y), parameters)):
                    parameter.update(gradient, -0.05)
