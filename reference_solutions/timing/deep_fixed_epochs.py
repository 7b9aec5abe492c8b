"""Timing input (bench/bench_compat.py), not graded in the suite: bigger networks trained for a fixed number
of epochs, with no early stop. q1: 1-100-100-1 at batch 10 for 500 epochs; q2: 784-512-256-10 at batch 50
for 6 epochs, printing the validation accuracy after each."""

import nn


class RegressionModel(object):
    def __init__(self):
        self.sizes = [(1, 100), (100, 100), (100, 1)]
        self.weights = [nn.Parameter(a, b) for a, b in self.sizes]
        self.biases = [nn.Parameter(1, b) for _, b in self.sizes]

    def run(self, x):
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = nn.AddBias(nn.Linear(x, w), b)
            if i < len(self.weights) - 1:
                x = nn.ReLU(x)
        return x

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        params = self.weights + self.biases
        for _ in range(500):
            for x, y in dataset.iterate_once(10):
                for p, g in zip(params, nn.gradients(self.get_loss(x, y), params)):
                    p.update(g, -0.01)


class DigitClassificationModel(object):
    def __init__(self):
        self.sizes = [(784, 512), (512, 256), (256, 10)]
        self.weights = [nn.Parameter(a, b) for a, b in self.sizes]
        self.biases = [nn.Parameter(1, b) for _, b in self.sizes]

    def run(self, x):
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = nn.AddBias(nn.Linear(x, w), b)
            if i < len(self.weights) - 1:
                x = nn.ReLU(x)
        return x

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        params = self.weights + self.biases
        for epoch in range(6):
            for x, y in dataset.iterate_once(50):
                for p, g in zip(params, nn.gradients(self.get_loss(x, y), params)):
                    p.update(g, -0.1)
            print("epoch", epoch + 1, "validation", dataset.get_validation_accuracy())
