"""Timing input (bench/bench_compat.py), not graded in the suite: the architecture the assignment's tips lead
to. q1: 1-50-1 at batch 20 until the whole-dataset loss is below 0.02; q2: 784-200-10 at batch 100 until the
validation accuracy passes 97.5%."""

import nn


class RegressionModel(object):
    def __init__(self):
        self.w1 = nn.Parameter(1, 50)
        self.b1 = nn.Parameter(1, 50)
        self.w2 = nn.Parameter(50, 1)
        self.b2 = nn.Parameter(1, 1)

    def run(self, x):
        return nn.AddBias(nn.Linear(nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1)), self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        parameters = [self.w1, self.b1, self.w2, self.b2]
        while nn.as_scalar(self.get_loss(nn.Constant(dataset.x), nn.Constant(dataset.y))) > 0.02:
            for x, y in dataset.iterate_once(20):
                for p, g in zip(parameters, nn.gradients(self.get_loss(x, y), parameters)):
                    p.update(g, -0.05)


class DigitClassificationModel(object):
    def __init__(self):
        self.w1 = nn.Parameter(784, 200)
        self.b1 = nn.Parameter(1, 200)
        self.w2 = nn.Parameter(200, 10)
        self.b2 = nn.Parameter(1, 10)

    def run(self, x):
        return nn.AddBias(nn.Linear(nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1)), self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        parameters = [self.w1, self.b1, self.w2, self.b2]
        while dataset.get_validation_accuracy() < 0.975:
            for x, y in dataset.iterate_once(100):
                for p, g in zip(parameters, nn.gradients(self.get_loss(x, y), parameters)):
                    p.update(g, -0.5)
