"""Expected: q1 error, 2 points — train() uses `click`, which the grader lacks; the error names the import."""

import click

import nn


class RegressionModel(object):
    def __init__(self):
        self.w = nn.Parameter(1, 1)
        self.b = nn.Parameter(1, 1)

    def run(self, x):
        return nn.AddBias(nn.Linear(x, self.w), self.b)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        click.echo("training")
