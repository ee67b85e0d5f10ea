"""fovea.insilico and fovea.utils from Python: the library's objectives, reducers,
postprocessors and stoppers against the formulas of openretina's Python code
written here in plain torch, optimize_stimulus with a torch optimiser against
the `fovea mei` command (the C++ loop) and the golden MEI cases, the utilities,
and errors."""
import functools
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fovea
from fovea.insilico import (ChangeNormJointlyClipRangeSeparately, ContrastiveNeuronObjective, EarlyStopper,
                            IncreaseObjective, InnerNeuronVisualizationObjective, LowPassFilterProcessor, MeanReducer,
                            OptimizationStopper, RangeRegularizationLoss, ResponseReducer, SliceMeanReducer,
                            optimize_stimulus)
from fovea_test_util import npy, relative_error

TOL = 1e-4
HOEFLING_RANGES = [(-0.654, 6.269), (-0.913, 6.269)]


# ---- reducers ---------------------------------------------------------------------------

def test_reducers_equal_torch():
    torch.manual_seed(0)
    r = torch.randn(30, 7, requires_grad=True)
    assert torch.allclose(MeanReducer().forward(r), r.mean(0))
    assert torch.allclose(MeanReducer(axis=1)(r), r.mean(1))
    assert torch.allclose(SliceMeanReducer(axis=0, start=10, length=10).forward(r), r[10:20].mean(0))
    # Clipped at the end of the axis; past the end it falls back to the first `length`.
    assert torch.allclose(SliceMeanReducer(0, 25, 10).forward(r), r[25:].mean(0))
    assert torch.allclose(SliceMeanReducer(0, 40, 10).forward(r), r[:10].mean(0))
    assert SliceMeanReducer(0, 40, 10).window(30) == (0, 10)
    assert SliceMeanReducer(0, 25, 10).window(30) == (25, 5)
    SliceMeanReducer(0, 10, 10).forward(r).sum().backward()
    assert torch.equal(r.grad[10:20], torch.full((10, 7), 0.1)) and r.grad[:10].abs().sum() == 0
    assert SliceMeanReducer(0, 10, 10).forward(np.ones((20, 3), dtype=np.float32)).shape == (3,)  # NumPy in
    assert "start=10" in repr(SliceMeanReducer(0, 10, 10))


class MaxReducer(ResponseReducer):
    """A reducer written in Python, called by the library's objective."""

    def forward(self, responses):
        return responses.max(dim=0).values


# ---- objectives --------------------------------------------------------------------------

def test_increase_objective_equals_torch(retina_model):
    torch.manual_seed(1)
    x = torch.randn(retina_model.stimulus_shape(time_steps=50), requires_grad=True)
    objective = IncreaseObjective(retina_model, neuron_indices=[1, 4], data_key="session_a",
                                  response_reducer=SliceMeanReducer(axis=0, start=10, length=10))
    value = objective.forward(x)
    value.backward()
    x_ref = x.detach().clone().requires_grad_()
    ref = retina_model(x_ref, data_key="session_a")[0][:, [1, 4]].mean(-1)[10:20].mean()
    ref.backward()
    print(f"IncreaseObjective {value.item():.6g} vs torch {ref.item():.6g}")
    assert value.shape == () and value.item() == pytest.approx(ref.item(), rel=1e-6)
    assert relative_error(x.grad, x_ref.grad) < 1e-6
    # An int neuron index and a Python reducer.
    single = IncreaseObjective(retina_model, 2, "session_b", MaxReducer())
    with torch.no_grad():
        assert single(x).item() == pytest.approx(retina_model(x, "session_b")[0, :, 2].max().item(), rel=1e-6)
        assert torch.equal(single.model_forward(x), retina_model(x, "session_b")[0])


def test_contrastive_objective_equals_torch(retina_model):
    torch.manual_seed(2)
    x = torch.randn(retina_model.stimulus_shape(time_steps=45))
    reducer = MeanReducer(axis=0)
    with torch.no_grad():
        scores = retina_model(x, "session_a")[0].mean(0)  # (7,)
        t = 1.6
        # openretina: neuron 3 against every neuron of the session.
        ref = scores[3] / t - torch.logsumexp(scores / t, 0) + np.log(7)
        value = ContrastiveNeuronObjective(retina_model, 3, "session_a", reducer).forward(x)
        assert value.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)
        # Groups: on = {0, 1}, off = {2}, {3, 4}; temperature 0.5.
        on = scores[[0, 1]].mean()
        groups = torch.stack([on, scores[2], scores[[3, 4]].mean()])
        ref = on / 0.5 - torch.logsumexp(groups / 0.5, 0) + np.log(3)
        value = ContrastiveNeuronObjective(retina_model, [0, 1], "session_a", reducer, temperature=0.5,
                                           off_indices_list=[[2], [3, 4]]).forward(x)
        assert value.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-6)
        formula = ContrastiveNeuronObjective.contrastive_objective(on, groups, 0.5)
        assert formula.item() == pytest.approx(ref.item(), rel=1e-6, abs=1e-6)


def test_inner_neuron_objective(retina_model):
    objective = InnerNeuronVisualizationObjective(retina_model, data_key=None, response_reducer=MeanReducer(axis=0))
    assert objective.features_dict == {"core_features_layer0": 16, "core_features_layer1": 16}
    with pytest.raises(ValueError, match="set_layer_channel"):
        objective.forward(torch.zeros(retina_model.stimulus_shape(40)))
    objective.set_layer_channel("core_features_layer1", 5)
    torch.manual_seed(3)
    x = torch.randn(retina_model.stimulus_shape(time_steps=40, num_batches=2))
    with torch.no_grad():
        # The last layer's output is the core's output (no frames cut): channel 5 at the
        # centre (8 × 6 -> row 4, column 3), averaged over the batch, then over time.
        ref = retina_model.core(x)[:, 5, :, 4, 3].mean(0).mean(0)
        assert objective.forward(x).item() == pytest.approx(ref.item(), rel=1e-5)
    with pytest.raises(fovea.Error, match="features.layer0"):
        objective.set_layer_channel("core_features_layer7", 0)
    with pytest.raises(fovea.Error, match="channel"):
        objective.set_layer_channel("features.layer0", 16)


# ---- constraints ---------------------------------------------------------------------------

def test_postprocessors_and_losses_equal_torch():
    torch.manual_seed(4)
    x = torch.randn(2, 2, 30, 18, 16) * 3
    post = ChangeNormJointlyClipRangeSeparately(HOEFLING_RANGES, norm=30.0)
    y = post.process(x)
    # openretina's formula: each sample to norm 30, then the per-channel clamp.
    renorm = x * (30.0 / x.view(2, -1).norm(dim=-1)).view(2, 1, 1, 1, 1)
    ref = torch.stack([renorm[:, 0].clamp(*HOEFLING_RANGES[0]), renorm[:, 1].clamp(*HOEFLING_RANGES[1])], 1)
    assert torch.allclose(y, ref, atol=1e-6)
    assert torch.allclose(ChangeNormJointlyClipRangeSeparately([(None, 0.5), (None, None)], None).process(x),
                          torch.stack([x[:, 0].clamp(max=0.5), x[:, 1]], 1))

    loss = RangeRegularizationLoss(HOEFLING_RANGES, max_norm=30.0, factor=0.1)
    ref = 0.1 * (sum(F.relu(lo - x[:, c]).sum() + F.relu(x[:, c] - hi).sum()
                     for c, (lo, hi) in enumerate(HOEFLING_RANGES)) + F.relu(x.norm() - 30.0))
    assert loss.forward(x).item() == pytest.approx(ref.item(), rel=1e-5)

    low = LowPassFilterProcessor(sigma=1.5, kernel_size=5)
    kernel = torch.exp(-(torch.arange(5.0) - 2) ** 2 / (2 * 1.5 ** 2))
    kernel = kernel / kernel.sum()
    assert torch.allclose(low.kernel, kernel)
    ref = F.conv3d(x, kernel.view(1, 1, 5, 1, 1).repeat(2, 1, 1, 1, 1), padding="same", groups=2)
    assert torch.allclose(low.process(x), ref, atol=1e-5)


@pytest.mark.parametrize("losses,expected", [
    ([3.0, 2.0, 1.0, 0.5], [False, False, False, False]),
    ([3.0, 2.0, 2.5], [False, False, True]),
    ([3.0, 3.0, 3.0], [False, False, False]),  # equal to the best: neither counts nor resets
])
def test_early_stopper_patience_1(losses, expected):
    stopper = EarlyStopper(max_iterations=10)
    assert [stopper.early_stop(v) for v in losses] == expected


def test_early_stopper_patience_and_min_delta():
    stopper = EarlyStopper(patience=2, min_delta=0.5)
    # best 1.0; 1.4 is within min_delta (ignored); 1.6 and 2.0 count; the second stops.
    assert [stopper.early_stop(v) for v in (1.0, 1.4, 1.6, 2.0)] == [False, False, False, True]
    stopper = EarlyStopper(patience=2)
    # a new best (0.5) resets the count.
    assert [stopper.early_stop(v) for v in (1.0, 2.0, 0.5, 0.7, 0.6)] == [False, False, False, False, True]
    assert OptimizationStopper(max_iterations=None).max_iterations >= 2 ** 62
    assert OptimizationStopper(max_iterations=7).max_iterations == 7
    assert not OptimizationStopper(3).early_stop(1e9)


# ---- the loop ---------------------------------------------------------------------------------

def run_python_mei(model, start, steps=10, postprocessor=None, stopper=None, losses=None,
                   optimizer=functools.partial(torch.optim.SGD, lr=100.0)):
    objective = IncreaseObjective(model, neuron_indices=[3], data_key="session_a",
                                  response_reducer=SliceMeanReducer(axis=0, start=10, length=10))
    stimulus = start.clone().requires_grad_()
    history = optimize_stimulus(stimulus, optimizer, objective, stopper or OptimizationStopper(max_iterations=steps),
                                stimulus_regularization_loss=losses, stimulus_postprocessor=postprocessor)
    with torch.no_grad():
        final = objective.forward(stimulus).item()
    return stimulus, history, final


@pytest.mark.parametrize("case,postprocess,stimulus_tol", [("plain", None, 5e-3), ("norm_clip", True, 1e-3)])
def test_optimize_stimulus_equals_golden(golden, golden_json, retina_model, case, postprocess, stimulus_tol):
    """openretina's MEI cases (SGD lr 100, 10 steps) through fovea.insilico with torch.optim.SGD."""
    start = npy(golden("openretina_mei/initial_stimulus.npy"))
    post = ChangeNormJointlyClipRangeSeparately(HOEFLING_RANGES, norm=30.0) if postprocess else None
    stimulus, history, final = run_python_mei(retina_model, start, postprocessor=post)
    err = relative_error(stimulus, npy(golden(f"openretina_mei/mei_{case}.npy")))
    ref = golden_json[f"mei_{case}_objective"]
    print(f"MEI {case}: stimulus relative error {err:.3g}, objective {final:.6g} vs {ref:.6g}")
    assert len(history) == 10 and not stimulus.requires_grad
    assert err < stimulus_tol and abs(final - ref) / abs(ref) < 1e-3
    assert final > history[0]


@pytest.mark.parametrize("flags,postprocess,patience", [
    (["--lr", "100"], False, None),
    (["--lr", "100", "--hoefling-constraints"], True, None),
    (["--optimizer", "adam", "--lr", "20", "--hoefling-constraints", "--patience", "1"], True, 1),
])
def test_optimize_stimulus_equals_the_cli(golden, retina_model, fovea_binary, tmp_path, flags, postprocess, patience):
    """The same recipe from a zero start: `fovea mei` (the C++ loop) and optimize_stimulus
    with torch.optim.SGD (or Adam, with early stopping) give the same stimulus."""
    ckpt = golden("openretina_core_readout/checkpoint.ckpt")
    out = tmp_path / "mei"
    subprocess.run([fovea_binary, "mei", "--model", ckpt, "--session", "session_a", "--neuron", "3", "--init-scale", "0",
                    "--steps", "10", "--time-steps", "50", "--response-start", "10",
                    "--response-length", "10", "--threads", "1", "-o", str(out)] + flags,
                   check=True, capture_output=True)
    cpp = npy(str(out / "session_a_neuron_3.npy"))
    post = ChangeNormJointlyClipRangeSeparately(HOEFLING_RANGES, norm=30.0) if postprocess else None
    stopper = EarlyStopper(max_iterations=10, patience=patience) if patience else None
    start = torch.zeros(retina_model.stimulus_shape(time_steps=50))
    optimizer = (functools.partial(torch.optim.Adam, lr=20.0) if "adam" in flags
                 else functools.partial(torch.optim.SGD, lr=100.0))
    stimulus, history, final = run_python_mei(retina_model, start, postprocessor=post, stopper=stopper,
                                              optimizer=optimizer)
    err = relative_error(stimulus[0], cpp)
    print(f"flags {flags}: Python vs fovea mei, stimulus relative error {err:.3g} after {len(history)} steps, "
          f"objective {history[0]:.4g} -> {final:.4g}")
    assert cpp.norm() > 0 and err < TOL
    assert final > history[0]
    if patience:  # this run's objective drops at a step: both loops stop there
        assert len(history) < 10
    if postprocess:
        # Rescaled to norm 30, then clipped (which only shrinks it).
        assert 20.0 < stimulus.norm().item() <= 30.0 + 1e-3 and stimulus[:, 0].min() >= -0.654 - 1e-6


def test_optimize_stimulus_with_adam_and_losses(retina_model):
    torch.manual_seed(5)
    start = torch.randn(retina_model.stimulus_shape(time_steps=45)) * 0.1
    objective = IncreaseObjective(retina_model, [0], "session_b", MeanReducer())
    stimulus = start.clone().requires_grad_()
    loss = RangeRegularizationLoss(HOEFLING_RANGES, max_norm=5.0)
    history = optimize_stimulus(stimulus, functools.partial(torch.optim.Adam, lr=0.05), objective,
                                OptimizationStopper(max_iterations=5), stimulus_regularization_loss=[loss],
                                stimulus_postprocessor=[LowPassFilterProcessor(1.0, 5)])
    assert len(history) == 5 and history[-1] > history[0]


# ---- utilities ---------------------------------------------------------------------------------

def test_video_and_composition(tmp_path):
    from fovea.utils import decompose_kernel, save_stimulus_to_mp4_video, stimulus_composition
    from test_seed_listings import mp4_sample_counts
    torch.manual_seed(6)
    # A rank-1 movie: temporal ⊗ spatial, so the decomposition recovers both.
    t = torch.sin(torch.linspace(0, 6.28, 30)) + 0.1
    s = torch.randn(18, 16)
    movie = torch.stack([t[:, None, None] * s, -2 * t[:, None, None] * s])
    temporal, spatial, s1 = decompose_kernel(movie[0])
    assert abs(s1) < 1e-3 * np.linalg.norm(temporal)
    outer = np.outer(temporal, spatial.ravel()).reshape(30, 18, 16)
    assert np.allclose(outer, movie[0].numpy(), atol=1e-4)
    assert spatial.max() <= 1 + 1e-9 and np.abs(spatial).max() == pytest.approx(1.0)
    channels = stimulus_composition(movie)
    assert [c["name"] for c in channels] == ["Green", "UV"]
    assert channels[0]["spatial"].shape == (18, 16) and len(channels[0]["frequencies"]) == 15
    assert 0 < channels[0]["weighted_frequency"] < 10

    info = save_stimulus_to_mp4_video(movie, str(tmp_path / "movie.mp4"), fps=10, start_at_frame=5)
    assert info["frames"] == 25 and info["width"] >= 16 and info["height"] >= 18
    assert mp4_sample_counts(tmp_path / "movie.mp4") == [25]
    info = save_stimulus_to_mp4_video(movie.numpy(), tmp_path / "big.mp4", upscale=4)
    assert (info["width"], info["height"]) == (64, 72)


# ---- errors -----------------------------------------------------------------------------------

def test_errors(retina_model, tmp_path):
    from fovea.utils import plot_stimulus_composition, save_stimulus_to_mp4_video
    reducer = SliceMeanReducer(0, 10, 10)
    with pytest.raises(fovea.Error, match="session_c"):
        IncreaseObjective(retina_model, [0], "session_c", reducer)
    with pytest.raises(fovea.Error, match="neuron index 7"):
        IncreaseObjective(retina_model, [7], "session_a", reducer)
    with pytest.raises(fovea.Error, match="batch size 1"):
        IncreaseObjective(retina_model, [0], "session_a", reducer).forward(torch.zeros(retina_model.stimulus_shape(40, 2)))
    with pytest.raises(TypeError):
        IncreaseObjective(retina_model, "3", "session_a", reducer)
    with pytest.raises(TypeError):
        IncreaseObjective(retina_model, [0], "session_a", lambda r: r.mean())
    with pytest.raises(TypeError, match="fovea model"):
        IncreaseObjective("hoefling_2024_base_low_res", [0], "session_a", reducer)
    with pytest.raises(TypeError, match="number of neurons"):
        IncreaseObjective(torch.nn.Identity(), [0], "session_a", reducer)
    with pytest.raises(ValueError):
        SliceMeanReducer(0, -1, 10)
    with pytest.raises(ValueError):
        SliceMeanReducer(0, 0, 0)
    with pytest.raises(TypeError):
        MeanReducer(axis=0.5)
    with pytest.raises(ValueError):
        ContrastiveNeuronObjective(retina_model, 0, "session_a", reducer, temperature=0)
    with pytest.raises(ValueError):
        EarlyStopper(patience=0)
    with pytest.raises(ValueError):
        OptimizationStopper(max_iterations=-1)
    with pytest.raises(ValueError):
        ChangeNormJointlyClipRangeSeparately([(1.0, 0.0)], None)
    with pytest.raises(TypeError):
        ChangeNormJointlyClipRangeSeparately([1.0, 2.0], None)
    with pytest.raises(fovea.Error, match="channels"):
        ChangeNormJointlyClipRangeSeparately(HOEFLING_RANGES, 30.0).process(torch.zeros(1, 3, 5, 4, 4))
    with pytest.raises(fovea.Error):
        LowPassFilterProcessor().process(torch.zeros(1, 2, 4, 4))

    objective = IncreaseObjective(retina_model, [0], "session_a", reducer)
    sgd = functools.partial(torch.optim.SGD, lr=1.0)
    with pytest.raises(ValueError, match="requires_grad"):
        optimize_stimulus(torch.zeros(retina_model.stimulus_shape(40)), sgd, objective, OptimizationStopper(1))
    x = torch.zeros(retina_model.stimulus_shape(40), requires_grad=True)
    with pytest.raises(TypeError):
        optimize_stimulus(x.detach().numpy(), sgd, objective, OptimizationStopper(1))
    with pytest.raises(TypeError):
        optimize_stimulus(x, sgd, objective, 10)
    with pytest.raises(TypeError):
        optimize_stimulus(x, lambda params: None, objective, OptimizationStopper(1))
    with pytest.raises(TypeError):
        optimize_stimulus(x, sgd, objective, OptimizationStopper(1), stimulus_postprocessor=object())

    movie = torch.randn(2, 10, 18, 16)
    with pytest.raises(fovea.Error):
        save_stimulus_to_mp4_video(torch.randn(4, 10, 8, 8), str(tmp_path / "four.mp4"))
    with pytest.raises(fovea.Error):
        save_stimulus_to_mp4_video(torch.full((1, 3, 8, 8), float("nan")), str(tmp_path / "nan.mp4"))
    assert not (tmp_path / "four.mp4").exists() and not (tmp_path / "nan.mp4").exists()
    with pytest.raises(ValueError):
        save_stimulus_to_mp4_video(movie[0], str(tmp_path / "three_d.mp4"))
    with pytest.raises(TypeError):
        save_stimulus_to_mp4_video(movie, 42)
    with pytest.raises(ValueError):
        save_stimulus_to_mp4_video(movie, str(tmp_path / "x.mp4"), start_at_frame=10)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3)
    try:
        with pytest.raises(fovea.Error):  # 10 frames: too short for the low-pass filter
            plot_stimulus_composition(movie, axes[0], axes[1], axes[2])
        with pytest.raises(TypeError):
            plot_stimulus_composition(torch.randn(2, 30, 18, 16), "ax", axes[1], axes[2])
        with pytest.raises(IndexError):
            plot_stimulus_composition(torch.randn(2, 30, 18, 16), axes[0], None, axes[2], highlight_x_list=[(5, 40)])
    finally:
        plt.close(fig)


def test_docstrings():
    import fovea.insilico as insilico
    import fovea.utils as utils
    for obj in (insilico, insilico.optimize_stimulus, insilico.IncreaseObjective, insilico.SliceMeanReducer,
                insilico.ContrastiveNeuronObjective, insilico.InnerNeuronVisualizationObjective,
                insilico.EarlyStopper, insilico.ChangeNormJointlyClipRangeSeparately, utils,
                utils.save_stimulus_to_mp4_video, utils.plot_stimulus_composition, fovea.models.CoreReadout,
                fovea.models.Core, fovea.models.Readout, fovea.models.load_core_readout_from_remote):
        assert obj.__doc__ and len(obj.__doc__) > 40, obj


# ---- objectives on composed models ------------------------------------------------------------

class _UserReadout(fovea.models.Readout):
    """A user readout on the fovea core's features (16 channels, 8 × 6): one linear unit per
    neuron on the spatially averaged channels, softplus."""

    def __init__(self, num_neurons=3):
        super().__init__()
        self.num_neurons = num_neurons
        self.linear = torch.nn.Linear(16, num_neurons)

    def forward(self, x):
        return F.softplus(self.linear(x.mean(dim=(3, 4)).transpose(1, 2)))  # (batch, time, neurons)


def test_objective_on_a_core_readout_with_a_user_readout(retina_model):
    torch.manual_seed(7)
    readout = _UserReadout()
    model = fovea.models.CoreReadout(core=retina_model.core, readout=readout)
    assert model.n_neurons() == 3
    objective = IncreaseObjective(model, [2], None, SliceMeanReducer(axis=0, start=5, length=5))
    x = torch.randn(model.stimulus_shape(time_steps=45), requires_grad=True)
    value = objective.forward(x)
    value.backward()
    x_ref = x.detach().clone().requires_grad_()
    ref = readout(retina_model.core(x_ref))[0, 5:10, 2].mean()
    ref.backward()
    assert value.item() == pytest.approx(ref.item(), rel=1e-6)
    assert relative_error(x.grad, x_ref.grad) < 1e-6
    with pytest.raises(fovea.Error, match="neuron index 3"):
        IncreaseObjective(model, [3], None, MeanReducer())

    stimulus = (torch.randn(model.stimulus_shape(time_steps=45)) * 0.1).requires_grad_()
    history = optimize_stimulus(stimulus, functools.partial(torch.optim.SGD, lr=10.0), objective,
                                OptimizationStopper(max_iterations=5))
    with torch.no_grad():
        assert objective.forward(stimulus).item() > history[0]
    # The user's errors reach the caller as they were raised.
    broken = fovea.models.CoreReadout(core=retina_model.core, readout=_UserReadout())
    broken.readout.linear = torch.nn.Linear(5, 3)
    with pytest.raises(RuntimeError, match="batch2|multiplied") as e:  # torch's message for the Linear
        IncreaseObjective(broken, [0], None, MeanReducer()).forward(x)
    assert not isinstance(e.value, fovea.Error)
    inner = InnerNeuronVisualizationObjective(model, None, MeanReducer())
    assert inner.features_dict == {}
    with pytest.raises(fovea.Error, match="layers"):
        inner.set_layer_channel("features.layer0", 0)
