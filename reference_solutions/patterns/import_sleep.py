"""Expected: q1 timeout, 0 points; q2 timeout, 0 points — importing models.py never finishes (it waits for
an input that never comes), and since every question imports the same file, the time is charged once: q2
ends at once with the same outcome instead of waiting out its own limit.
"""

import time

import nn

while True:  # "press a key to start": there is no keyboard in the grader
    time.sleep(1)


class RegressionModel(object):
    def __init__(self):
        self.w = nn.Parameter(1, 1)

    def run(self, x):
        return nn.Linear(x, self.w)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        pass
