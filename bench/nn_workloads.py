"""One measurement in one fresh process: a student-shaped training loop under one implementation.

    python3 bench/nn_workloads.py --variant ours|literal|floor --shape q1|q1s|q2 --steps N [--data-dir DIR]
    python3 bench/nn_workloads.py --variant floor --shape staff --steps Q1_EPOCHS --q2-epochs N [--seeds 0,0]

Variants: ``ours`` is grader/kit's nn and backend; ``literal`` is bench/literal_kit/nn.py (the contract
implemented literally, the stand-in for the course kit) under the same backend; ``floor`` is the same
training written in plain numpy, computing the same values (every loss a student's code asks for, the
finiteness check of each update) with nothing else. Shapes, as real students write them:

- q1: a 1-200-1 ReLU net, batch 200 (one step per pass over the 200 points), SquareLoss, and the loss
  over the whole dataset after every pass, read with as_scalar (the student's stopping rule).
- q1s: the staff solution's q1, a 1-64-1 net at batch 20: ten steps per pass, then the same loss.
- staff (floor only): the staff solution's whole training, q1 (q1s for --steps epochs) then q2 (--q2-epochs
  epochs), each after seeding numpy as its attempt was seeded: bench/bench_grade.py's floor.
- q2: a 784-200-10 ReLU net on MNIST, batch 100, SoftmaxLoss, and get_validation_accuracy after every
  600 steps (one epoch).

Prints one JSON line: setup and loop seconds, the step count and a sha256 of the final parameters and
losses. Standard library and numpy only, valid Python 3.9: it runs inside the era stack's containers.
"""

import argparse
import hashlib
import json
import os
import sys
import time

STARTED = time.perf_counter()

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
KIT_DIR = os.path.join(REPO, "grader", "kit")
LITERAL_DIR = os.path.join(BENCH_DIR, "literal_kit")

Q1_SHAPES = {"q1": (200, 200), "q1s": (64, 20)}  # hidden units, batch size
Q1_RATE = 0.05
Q2_HIDDEN, Q2_BATCH, Q2_RATE, Q2_EPOCH_STEPS = 200, 100, 0.5, 600


def import_kit(variant):
    """nn and backend as student code sees them; the literal nn shadows ours for `literal`."""
    sys.path.insert(0, KIT_DIR)
    if variant == "literal":
        sys.path.insert(0, LITERAL_DIR)
    import backend
    import nn

    expected = LITERAL_DIR if variant == "literal" else KIT_DIR
    assert os.path.dirname(os.path.abspath(nn.__file__)) == expected, nn.__file__
    return nn, backend


# --- the student's models, as in real submissions ---------------------------------------------------


class RegressionModel:
    def __init__(self, nn, hidden, batch):
        self.nn = nn
        self.batch = batch
        self.w1 = nn.Parameter(1, hidden)
        self.b1 = nn.Parameter(1, hidden)
        self.w2 = nn.Parameter(hidden, 1)
        self.b2 = nn.Parameter(1, 1)
        self.params = [self.w1, self.b1, self.w2, self.b2]

    def run(self, x):
        nn = self.nn
        hidden = nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1))
        return nn.AddBias(nn.Linear(hidden, self.w2), self.b2)

    def get_loss(self, x, y):
        return self.nn.SquareLoss(self.run(x), y)

    def train(self, dataset, steps):
        nn = self.nn
        done, losses = 0, []
        while done < steps:
            for x, y in dataset.iterate_once(self.batch):
                grads = nn.gradients(self.get_loss(x, y), self.params)
                for param, grad in zip(self.params, grads):  # noqa: B905 (runs on Python 3.9)
                    param.update(grad, -Q1_RATE)
                done += 1
            losses.append(nn.as_scalar(self.get_loss(nn.Constant(dataset.x), nn.Constant(dataset.y))))
        return losses


class DigitClassificationModel:
    def __init__(self, nn):
        self.nn = nn
        self.w1 = nn.Parameter(784, Q2_HIDDEN)
        self.b1 = nn.Parameter(1, Q2_HIDDEN)
        self.w2 = nn.Parameter(Q2_HIDDEN, 10)
        self.b2 = nn.Parameter(1, 10)
        self.params = [self.w1, self.b1, self.w2, self.b2]

    def run(self, x):
        nn = self.nn
        hidden = nn.ReLU(nn.AddBias(nn.Linear(x, self.w1), self.b1))
        return nn.AddBias(nn.Linear(hidden, self.w2), self.b2)

    def get_loss(self, x, y):
        return self.nn.SoftmaxLoss(self.run(x), y)

    def train(self, dataset, steps):
        nn = self.nn
        done, accuracies = 0, []
        while done < steps:
            for x, y in dataset.iterate_once(Q2_BATCH):
                grads = nn.gradients(self.get_loss(x, y), self.params)
                for param, grad in zip(self.params, grads):  # noqa: B905 (runs on Python 3.9)
                    param.update(grad, -Q2_RATE)
                done += 1
                if done % Q2_EPOCH_STEPS == 0:
                    accuracies.append(float(dataset.get_validation_accuracy()))
                if done == steps:
                    break
        return accuracies


# --- the floor: the same training in plain numpy ----------------------------------------------------


def init_like_parameters(np, shapes):
    """The draws nn.Parameter makes, in the same order, from the same global state."""
    weights = []
    for shape in shapes:
        limit = np.sqrt(3.0 / np.mean(shape))
        weights.append(np.random.uniform(low=-limit, high=limit, size=shape))
    return weights


def update(np, weights, grads, rate):
    for weight, grad in zip(weights, grads):  # noqa: B905 (runs on Python 3.9)
        weight += -rate * grad
        if not np.isfinite(weight).all():
            raise FloatingPointError("Parameter contains NaN or infinity after update, cannot continue")


def floor_q1(np, x_all, y_all, steps, hidden, batch):
    w1, b1, w2, b2 = weights = init_like_parameters(np, [(1, hidden), (1, hidden), (hidden, 1), (1, 1)])
    done, losses = 0, []
    while done < steps:
        for start in range(0, x_all.shape[0], batch):
            x, y = x_all[start:start + batch], y_all[start:start + batch]
            pre = np.dot(x, w1) + b1
            hidden = np.maximum(pre, 0)
            out = np.dot(hidden, w2) + b2
            np.mean(np.square(out - y) / 2)  # the batch loss: the student's get_loss computes it
            d_out = (out - y) / out.size
            d_pre = np.dot(d_out, w2.T) * (pre > 0)
            update(np, weights, [np.dot(x.T, d_pre), np.sum(d_pre, axis=0, keepdims=True),
                                 np.dot(hidden.T, d_out), np.sum(d_out, axis=0, keepdims=True)], Q1_RATE)
            done += 1
        out = np.dot(np.maximum(np.dot(x_all, w1) + b1, 0), w2) + b2
        losses.append(float(np.mean(np.square(out - y_all) / 2)))
    return weights, losses


def floor_q2(np, images, labels, dev_images, dev_labels, steps):
    shapes = [(784, Q2_HIDDEN), (1, Q2_HIDDEN), (Q2_HIDDEN, 10), (1, 10)]
    w1, b1, w2, b2 = weights = init_like_parameters(np, shapes)
    done, accuracies = 0, []
    while done < steps:
        for start in range(0, images.shape[0], Q2_BATCH):
            x, y = images[start:start + Q2_BATCH], labels[start:start + Q2_BATCH]
            pre = np.dot(x, w1) + b1
            hidden = np.maximum(pre, 0)
            logits = np.dot(hidden, w2) + b2
            log_probs = logits - np.max(logits, axis=1, keepdims=True)
            log_probs -= np.log(np.sum(np.exp(log_probs), axis=1, keepdims=True))
            np.mean(-np.sum(y * log_probs, axis=1))  # the batch loss: the student's get_loss computes it
            d_logits = (np.exp(log_probs) - y) / x.shape[0]
            d_pre = np.dot(d_logits, w2.T) * (pre > 0)
            update(np, weights, [np.dot(x.T, d_pre), np.sum(d_pre, axis=0, keepdims=True),
                                 np.dot(hidden.T, d_logits), np.sum(d_logits, axis=0, keepdims=True)], Q2_RATE)
            done += 1
            if done % Q2_EPOCH_STEPS == 0:
                dev = np.dot(np.maximum(np.dot(dev_images, w1) + b1, 0), w2) + b2
                accuracies.append(float(np.mean(np.argmax(dev, axis=1) == dev_labels)))
            if done == steps:
                break
    return weights, accuracies


def load_mnist(np, public):
    images = np.load(os.path.join(public, "train_images.npy"), mmap_mode="c")
    train_labels = np.load(os.path.join(public, "train_labels.npy"))
    labels = np.zeros((train_labels.shape[0], 10))
    labels[np.arange(train_labels.shape[0]), train_labels] = 1
    dev_images = np.load(os.path.join(public, "dev_images.npy"), mmap_mode="c")
    dev_labels = np.load(os.path.join(public, "dev_labels.npy"))
    return images, labels, dev_images, dev_labels


def regression_data(np):
    """q1's points and targets in the dataset's order, as grader/kit's backend builds them."""
    x = np.expand_dims(np.linspace(-2 * np.pi, 2 * np.pi, num=200), axis=1)
    np.random.RandomState(0).shuffle(x)
    table = os.path.join(KIT_DIR, "regression_targets.txt")
    if not os.path.exists(table):  # a kit from before the table: sin computed here
        return x, np.sin(x)
    with open(table, encoding="utf-8") as handle:
        values = [float.fromhex(line) for line in handle.read().splitlines() if line and not line.startswith("#")]
    order = np.arange(200)
    np.random.RandomState(0).shuffle(order)
    return x, np.array(values, dtype=np.float64).reshape(200, 1)[order]


def floor_staff(np, public, args):
    """The staff solution's q1 and q2 training in plain numpy; timings cover both loops only."""
    q1_seed, q2_seed = (int(seed) for seed in args.seeds.split(","))
    x, y = regression_data(np)
    mnist = load_mnist(np, public)
    setup_s = time.perf_counter() - STARTED
    loop_started, cpu_started = time.perf_counter(), time.process_time()
    np.random.seed(q1_seed)
    hidden, batch = Q1_SHAPES["q1s"]
    weights, losses = floor_q1(np, x, y, args.steps * (x.shape[0] // batch), hidden, batch)
    np.random.seed(q2_seed)
    weights2, accuracies = floor_q2(np, *mnist, args.q2_epochs * Q2_EPOCH_STEPS)
    loop_s, loop_cpu_s = time.perf_counter() - loop_started, time.process_time() - cpu_started
    return weights + weights2, [losses[-1], *accuracies], setup_s, loop_s, loop_cpu_s


def digest(arrays, values):
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(array.tobytes())
    sha.update(repr(values).encode())
    return sha.hexdigest()[:16]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=("ours", "literal", "floor"), required=True)
    parser.add_argument("--shape", choices=("q1", "q1s", "q2", "staff"), required=True)
    parser.add_argument("--q2-epochs", type=int, default=0)
    parser.add_argument("--seeds", default="0,0", help="staff: the q1 and q2 attempts' seeds")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--data-dir", default=os.environ.get("NNGRADE_DATA_DIR", os.path.join(REPO, "var", "data")))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    public = os.path.join(args.data_dir, "public")

    import numpy as np

    np.random.seed(args.seed)
    if args.shape == "staff":
        if args.variant != "floor":
            raise SystemExit("--shape staff is the floor's")
        weights, values, setup_s, loop_s, loop_cpu_s = floor_staff(np, public, args)
    elif args.variant == "floor":
        if args.shape in Q1_SHAPES:
            x, y = regression_data(np)
            setup_s = time.perf_counter() - STARTED
            loop_started, cpu_started = time.perf_counter(), time.process_time()
            weights, values = floor_q1(np, x, y, args.steps, *Q1_SHAPES[args.shape])
        else:
            mnist = load_mnist(np, public)
            setup_s = time.perf_counter() - STARTED
            loop_started, cpu_started = time.perf_counter(), time.process_time()
            weights, values = floor_q2(np, *mnist, args.steps)
    else:
        nn, backend = import_kit(args.variant)
        if args.shape in Q1_SHAPES:
            model = RegressionModel(nn, *Q1_SHAPES[args.shape])
            dataset = backend.RegressionDataset(model)
        else:
            if hasattr(backend, "set_data_dir"):
                backend.set_data_dir(public)
            model = DigitClassificationModel(nn)
            dataset = backend.DigitClassificationDataset(model)
        setup_s = time.perf_counter() - STARTED
        loop_started, cpu_started = time.perf_counter(), time.process_time()
        values = model.train(dataset, args.steps)
        weights = [param.data for param in model.params]
    if args.shape != "staff":
        loop_s, loop_cpu_s = time.perf_counter() - loop_started, time.process_time() - cpu_started
    print(json.dumps({
        "variant": args.variant, "shape": args.shape, "steps": args.steps, "setup_s": setup_s, "loop_s": loop_s,
        "loop_cpu_s": loop_cpu_s, "digest": digest(weights, values), "first_value": values[0] if values else None,
        "last_value": values[-1] if values else None,
        "python": sys.version.split()[0], "numpy": np.__version__,
    }))


if __name__ == "__main__":
    main()
