"""fovea.load_model and fovea.Model from Python: outputs equal the parity
cases, gradients with respect to the stimulus equal the C++ ones (the `fovea
mei` command) and a pure-PyTorch model's, parameters are shared with the C++
model, save/load round trips, figures, and errors."""
import os
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fovea
from fovea_test_util import npy, relative_error

TOL = 1e-4  # the parity tests' tolerance (golden/README.md)
MEI_TOL = 1e-3


# ---- the package ------------------------------------------------------------------

def test_package_has_docstrings():
    assert "torch.Tensor" in fovea.__doc__
    for obj in (fovea.load_model, fovea.Model, fovea.Model.forward, fovea.Model.stimulus_shape, fovea.Model.save,
                fovea.Model.info, fovea.Model.parameters, fovea.ModelCore.plot_weight_visualization,
                fovea.ReadoutSession.plot_weight_for_neuron, fovea.Error, fovea.set_kernel_set):
        assert obj.__doc__ and len(obj.__doc__) > 20, obj
    import pydoc
    text = pydoc.render_doc(fovea.Model, renderer=pydoc.plaintext)
    assert "stimulus_shape" in text and "named_parameters" in text
    assert issubclass(fovea.Error, RuntimeError)


# ---- outputs against the parity cases --------------------------------------------

def test_v1_full_model_output_equals_golden(golden, v1_model):
    x = np.load(golden("minimodel_full/input.npy"))  # NumPy in, torch out
    with torch.no_grad():
        y = v1_model(x)
    assert isinstance(y, torch.Tensor) and y.shape == (4, 24)
    err = relative_error(y, npy(golden("minimodel_full/output.npy")))
    print(f"minimodel_full output relative error {err:.3g}")
    assert err < TOL


def test_retina_outputs_equal_golden(golden, retina_model):
    x = npy(golden("openretina_core_readout/input.npy"))
    assert retina_model.readout_keys() == ["session_a", "session_b"]
    with torch.no_grad():
        core = retina_model.core(x)
        err = relative_error(core, npy(golden("openretina_core_readout/core_output.npy")))
        print(f"retina core output relative error {err:.3g}")
        assert err < TOL
        for session in retina_model.readout_keys():
            ref = npy(golden(f"openretina_core_readout/output_{session}.npy"))
            y = retina_model(x, data_key=session)
            assert y.shape == ref.shape
            err = relative_error(y, ref)
            err_readout = relative_error(retina_model.readout[session](core), ref)
            print(f"retina {session} output relative error {err:.3g} (readout on the core output {err_readout:.3g})")
            assert err < TOL and err_readout < TOL
        both = retina_model(x)  # every session, concatenated along neurons
        assert both.shape[-1] == retina_model.n_neurons() == 12


# ---- gradients -------------------------------------------------------------------

def minimodel_full_forward(sd, x):
    """minimodel's 16-320 full model in plain PyTorch, from a state dict."""
    def bn(h, p):
        return F.batch_norm(h, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"], sd[p + "bias"],
                            False, 0.0, 1e-5)
    h = F.conv2d(x, sd["core.features.layer0.conv.weight"], padding=12)
    h = F.max_pool2d(F.elu(bn(h, "core.features.layer0.norm.")), 2)
    p = "core.features.layer1."
    h = F.conv2d(h, sd[p + "ds_conv.in_depth_conv.weight"])
    h = F.conv2d(h, sd[p + "ds_conv.spatial_conv.weight"], padding=4, groups=h.shape[1])
    h = F.conv2d(h, sd[p + "ds_conv.out_depth_conv.weight"])
    h = F.elu(bn(h, p + "norm."))
    wy, wx, wc = sd["readout.Wy"][:, 0], sd["readout.Wx"][:, 0], sd["readout.Wc"][:, 0]
    return F.elu(torch.einsum("icyx,nc,ny,nx->in", h, wc, wy, wx) + sd["readout.bias"]) + 1 + 1e-12


@pytest.mark.parametrize("kernels", ["fast", "reference"])
def test_v1_stimulus_gradient_equals_pure_pytorch(golden, v1_model, kernels):
    previous = fovea.kernel_set()
    fovea.set_kernel_set(kernels)
    try:
        x0 = npy(golden("minimodel_full/input.npy"))[:2]
        x = x0.clone().requires_grad_()
        # Image 0: the gradient of neuron 5; image 1: of a weighted sum of all neurons
        # (eval mode: the images do not interact, so one backward gives both).
        weights = torch.linspace(0, 1, 24)
        y = v1_model(x)
        (y[0, 5] + (y[1] * weights).sum()).backward()
        assert x.grad is not None and x.grad.shape == x.shape
        ref_x = x0.clone().requires_grad_()
        sd = torch.load(golden("minimodel_full/state_dict.pt"))
        ref_y = minimodel_full_forward(sd, ref_x)
        (ref_y[0, 5] + (ref_y[1] * weights).sum()).backward()
        err_y = relative_error(y, ref_y)
        err_g0 = relative_error(x.grad[0], ref_x.grad[0])
        err_g1 = relative_error(x.grad[1], ref_x.grad[1])
        print(f"{kernels} kernels: output {err_y:.3g}, gradient of neuron 5 {err_g0:.3g}, of the population {err_g1:.3g}")
        assert err_y < TOL and err_g0 < TOL and err_g1 < TOL
    finally:
        fovea.set_kernel_set(previous)


def neuron_objective(model, x, session, neuron, start=10, length=10):
    """openretina's IncreaseObjective(neuron, SliceMeanReducer(axis=0, start, length))."""
    return model(x, data_key=session)[0, start:start + length, neuron].mean()


def torch_sgd_mei(model, start, postprocess=None):
    """openretina's optimize_stimulus with the seed recipe, written in plain torch
    around the fovea model: SGD(lr=100) on the stimulus, 10 steps, loss = -objective."""
    model.requires_grad_(False)
    x = start.clone().requires_grad_()
    optimizer = torch.optim.SGD([x], lr=100.0)
    for _ in range(10):
        optimizer.zero_grad()
        (-neuron_objective(model, x, "session_a", 3)).backward()
        optimizer.step()
        if postprocess is not None:
            with torch.no_grad():
                postprocess(x)
    with torch.no_grad():
        return x.detach(), neuron_objective(model, x, "session_a", 3).item()


def norm_clip(x):
    """ChangeNormJointlyClipRangeSeparately: L2 norm 30, green [-0.654, 6.269], UV [-0.913, 6.269]."""
    x.mul_(30.0 / x.norm())
    x[:, 0].clamp_(-0.654, 6.269)
    x[:, 1].clamp_(-0.913, 6.269)


# Tolerances as tests/insilico/test_mei_parity.cpp: without the norm constraint the
# stimulus grows to ~470 and float32 rounding reaches the 1e-3 level (the golden run
# and a float64 run differ by 2.1e-3), so the plain stimulus is held to 5e-3.
@pytest.mark.parametrize("case,postprocess,stimulus_tol", [("plain", None, 5e-3), ("norm_clip", norm_clip, MEI_TOL)])
def test_retina_mei_with_torch_sgd_equals_golden(golden, golden_json, retina_model, case, postprocess, stimulus_tol):
    start = npy(golden("openretina_mei/initial_stimulus.npy"))
    x, objective = torch_sgd_mei(retina_model, start, postprocess)
    err = relative_error(x, npy(golden(f"openretina_mei/mei_{case}.npy")))
    ref = golden_json[f"mei_{case}_objective"]
    print(f"MEI {case}: stimulus relative error {err:.3g}, objective {objective:.6g} vs {ref:.6g} "
          f"(relative {abs(objective - ref) / abs(ref):.3g})")
    assert err < stimulus_tol
    assert abs(objective - ref) / abs(ref) < MEI_TOL


def test_retina_gradient_equals_cli(golden, retina_model, fovea_binary, tmp_path):
    """`fovea mei` from a zero start with one SGD step of lr 1 writes 0 + 1 * d(objective)/d(stimulus):
    the C++ gradient, to compare with the one torch computes through the module."""
    ckpt = golden("openretina_core_readout/checkpoint.ckpt")
    out = tmp_path / "mei"
    subprocess.run([fovea_binary, "mei", "--model", ckpt, "--session", "session_a", "--neuron", "3", "--init-scale", "0",
                    "--steps", "1", "--lr", "1", "--time-steps", "50", "--response-start", "10",
                    "--response-length", "10", "--threads", "1", "-o", str(out)], check=True, capture_output=True)
    cpp_grad = npy(str(out / "session_a_neuron_3.npy"))
    x = torch.zeros(retina_model.stimulus_shape(time_steps=50), requires_grad=True)
    neuron_objective(retina_model, x, "session_a", 3).backward()
    err = relative_error(x.grad[0], cpp_grad)
    print(f"stimulus gradient: Python vs the fovea command, relative error {err:.3g} (norm {cpp_grad.norm():.4g})")
    assert cpp_grad.norm() > 0
    assert err < TOL


# ---- parameters, modes, devices --------------------------------------------------

def test_parameters_are_shared_with_the_model(golden, retina_model):
    names = [n for n, _ in retina_model.named_parameters()]
    state = retina_model.state_dict()
    assert "core.features.layer0.conv.sin_weights" in names and "readout.session_a.mask_mean" in names
    assert set(names) <= set(state) and len(state) > len(names)  # buffers too
    assert all(isinstance(p, torch.Tensor) and p.requires_grad for p in retina_model.parameters())
    assert sum(p.numel() for p in retina_model.parameters()) == retina_model.n_parameters()
    assert [n for n, _ in retina_model.core.named_parameters(prefix="core")] == [n for n in names if n.startswith("core.")]

    x = npy(golden("openretina_core_readout/input.npy"))
    with torch.no_grad():
        before = retina_model(x, "session_a")
        bias = dict(retina_model.named_parameters())["readout.session_a.bias"]
        bias.add_(1.0)  # in place through torch: the C++ model sees it
        after = retina_model(x, "session_a")
        assert not torch.allclose(before, after)
        assert torch.equal(retina_model.state_dict()["readout.session_a.bias"], bias)
        bias.sub_(1.0)
        assert torch.allclose(retina_model(x, "session_a"), before)


def test_torch_optimiser_trains_the_model(golden, retina_model):
    x = npy(golden("openretina_core_readout/input.npy"))
    target = npy(golden("openretina_core_readout/target_session_a.npy")).float()
    retina_model.train()
    optimizer = torch.optim.Adam(retina_model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        y = retina_model(x, "session_a")
        loss = (y - target * torch.log(y + 1e-16)).sum()  # openretina's Poisson loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print("Poisson loss over 5 Adam steps:", [round(v, 3) for v in losses])
    assert losses[-1] < losses[0]
    readout_grads = [p.grad for n, p in retina_model.named_parameters() if n.startswith("readout.session_a.")]
    assert all(g is not None for g in readout_grads)


def test_modes_shapes_and_device(v1_model, retina_model):
    assert not v1_model.training
    assert v1_model.train() is v1_model and v1_model.training
    assert v1_model.eval() is v1_model and not v1_model.training
    assert v1_model.to("cpu") is v1_model and v1_model.device == torch.device("cpu")
    assert v1_model.stimulus_shape(10, num_batches=3) == (3, 1, 66, 130)
    assert retina_model.stimulus_shape(time_steps=50) == (1, 2, 50, 18, 16)
    assert v1_model.readout_keys() == [""]
    assert len(retina_model.readout) == 2 and "session_b" in retina_model.readout
    assert retina_model.readout["session_b"].n_neurons == 5
    info = retina_model.info()
    assert info["sessions"] == {"session_a": 7, "session_b": 5}
    assert info["parameters"] == info["core_parameters"] + info["readout_parameters"]
    assert info["core"]["type"] and info["input_shape"]
    assert "session_a: 7" in repr(retina_model)


# ---- files -------------------------------------------------------------------------

def test_save_load_round_trip(golden, retina_model, tmp_path, fovea_binary):
    x = npy(golden("openretina_core_readout/input.npy"))
    path = tmp_path / "model.safetensors"
    retina_model.save(path)
    loaded = fovea.load_model(str(path))
    assert loaded.readout_keys() == retina_model.readout_keys()
    for (name, a), (name_b, b) in zip(retina_model.state_dict().items(), loaded.state_dict().items()):
        assert name == name_b and torch.equal(a, b), name
    with torch.no_grad():
        for session in retina_model.readout_keys():
            assert torch.equal(loaded(x, session), retina_model(x, session))
    # The command line reads the file the module wrote.
    info = subprocess.run([fovea_binary, "info", str(path)], check=True, capture_output=True, text=True).stdout
    assert "session session_a: 7 neurons" in info


def test_model_written_by_the_cli(golden, retina_model, fovea_binary, tmp_path):
    path = tmp_path / "imported.safetensors"
    subprocess.run([fovea_binary, "import", golden("openretina_core_readout/checkpoint.ckpt"), "-o", str(path)],
                   check=True, capture_output=True)
    model = fovea.load_model(path)  # os.PathLike
    x = npy(golden("openretina_core_readout/input.npy"))
    with torch.no_grad():
        err = relative_error(model(x, "session_b"), npy(golden("openretina_core_readout/output_session_b.npy")))
    print(f"CLI-imported model, session_b output relative error {err:.3g}")
    assert err < TOL
    assert model.info()["parameters"] == retina_model.info()["parameters"]


def test_load_from_url(golden, tmp_path, monkeypatch):
    """An http URL is downloaded once into the cache (FOVEA_CACHE_DIR), as the command line does."""
    import functools
    import http.server
    import threading
    folder = os.path.dirname(golden("openretina_core_readout/checkpoint.ckpt"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=folder)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("FOVEA_CACHE_DIR", str(tmp_path / "cache"))
        url = f"http://127.0.0.1:{server.server_address[1]}/checkpoint.ckpt"
        model = fovea.load_model(url)
        assert model.readout_keys() == ["session_a", "session_b"] and model.name == url
        assert any((tmp_path / "cache").rglob("*"))
        with pytest.raises(fovea.Error, match="404|not found|Not Found"):
            fovea.load_model(f"http://127.0.0.1:{server.server_address[1]}/missing.ckpt")
    finally:
        server.shutdown()
        thread.join()


def test_load_state_dict(golden, v1_model):
    state = {k: v.clone() for k, v in v1_model.state_dict().items()}
    state["readout.bias"] = np.full(24, 0.5, dtype=np.float32)  # NumPy accepted
    v1_model.load_state_dict(state)
    assert torch.all(v1_model.state_dict()["readout.bias"] == 0.5)
    state["readout.extra"] = torch.zeros(1)
    with pytest.raises(fovea.Error):
        v1_model.load_state_dict(state)
    v1_model.load_state_dict(state, strict=False)


# ---- figures ----------------------------------------------------------------------

def _check_figure(fig):
    try:
        import matplotlib.figure
    except ImportError:
        assert isinstance(fig, np.ndarray) and fig.dtype == np.uint8 and fig.ndim == 3 and fig.shape[2] == 3
        assert fig.shape[0] > 100 and fig.shape[1] > 100 and fig.std() > 0
        return fig.shape
    assert isinstance(fig, matplotlib.figure.Figure)
    assert hasattr(fig.fovea_figure, "save")
    return tuple(fig.get_size_inches())


def test_weight_figures(retina_model, v1_model):
    print("core figure:", _check_figure(retina_model.core.plot_weight_visualization(layer=0, in_channel=1, out_channel=0)))
    session_key = retina_model.readout.readout_keys()[0]
    print("readout figure:", _check_figure(retina_model.readout[session_key].plot_weight_for_neuron(5)))
    _check_figure(v1_model.core.plot_weight_visualization(1, 0, 3))
    _check_figure(v1_model.readout[""].plot_weight_for_neuron(0))
    with pytest.raises(fovea.Error, match="layer"):
        retina_model.core.plot_weight_visualization(layer=7, in_channel=0, out_channel=0)
    with pytest.raises(fovea.Error):
        retina_model.readout[session_key].plot_weight_for_neuron(99)


# ---- errors -----------------------------------------------------------------------

def test_errors(golden, retina_model, tmp_path):
    missing = str(tmp_path / "no_such_model.safetensors")
    with pytest.raises(fovea.Error) as e:
        fovea.load_model(missing)
    assert isinstance(e.value, RuntimeError) and missing in str(e.value) and "\n" not in str(e.value)
    print("missing file:", e.value)
    with pytest.raises(fovea.Error, match="unknown model"):
        fovea.load_model("no_such_pretrained_model")
    with pytest.raises(TypeError):
        fovea.load_model(42)
    with pytest.raises(ValueError):
        fovea.load_model(golden("openretina_core_readout/checkpoint.ckpt"), device="no-such-device")
    x = torch.zeros(retina_model.stimulus_shape(40))
    with pytest.raises(TypeError):
        retina_model([[0.0]])
    with pytest.raises(TypeError):
        retina_model(x, data_key=3)
    with pytest.raises(fovea.Error, match="session_c") as e:
        retina_model(x, data_key="session_c")
    print("unknown session:", e.value)
    with pytest.raises(KeyError):
        retina_model.readout["session_c"]
    with pytest.raises(TypeError):
        retina_model.stimulus_shape("50")
    with pytest.raises(ValueError):
        fovea.set_kernel_set("fastest")
    # LibTorch's own errors arrive as PyTorch raises them, without the C++ backtrace.
    with pytest.raises(RuntimeError) as e:
        retina_model(torch.zeros(1, 3, 40, 18, 16), "session_a")
    assert "frame #" not in str(e.value)
    print("wrong channels:", str(e.value).splitlines()[0])


def test_model_is_a_torch_module(golden, retina_model):
    """A fovea model inside a user's torch.nn.Module: its parameters, state dict and mode
    are the container's."""

    class Wrapper(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model
            self.gain = torch.nn.Parameter(torch.tensor(2.0))

        def forward(self, x):
            return self.gain * self.model(x, data_key="session_a")

    assert isinstance(retina_model, torch.nn.Module) and isinstance(retina_model, fovea.CoreReadout)
    wrapper = Wrapper(retina_model)
    names = [n for n, _ in wrapper.named_parameters()]
    assert names[0] == "gain" and names[1] == "model.core.features.layer0.conv.sin_weights"
    assert len(names) == len(list(retina_model.parameters())) + 1
    assert "model.readout.session_a.grid" in wrapper.state_dict()
    x = npy(golden("openretina_core_readout/input.npy"))
    with torch.no_grad():
        eval_out = wrapper(x)
        wrapper.train()  # reaches the C++ model: BatchNorm uses the batch's statistics
        assert retina_model.training and retina_model.core.training
        train_out = wrapper(x)
        wrapper.eval()
        assert not retina_model.training and not retina_model.readout.training
    assert not torch.allclose(train_out, eval_out)
    optimizer = torch.optim.SGD(wrapper.parameters(), lr=1e-3)
    wrapper(x).sum().backward()
    optimizer.step()
    assert retina_model.readout._parameters["session_a.bias"].grad is not None
    with pytest.raises(TypeError):
        retina_model.double()
