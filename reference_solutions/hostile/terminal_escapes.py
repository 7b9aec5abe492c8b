"""Expected: q1 ok, 2 points — train() prints terminal escapes meant to erase the real score from an
instructor's terminal, then raises an exception whose message tries the same; `nngrade grade` must show them
as text."""

import nn

ERASE_ABOVE = "\x1b[1A\x1b[2K" * 12  # cursor up one line and erase it, twelve times
FAKE_SCORE = "q1        6/6     passed   loss 0.001000  <= 0.02"


class RegressionModel(object):
    def __init__(self):
        self.w = nn.Parameter(1, 1)
        self.b = nn.Parameter(1, 1)

    def run(self, x):
        return nn.AddBias(nn.Linear(x, self.w), self.b)

    def get_loss(self, x, y):
        return nn.SquareLoss(self.run(x), y)

    def train(self, dataset):
        print(ERASE_ABOVE + "\r" + FAKE_SCORE)
        print("Total  2/6" + "\b" * 10 + "Total  6/6")
        print("\x9b2J\x1b]0;all tests passed\x07\x1bc")  # C1 CSI clear screen, window title, full reset
        raise RuntimeError(ERASE_ABOVE + "\rTotal  6/6   (1.0 s, docker runner)")
