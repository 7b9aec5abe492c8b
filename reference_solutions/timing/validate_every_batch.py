"""Timing input (bench/bench_compat.py), not graded in the suite: the slow end of real q2 submissions, which
ask for the validation accuracy after every batch (a forward pass over 5,000 images each time) and stop as
soon as it passes 97.5%. q1: 1-32-1 at batch 1, checking the whole-dataset loss after every example."""

import nn


class RegressionModel(object):
    def __init__(self):
        self.params = [nn.Parameter(1, 32), nn.Parameter(1, 32), nn.Parameter(32, 1), nn.Parameter(1, 1)]

    def run(self, x):
        w1, b1, w2, b2 = self.params
        return nn.AddBias(nn.Linear(nn.ReLU(nn.AddBias(nn.Linear(x, w1), b1)), w2), b2)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        everything = (nn.Constant(dataset.x), nn.Constant(dataset.y))
        while True:
            for x, y in dataset.iterate_once(1):
                for p, g in zip(self.params, nn.gradients(self.get_loss(x, y), self.params)):
                    p.update(g, -0.01)
                if nn.as_scalar(self.get_loss(*everything)) < 0.02:
                    return


class DigitClassificationModel(object):
    def __init__(self):
        self.params = [nn.Parameter(784, 200), nn.Parameter(1, 200), nn.Parameter(200, 10), nn.Parameter(1, 10)]

    def run(self, x):
        w1, b1, w2, b2 = self.params
        return nn.AddBias(nn.Linear(nn.ReLU(nn.AddBias(nn.Linear(x, w1), b1)), w2), b2)

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        while True:
            for x, y in dataset.iterate_once(100):
                for p, g in zip(self.params, nn.gradients(self.get_loss(x, y), self.params)):
                    p.update(g, -0.2)
                if dataset.get_validation_accuracy() >= 0.975:
                    return
