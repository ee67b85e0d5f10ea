#!/usr/bin/python3
"""PyTorch baseline for bench_retina: openretina's default retina model
(SimpleCoreWrapper with STSeparableBatchConv3d layers + MultiGaussianMaskReadout,
hoefling_2024_base_low_res architecture) and its training step, written for
this benchmark with the reference's formulas (the dense space-time kernel is
rebuilt and one conv3d runs per layer, as openretina does).

Reads the data bench_retina wrote, times the same work as the C++ side and
prints one JSON object of seconds.
usage: retina_baseline.py DIR THREADS REPEATS BATCH CHUNK [--channels-last]
"""
import json
import math
import sys

import numpy as np
from baseline_measure import channels_last_requested, measure
import torch
from torch import nn
import torch.nn.functional as F


class STSeparableBatchConv3d(nn.Module):
    def __init__(self, cin, cout, tk, sk, padding):
        super().__init__()
        self.tk, self.padding = tk, padding
        k = tk // 3
        self.sin_weights = nn.Parameter(0.01 * torch.randn(cout, cin, k))
        self.cos_weights = nn.Parameter(0.01 * torch.randn(cout, cin, k))
        self.weight_spatial = nn.Parameter(0.01 * torch.randn(cout, cin, 1, sk, sk))
        self.register_buffer("_log_speed_default", torch.zeros(1))

    def temporal_basis(self):
        T = self.tk
        s = torch.exp(self._log_speed_default)
        time_ = torch.arange(T, dtype=torch.float32) - T
        freq = s * time_ * 2 * math.pi / T
        mask = 1 / (1 + torch.exp(-time_ - int(T * 0.95) / s))
        k = torch.arange(T // 3, dtype=torch.float32).view(-1, 1)
        return mask * torch.sin(freq * k), mask * torch.cos(freq * k)

    def forward(self, x):
        sines, cosines = self.temporal_basis()
        wt = torch.einsum("oik,kt->oit", self.sin_weights, sines) + torch.einsum("oik,kt->oit", self.cos_weights, cosines)
        w = wt[:, :, :, None, None] * self.weight_spatial  # (O, I, T, 1, 1) * (O, I, 1, h, w)
        return F.conv3d(x, w, None, 1, self.padding)


class Layer(nn.Module):
    def __init__(self, cin, cout, tk, sk, padding):
        super().__init__()
        self.conv = STSeparableBatchConv3d(cin, cout, tk, sk, padding)
        self.norm = nn.BatchNorm3d(cout, momentum=0.1)
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1, 1))

    def forward(self, x):
        return F.elu(self.norm(self.conv(x)) + self.bias)


class Core(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Layer(2, 16, 21, 11, 0), Layer(16, 16, 11, 5, (0, 2, 2)))
        self.gamma_temporal = 40.0

    def regularizer(self):
        reg = 0.0
        for layer in self.features:
            c = layer.conv
            k = c.sin_weights.shape[-1]
            s = torch.linspace(0.1, 0.9, k)
            reg = reg + ((s * c.sin_weights) ** 2).sum() / c.sin_weights.shape[0] + \
                ((s * c.cos_weights) ** 2).sum() / c.cos_weights.shape[0]
        return self.gamma_temporal * reg

    def forward(self, x):
        return self.features(x)


class GaussianMaskReadout(nn.Module):
    def __init__(self, c, h, w, n, mean_activity):
        super().__init__()
        self.mask_mean = nn.Parameter(torch.zeros(n, 2))
        self.mask_log_var = nn.Parameter(torch.zeros(n))
        m = max(h, w)
        gy, gx = torch.meshgrid(torch.linspace(-h / m, h / m, h), torch.linspace(-w / m, w / m, w), indexing="ij")
        self.register_buffer("grid", torch.stack([gy, gx], -1).unsqueeze(0).repeat(n, 1, 1, 1))
        self.features = nn.Parameter(torch.randn(1, c, 1, n) * 0.01 + 1.0 / c)
        self.scale_param = nn.Parameter(torch.randn(n) * 0.01 + 1.0)
        self.bias = nn.Parameter(mean_activity.clone())

    def get_mask(self):
        var = torch.exp(torch.clamp(4.0 * self.mask_log_var, -20, 20)).view(-1, 1, 1)
        d = ((self.grid - 6.0 * self.mask_mean.view(-1, 1, 1, 2)) ** 2).sum(-1)
        p = torch.exp(-0.5 * torch.clamp(d / (var + 1e-8), max=20))
        p = p / p.sum((1, 2), keepdim=True)
        return torch.nan_to_num(p)

    def regularizer(self):
        return torch.exp(4.0 * self.mask_log_var).sum() + ((6.0 * self.mask_mean) ** 2).sum() + self.features.abs().sum()

    def forward(self, x):
        self.features.data.clamp_(0)
        masked = torch.einsum("bcthw,nhw->bctn", x, self.get_mask())
        y = (masked * self.features).sum(1) * self.scale_param + self.bias
        return F.softplus(y)


class Model(nn.Module):
    def __init__(self, neurons, means, channels_last=False):
        super().__init__()
        self.core = Core()
        self.readout = nn.ModuleDict({k: GaussianMaskReadout(16, 8, 6, n, means[k]) for k, n in neurons.items()})
        self.channels_last = channels_last  # movies in channels_last_3d (the tuned run)

    def forward(self, x, key):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return self.readout[key](self.core(x))


def train_epoch(model, opt, movie, responses, batch, chunk):
    model.train()
    keys = sorted(responses)
    T = movie.shape[1]
    per = {}
    for k in keys:
        starts = np.minimum(np.arange(0, T, chunk) + np.random.randint(0, chunk, len(range(0, T, chunk))), T - chunk)
        np.random.shuffle(starts)
        per[k] = [starts[i:i + batch] for i in range(0, len(starts) - batch + 1, batch)]
    n = max(len(v) for v in per.values())
    for i in range(n):
        for k in keys:
            st = per[k][i % len(per[k])]
            x = torch.stack([movie[:, s:s + chunk] for s in st])
            y = torch.stack([responses[k][s:s + chunk] for s in st])
            out = model(x, k)
            lag = y.shape[1] - out.shape[1]
            loss = (out - y[:, lag:] * torch.log(out + 1e-16)).sum() + model.core.regularizer() + \
                model.readout[k].regularizer()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()


def infer(model, clips, keys):
    model.eval()
    with torch.no_grad():  # the core once, then every session's readout (openretina's data_key=None)
        if model.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        f = model.core(clips)
        return torch.cat([model.readout[k](f) for k in keys], -1)


def main():
    channels_last = channels_last_requested()
    d, threads, repeats, batch, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    np.random.seed(0)
    movie = torch.from_numpy(np.load(d + "/movie.npy"))
    clips = torch.from_numpy(np.load(d + "/clips.npy"))
    with open(d + "/sessions.json") as f:
        sessions = json.load(f)
    responses = {k: torch.from_numpy(np.load(d + "/responses_" + k + ".npy")) for k in sessions}
    model = Model({k: r.shape[1] for k, r in responses.items()}, {k: r.mean(0) for k, r in responses.items()},
                  channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
    out = {}
    train_epoch(model, opt, movie[:, :batch * chunk + chunk], {k: r[:batch * chunk + chunk] for k, r in responses.items()},
                batch, chunk)  # warm-up
    measure(out, "epoch", lambda: train_epoch(model, opt, movie, responses, batch, chunk), repeats)
    infer(model, clips[:4], sorted(responses))
    measure(out, "inference", lambda: infer(model, clips, sorted(responses)), repeats)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
