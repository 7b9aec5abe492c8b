"""Expected: q1 passed, 6 points, with a warning per unused import of a module the grader lacks."""

import click
from turtle import forward
import pydeck as pdk

import nn

try:
    import seaborn  # handled by the student: stays an ImportError, caught below
except ImportError:
    seaborn = None


def plot_fit(dataset):
    import plotly  # inside a function: never a placeholder (and never called here)

    return plotly


class RegressionModel(object):
    def __init__(self):
        self.w1 = nn.Parameter(1, 64)
        self.b1 = nn.Parameter(1, 64)
        self.w2 = nn.Parameter(64, 1)
        self.b2 = nn.Parameter(1, 1)
        self.parameters = [self.w1, self.b1, self.w2, self.b2]

    def run(self, x):
        return nn.AddBias(nn.Linear(nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1)), self.w2), self.b2)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        for _ in range(5000):
            for x, y in dataset.iterate_once(20):
                for p, g in zip(self.parameters, nn.gradients(self.get_loss(x, y), self.parameters)):
                    p.update(g, -0.05)
            if nn.as_scalar(self.get_loss(nn.Constant(dataset.x), nn.Constant(dataset.y))) < 0.004:
                return
