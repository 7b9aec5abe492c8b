"""Expected: q2 below_threshold, 2 points — the digit model trains and is checked with nn.SquareLoss on the
one-hot labels. The course's checker accepted any loss node, so the sanity points stand, the model is graded
on its test accuracy like any other (about 92% after the two epochs it trains, below 97%), and a hint says
that the assignment asks for nn.SoftmaxLoss.
"""

import nn


class DigitClassificationModel(object):
    def __init__(self):
        self.w1 = nn.Parameter(784, 200)
        self.b1 = nn.Parameter(1, 200)
        self.w2 = nn.Parameter(200, 10)
        self.b2 = nn.Parameter(1, 10)

    def run(self, x):
        hidden = nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1))
        return nn.AddBias(nn.Linear(hidden, self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        parameters = [self.w1, self.b1, self.w2, self.b2]
        for epoch in range(2):
            for x, y in dataset.iterate_once(100):
                for parameter, gradient in zip(parameters, nn.gradients(self.get_loss(x, y), parameters)):
                    parameter.update(gradient, -3.0)
            print("epoch", epoch, "validation accuracy", dataset.get_validation_accuracy())
