#!/usr/bin/python3
"""PyTorch baseline for bench_mei: openretina's stimulus optimisation
(insilico/stimulus_optimization: optimize_stimulus, IncreaseObjective,
MeanReducer, SliceMeanReducer, OptimizationStopper,
ChangeNormJointlyClipRangeSeparately), written for this benchmark in plain
torch with the reference's formulas, on the models of retina_baseline.py
(openretina's default retina model) and v1_baseline.py (minimodel's full
model), loaded with the weights bench_mei wrote.

Reads DIR/plan.json (models, objectives, cases) and the weights and starts it
names, times each case as the C++ side does (best of REPEATS, each from the
start), writes each case's final stimulus to DIR/final_<key>.npy and prints
one JSON object: <key> (seconds), <key>_objective (the objective at the
final stimulus) and <key>_faults (minor page faults per iteration).
usage: mei_baseline.py DIR THREADS REPEATS [--channels-last]
"""
import json
import os
import re
import resource
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline_measure import best_of, channels_last_requested  # noqa: E402
import retina_baseline  # noqa: E402  (the models live in the other baselines)
import v1_baseline  # noqa: E402


# --- openretina's insilico pieces --------------------------------------------

class MeanReducer:
    def __init__(self, axis):
        self.axis = axis

    def forward(self, responses):
        return responses.mean(self.axis)


class SliceMeanReducer:
    """Mean of `length` entries from `start`, clipped to the axis; a window that
    starts past the end falls back to the start of the axis (openretina logs a
    warning there; neither side of the benchmark does)."""

    def __init__(self, axis, start, length):
        self.axis, self.start, self.length = axis, start, length

    def forward(self, responses):
        size = responses.shape[self.axis]
        if self.start < size:
            return responses.narrow(self.axis, self.start, min(size - self.start, self.length)).mean(self.axis)
        return responses.narrow(self.axis, 0, min(self.length, size)).mean(self.axis)


class IncreaseObjective:
    """reducer(mean over the selected neurons of model(stimulus).squeeze(0))."""

    def __init__(self, forward, neuron_indices, reducer):
        self.model_forward_fn, self.neuron_indices, self.reducer = forward, neuron_indices, reducer

    def model_forward(self, stimulus):
        responses = self.model_forward_fn(stimulus).squeeze(0)
        return responses if responses.dim() > 1 else responses.unsqueeze(0)  # an image model: one time step

    def forward(self, stimulus):
        return self.reducer.forward(self.model_forward(stimulus)[:, self.neuron_indices].mean(dim=-1))


class OptimizationStopper:
    def __init__(self, max_iterations):
        self.max_iterations = max_iterations

    def early_stop(self, loss):
        return False


class ChangeNormJointlyClipRangeSeparately:
    def __init__(self, min_max_values, norm):
        self.min_max_values, self.norm = min_max_values, norm

    def process(self, x):
        x_norm = torch.linalg.vector_norm(x.view(len(x), -1), dim=-1)
        renorm = x * (self.norm / x_norm).view(len(x), *[1] * (x.dim() - 1))
        clipped = [torch.clamp(renorm[:, i], min=lo, max=hi) for i, (lo, hi) in enumerate(self.min_max_values)]
        return torch.stack(clipped, dim=1)


def optimize_stimulus(stimulus, optimizer_init_fn, objective_object, optimization_stopper, postprocessors=()):
    optimizer = optimizer_init_fn([stimulus])
    for _ in range(optimization_stopper.max_iterations):
        objective = objective_object.forward(stimulus)
        loss = -objective
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for postprocessor in postprocessors:
            stimulus.data = postprocessor.process(stimulus.data)
        if optimization_stopper.early_stop(float(loss.item())):
            break
    stimulus.detach_()


# --- the models, with fovea's weights ----------------------------------------

def load_weights(model, path, python_name):
    """Loads the fovea state dict at `path` (an .npz) into `model`, renaming each
    key with `python_name`; every model tensor must be there."""
    state = {python_name(k): torch.from_numpy(v) for k, v in np.load(path).items()}
    # fovea keeps openretina's Laplace filter of the input regulariser as a
    # buffer; the baseline's core computes no regulariser here.
    state = {k: v for k, v in state.items() if "regularizer" not in k}
    model.load_state_dict(state, strict=True)
    return model.eval()


CHANNELS_LAST = False  # set by main(): the tuned run


def retina_model(d, desc):
    """retina_baseline's model: features.layer{i} -> features.{i}, the layer
    bias module's bias.bias -> bias. Returns stimulus -> (1, T', N)."""
    n, session = desc["neurons"], desc["session"]
    model = retina_baseline.Model({session: n}, {session: torch.zeros(n)})

    def python_name(k):
        return re.sub(r"\.bias\.bias$", ".bias", re.sub(r"features\.layer(\d+)\.", r"features.\1.", k))

    load_weights(model, os.path.join(d, desc["weights"]), python_name)
    if CHANNELS_LAST:
        return lambda x: model(x.contiguous(memory_format=torch.channels_last_3d), session)
    return lambda x: model(x, session)


def v1_model(d, desc):
    """v1_baseline's full model (16-320): drop core.features., ds_conv. and readout.
    Returns stimulus -> (1, N)."""
    model = v1_baseline.Encoder(desc["neurons"], 16, 320, [25, 9], False, 66, 130)
    load_weights(model, os.path.join(d, desc["weights"]),
                 lambda k: k.replace("core.features.", "").replace("ds_conv.", "").replace("readout.", ""))
    if CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
        return lambda x: model(x.contiguous(memory_format=torch.channels_last))
    return model


def make_reducer(r):
    if r["type"] == "slice_mean":
        return SliceMeanReducer(r["axis"], r["start"], r["length"])
    return MeanReducer(r["axis"])


def run_case(objective, start, lr, iterations, postprocessors):
    stimulus = start.clone().requires_grad_(True)
    optimize_stimulus(stimulus, lambda p: torch.optim.SGD(p, lr=lr), objective, OptimizationStopper(iterations),
                      postprocessors)
    return stimulus


def main():
    global CHANNELS_LAST
    CHANNELS_LAST = channels_last_requested()
    d, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    with open(os.path.join(d, "plan.json")) as f:
        plan = json.load(f)
    lr = plan["lr"]
    builders = {"retina": retina_model, "v1": v1_model}
    objectives, starts = {}, {}
    for name, desc in plan["models"].items():
        forward = builders[name](d, desc)
        objectives[name] = IncreaseObjective(forward, [desc["neuron"]], make_reducer(desc["reducer"]))
        starts[name] = torch.from_numpy(np.load(os.path.join(d, desc["start"])))
        run_case(objectives[name], starts[name], lr, 2, [])  # warm-up, as the C++ side
    norm_clip = [ChangeNormJointlyClipRangeSeparately([tuple(r) for r in plan["ranges"]], plan["norm"])]
    out = {}
    for case in plan["cases"]:
        objective, start = objectives[case["model"]], starts[case["model"]]
        post = norm_clip if case["norm_clip"] else []
        result = {}

        def once():
            result["stimulus"] = run_case(objective, start, lr, case["iterations"], post)

        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        out[case["key"]] = best_of(once, repeats)
        out[case["key"] + "_faults"] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (
            repeats * case["iterations"])
        with torch.no_grad():
            out[case["key"] + "_objective"] = objective.forward(result["stimulus"]).item()
        np.save(os.path.join(d, "final_" + case["key"] + ".npy"), result["stimulus"].numpy())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
