"""Genuine q2 model for the integrity check's measurements: each pixel standardised with the training set's
mean and standard deviation (through nn.AddBias and a constant diagonal nn.Linear, so the graph still depends
on x), then 784-200-10 at batch 100 and learning rate 0.05 for three epochs; about 96% test accuracy.

Pixels that are always 0 in training have a standard deviation of 0, so the scale there is 1/1e-8: any change
to those pixels, which a clean image never has, moves this model a lot. Honest models of this kind exist."""

import numpy as np

import nn


class DigitClassificationModel(object):
    def __init__(self):
        self.w1 = nn.Parameter(784, 200)
        self.b1 = nn.Parameter(1, 200)
        self.w2 = nn.Parameter(200, 10)
        self.b2 = nn.Parameter(1, 10)
        self.parameters = [self.w1, self.b1, self.w2, self.b2]
        self.shift = nn.Constant(np.zeros((1, 784)))
        self.scale = nn.Constant(np.eye(784))

    def run(self, x):
        standardized = nn.Linear(nn.AddBias(x, self.shift), self.scale)
        hidden = nn.ReLU(nn.AddBias(nn.Linear(standardized, self.w1), self.b1))
        return nn.AddBias(nn.Linear(hidden, self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        mean = dataset.x.mean(axis=0, keepdims=True)
        std = dataset.x.std(axis=0)
        self.shift = nn.Constant(-mean)
        self.scale = nn.Constant(np.diag(1.0 / (std + 1e-8)))
        for _ in range(3):
            for x, y in dataset.iterate_once(100):
                for parameter, gradient in zip(self.parameters, nn.gradients(self.get_loss(x, y), self.parameters)):
                    parameter.update(gradient, -0.05)
