"""Genuine q2 model for the integrity check's measurements: three narrow hidden layers (784-64-64-64-10) at
batch 32 and learning rate 0.1 for four epochs; about 96% test accuracy."""

import nn


class DigitClassificationModel(object):
    def __init__(self):
        sizes = [784, 64, 64, 64, 10]
        self.layers = [(nn.Parameter(a, b), nn.Parameter(1, b)) for a, b in zip(sizes, sizes[1:])]
        self.parameters = [p for layer in self.layers for p in layer]

    def run(self, x):
        for i, (w, b) in enumerate(self.layers):
            x = nn.AddBias(nn.Linear(x, w), b)
            if i < len(self.layers) - 1:
                x = nn.ReLU(x)
        return x

    def get_loss(self, x, y):
        return nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset):
        for _ in range(4):
            for x, y in dataset.iterate_once(32):
                for parameter, gradient in zip(self.parameters, nn.gradients(self.get_loss(x, y), self.parameters)):
                    parameter.update(gradient, -0.1)
