"""Genuine q2 model for the integrity check's measurements: two hidden layers (784-256-128-10) at batch 100 and
learning rate 0.3 until the validation accuracy passes 98% (at most 8 epochs); about 98% test accuracy."""

import nn


class DigitClassificationModel(object):
    def __init__(self):
        self.layers = [(nn.Parameter(784, 256), nn.Parameter(1, 256)),
                       (nn.Parameter(256, 128), nn.Parameter(1, 128)),
                       (nn.Parameter(128, 10), nn.Parameter(1, 10))]
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
        for _ in range(8):
            for x, y in dataset.iterate_once(100):
                for parameter, gradient in zip(self.parameters, nn.gradients(self.get_loss(x, y), self.parameters)):
                    parameter.update(gradient, -0.3)
            if dataset.get_validation_accuracy() >= 0.98:
                return
