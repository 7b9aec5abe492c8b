"""Genuine q2 model for the integrity check's measurements: a wide hidden layer (784-500-10) at batch 50 with a
small learning rate (0.05) for two epochs; about 94.5% test accuracy."""

import nn


class DigitClassificationModel(object):
    def __init__(self):
        self.w1 = nn.Parameter(784, 500)
        self.b1 = nn.Parameter(1, 500)
        self.w2 = nn.Parameter(500, 10)
        self.b2 = nn.Parameter(1, 10)
        self.parameters = [self.w1, self.b1, self.w2, self.b2]

    def run(self, x):
        hidden = nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1))
        return nn.AddBias(nn.Linear(hidden, self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        for _ in range(2):
            for x, y in dataset.iterate_once(50):
                for parameter, gradient in zip(self.parameters, nn.gradients(self.get_loss(x, y), self.parameters)):
                    parameter.update(gradient, -0.05)
