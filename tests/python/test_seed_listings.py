"""The seed listings 000 (weight visualisation), 002 (optimised stimuli) and 003
(custom core and readout) run with `fovea` in place of `openretina`: the test
reads each listing's code out of its seed file, changes only the import lines
(openretina -> fovea), and runs it in a scratch folder. The pretrained name
`hoefling_2024_base_low_res` resolves, through FOVEA_MODEL_BASE_URL, to a local
HTTP server (127.0.0.1) publishing the golden retina checkpoint under the
listing's session name."""
import functools
import http.server
import os
import re
import struct
import threading

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import fovea  # noqa: E402
from fovea_test_util import npy, relative_error  # noqa: E402

SESSION = "session_2_ventral2_20201016"  # the listings' data_key
REMOTE_PATH = "model_checkpoints/27-11-2025/hoefling_2024_base_low_res.ckpt"  # where the name points


def _seeds_dir():
    return os.environ.get("FOVEA_SEEDS_DIR",
                          os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "reference", "seeds"))


def listing_code(prefix):
    """The Python code of seed listing `prefix` ("000", ...): its ```python blocks, or,
    for a listing without fences, the longest run of lines from the first import that
    compiles. The import lines changed from openretina to fovea, nothing else."""
    folder = _seeds_dir()
    names = [n for n in os.listdir(folder) if n.startswith(prefix + "_")] if os.path.isdir(folder) else []
    if not names:
        pytest.skip(f"no seed listing {prefix} in {folder}")
    with open(os.path.join(folder, names[0]), encoding="utf-8") as f:
        text = f.read()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    if blocks:
        code = "\n".join(blocks)
    else:
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if re.match(r"(from|import) \w", line))
        code = None
        for end in range(len(lines), start, -1):
            candidate = "\n".join(lines[start:end])
            try:
                compile(candidate, names[0], "exec")
            except SyntaxError:
                continue
            code = candidate
            break
        assert code, f"no code found in {names[0]}"
    original = code.splitlines()
    changed = [re.sub(r"\bopenretina\b", "fovea", line) if re.match(r"\s*(from|import) ", line) else line
               for line in original]
    assert any(a != b for a, b in zip(original, changed)), "the listing imports nothing from openretina"
    for a, b in zip(original, changed):  # only import lines differ, and no openretina is left
        assert a == b or re.match(r"\s*(from|import) ", a)
        assert "openretina" not in b or not re.match(r"\s*(from|import) ", b)
    return "\n".join(changed)


def run_listing(code, name):
    namespace = {"__name__": f"seed_listing_{name}"}
    exec(compile(code, f"<seed listing {name}>", "exec"), namespace)
    return namespace


def mp4_sample_counts(path):
    """The sample (frame) count of every track of an MP4 file, read from its 'stsz' boxes."""
    with open(path, "rb") as f:
        data = f.read()
    counts = []

    def walk(begin, end):
        pos = begin
        while pos + 8 <= end:
            size, kind = struct.unpack(">I4s", data[pos:pos + 8])
            header = 8
            if size == 1:
                size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
                header = 16
            elif size == 0:
                size = end - pos
            if size < header or pos + size > end:
                raise ValueError(f"{path}: broken box {kind!r} at {pos}")
            if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
                walk(pos + header, pos + size)
            elif kind == b"stsz":
                counts.append(struct.unpack(">I", data[pos + header + 8:pos + header + 12])[0])
            pos += size

    assert data[4:8] == b"ftyp", f"{path} is not an MP4 file"
    walk(0, len(data))
    return counts


# ---- the published model ---------------------------------------------------------------

@pytest.fixture(scope="module")
def listing_model_file(golden, tmp_path_factory):
    """The golden retina checkpoint with its two sessions' 12 neurons as one session named
    as in the listings (neuron 10 exists), saved where the pretrained name points."""
    golden_model = fovea.load_model(golden("openretina_core_readout/checkpoint.ckpt"))
    spec = golden_model.spec
    sessions = golden_model.readout_keys()  # session_a (7 neurons), session_b (5)
    total = sum(golden_model.n_neurons(s) for s in sessions)
    spec["readout"]["n_neurons_dict"] = {SESSION: total}
    spec["data_info"]["n_neurons_dict"] = {SESSION: total}
    spec["readout"]["mean_activity_dict"] = {
        SESSION: sum((spec["readout"]["mean_activity_dict"][s] for s in sessions), [])}
    model = fovea.models.build_model(spec)
    state = golden_model.state_dict()
    merged = {}
    for key in model.state_dict():
        if not key.startswith("readout."):
            merged[key] = state[key]
            continue
        field = key[len(f"readout.{SESSION}."):]
        parts = [state[f"readout.{s}.{field}"] for s in sessions]
        merged[key] = torch.cat(parts, dim=-1 if field == "features" else 0)
    model.load_state_dict(merged)
    root = tmp_path_factory.mktemp("model_store")
    path = root / REMOTE_PATH
    path.parent.mkdir(parents=True)
    model.save(path)  # a fovea file under the .ckpt name: the loader goes by the content
    return root, golden_model


@pytest.fixture()
def remote_model(listing_model_file, tmp_path, monkeypatch):
    """Serves the model store on 127.0.0.1 and points FOVEA_MODEL_BASE_URL at it, with a
    fresh cache; the listing runs in tmp_path/run. Yields (golden model, request log)."""
    root, golden_model = listing_model_file
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("FOVEA_MODEL_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("FOVEA_CACHE_DIR", str(tmp_path / "cache"))
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    try:
        yield golden_model, requests
    finally:
        server.shutdown()
        thread.join()
        import matplotlib.pyplot as plt
        plt.close("all")


def test_served_model_is_the_golden_one(remote_model, golden):
    golden_model, requests = remote_model
    model = fovea.models.load_core_readout_from_remote("hoefling_2024_base_low_res", "cpu")
    assert any(REMOTE_PATH in r for r in requests)
    assert model.readout_keys() == [SESSION] and model.n_neurons(SESSION) == 12
    x = npy(golden("openretina_core_readout/input.npy"))
    with torch.no_grad():
        y = model(x, data_key=SESSION)
    ref = torch.cat([npy(golden(f"openretina_core_readout/output_{s}.npy")) for s in ("session_a", "session_b")], -1)
    err = relative_error(y, ref)
    print(f"served model vs the golden outputs of both sessions: relative error {err:.3g}")
    assert err < 1e-4


# ---- the listings --------------------------------------------------------------------------

def test_listing_000_weight_visualisation(remote_model):
    import matplotlib.figure
    ns = run_listing(listing_code("000"), "000")
    model = ns["model"]
    assert isinstance(model, fovea.Model) and ns["session_key"] == SESSION
    for name in ("conv_layer_figure", "readout_figure"):
        fig = ns[name]
        assert isinstance(fig, matplotlib.figure.Figure), name
        image = fig.axes[0].images[0].get_array()
        assert image.shape[0] > 100 and image.shape[1] > 100 and np.asarray(image).std() > 0, name
    # The core figure differs between channels: it shows the weights asked for.
    other = model.core.plot_weight_visualization(layer=0, in_channel=0, out_channel=0)
    assert not np.array_equal(np.asarray(other.axes[0].images[0].get_array()),
                              np.asarray(ns["conv_layer_figure"].axes[0].images[0].get_array()))


def test_listing_002_optimised_stimulus(remote_model, tmp_path):
    code = listing_code("002")
    torch.manual_seed(1234)
    ns = run_listing(code, "002")
    model, objective, stimulus = ns["model"], ns["objective"], ns["stimulus"]
    shape = model.stimulus_shape(time_steps=40)
    assert tuple(stimulus.shape) == shape == (1, 2, 40, 18, 16)
    assert not stimulus.requires_grad  # optimize_stimulus detaches it at the end
    # The listing's start: randn · 0.1 from the same seed.
    torch.manual_seed(1234)
    start = torch.randn(shape) * 0.1
    with torch.no_grad():
        before = objective.forward(start).item()
        after = objective.forward(stimulus).item()
        # The objective is neuron 10's response averaged over the response frames (the
        # 40-frame movie gives 10 frames after the 30-frame lag, so the reducer's window
        # 10..19 falls back to 0..9).
        direct = model(stimulus, data_key=SESSION)[0, :, 10].mean().item()
    print(f"listing 002: neuron 10 objective {before:.4f} -> {after:.4f}")
    assert after == pytest.approx(direct, rel=1e-5)
    assert after > before * 2

    video = tmp_path / "run" / "mei.mp4"
    assert video.stat().st_size > 1000
    assert 40 in mp4_sample_counts(video)  # one sample per frame

    fig, axes = ns["fig"], ns["axes"]
    temporal, freq, spatial, empty = axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]
    assert len(temporal.lines) == 2 and len(freq.lines) == 2  # green and UV
    assert temporal.lines[0].get_color() != temporal.lines[1].get_color()
    trace = temporal.lines[0].get_ydata()
    assert len(trace) == 40 and np.abs(trace).max() > 0
    assert temporal.lines[0].get_xdata()[-1] == pytest.approx(40 / 30)
    assert "Hz" in freq.get_title() and freq.get_xlim() == (0.0, 11.0)
    assert len(spatial.images) == 1 and spatial.images[0].get_array().shape == (18, 32)
    assert not empty.lines and not empty.images
    fig.savefig(tmp_path / "composition.png")
    assert (tmp_path / "composition.png").stat().st_size > 10000


def _custom_listing():
    """Listing 003's namespace, plus `FixedReadout`: the listing's readout class with its
    flatten fixed. As printed, MyCustomReadout flattens (batch·time, C, H, W) from
    dimension 2, giving (batch·time, C, H·W) where its Linear expects C·H·W features, so
    its forward fails in openretina as in fovea (the listing never calls it)."""
    ns = run_listing(listing_code("003"), "003")

    class FixedReadout(ns["MyCustomReadout"]):
        def __init__(self, input_shape, num_neurons=150):
            super().__init__(input_shape, num_neurons)
            self.flatten = torch.nn.Flatten(start_dim=1)

    ns["FixedReadout"] = FixedReadout
    return ns


def test_listing_003_custom_core_readout(remote_model):
    ns = _custom_listing()
    assert isinstance(ns["model"], fovea.Model) and ns["model"].readout_keys() == [SESSION]
    model, core, readout = ns["custom_model"], ns["core"], ns["readout"]
    assert isinstance(model, fovea.models.CoreReadout) and isinstance(model, torch.nn.Module)
    assert isinstance(core, fovea.models.Core) and isinstance(readout, fovea.models.Readout)
    shape = model.stimulus_shape(time_steps=20)
    assert shape == (1, 2, 20, 16, 18)
    x = torch.randn(shape)
    with pytest.raises(RuntimeError, match="cannot be multiplied"):  # the listing's own flatten
        model(x)
    torch.manual_seed(0)
    readout = ns["FixedReadout"](input_shape=(1, 32, 1, 16, 18), num_neurons=150)
    model = fovea.models.CoreReadout(core=core, readout=readout)
    y = model(x)
    assert y.shape == (1, 20, 150)
    assert torch.allclose(y, readout(core(x)))
    params = list(model.parameters())
    assert len(params) == len(list(core.parameters())) + len(list(readout.parameters())) == 6
    assert sum(p.numel() for p in params) == (2 * 32 * 45 + 32) + (32 * 32 * 45 + 32) + (32 * 16 * 18 * 150 + 150)
    assert set(dict(model.named_parameters())) >= {"core.conv1.weight", "readout.linear.bias"}
    y.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_fovea_core_with_a_user_readout(remote_model):
    """The listing's readout class on the fovea core: gradients reach the readout's
    parameters and the library core's."""
    golden_model = remote_model[0]
    ns = _custom_listing()
    readout = ns["FixedReadout"](input_shape=(1, 16, 1, 8, 6), num_neurons=4)
    model = fovea.models.CoreReadout(core=golden_model.core, readout=readout)
    shape = model.stimulus_shape(time_steps=40)
    assert shape == (1, 2, 40, 18, 16)
    x = torch.randn(shape)
    y = model(x)
    assert y.shape == (1, 10, 4)
    with torch.no_grad():
        assert torch.allclose(y, readout(golden_model.core(x)))
    names = dict(model.named_parameters())
    assert "core.features.layer0.conv.sin_weights" in names and "readout.linear.weight" in names
    golden_model.zero_grad(set_to_none=True)
    y.sum().backward()
    assert readout.linear.weight.grad is not None
    core_grad = golden_model.core._parameters["features.layer0.conv.weight_spatial"].grad
    assert core_grad is not None and core_grad.abs().sum() > 0
    golden_model.zero_grad(set_to_none=True)


class _SmallCore(fovea.models.Core):
    """A user core with the fovea core's output shape: 16 channels, T − 20 frames, 8 × 6."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(2, 16, kernel_size=(21, 11, 11))

    def forward(self, x):
        return torch.nn.functional.elu(self.conv(x))

    def stimulus_shape(self, time_steps, num_batches=1):
        return (num_batches, 2, time_steps, 18, 16)


def test_user_core_with_a_fovea_readout(remote_model):
    golden_model = remote_model[0]
    torch.manual_seed(0)
    core = _SmallCore()
    model = fovea.models.CoreReadout(core=core, readout=golden_model.readout)
    assert model.readout_keys() == ["session_a", "session_b"]
    x = torch.randn(model.stimulus_shape(time_steps=30))
    y = model(x, data_key="session_b")
    assert y.shape == (1, 10, 5)
    with torch.no_grad():
        assert torch.allclose(y, golden_model.readout["session_b"](core(x)))
    y.sum().backward()
    assert core.conv.weight.grad is not None and core.conv.weight.grad.abs().sum() > 0
    # The library readout's parameters sit in the composed module's parameters.
    assert "readout.session_b.mask_mean" in dict(model.named_parameters())
    # The composed module's train()/eval() reach the library readout.
    model.train()
    assert golden_model.readout.training and core.training
    model.eval()
    with pytest.raises(TypeError):
        fovea.models.CoreReadout(core=core, readout=lambda f: f)
    with pytest.raises(fovea.Error, match="session_c"):
        model(x, data_key="session_c")
