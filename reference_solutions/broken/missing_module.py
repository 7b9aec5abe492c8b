"""Expected: q1 error, 0 points — builds its model with a module the grader does not have."""

import nn
import tensorflow


class RegressionModel(object):
    def __init__(self):
        self.w = tensorflow.Variable([[0.0]])
