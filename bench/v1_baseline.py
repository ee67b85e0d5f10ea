#!/usr/bin/python3
"""PyTorch baseline for bench_v1: minimodel's V1 models (build_model's
architecture and model_trainer's training step), written for this benchmark.

Reads the images and responses that bench_v1 wrote, times the same work as
the C++ side and prints one JSON object of seconds.
usage: v1_baseline.py DIR THREADS REPEATS [--channels-last]
(--channels-last: the model and the images in the channels-last memory format,
as PyTorch's CPU performance-tuning guide recommends for convolutions.)
"""
import json
import sys

import numpy as np
from baseline_measure import channels_last_requested, measure
import torch
from torch import nn
import torch.nn.functional as F


class Layer0(nn.Module):
    def __init__(self, n_conv, k, act):
        super().__init__()
        self.conv = nn.Conv2d(1, n_conv, k, padding=k // 2, bias=False)
        self.norm = nn.BatchNorm2d(n_conv, eps=1e-5, momentum=0.9)
        self.act = act

    def forward(self, x):
        return F.max_pool2d(self.act(self.norm(self.conv(x))), 2)


class SeparableLayer(nn.Module):
    def __init__(self, cin, cmid, k, out_1x1, act):
        super().__init__()
        self.in_depth_conv = nn.Conv2d(cin, cmid, 1, bias=False)
        self.spatial_conv = nn.Conv2d(cmid, cmid, k, padding=k // 2, groups=cmid, bias=False)
        self.out_depth_conv = nn.Conv2d(cmid, cmid, 1, bias=False) if out_1x1 else None
        self.norm = nn.BatchNorm2d(cmid, eps=1e-5, momentum=0.9)
        self.act = act

    def forward(self, x):
        x = self.spatial_conv(self.in_depth_conv(x))
        if self.out_depth_conv is not None:
            x = self.out_depth_conv(x)
        return self.act(self.norm(x))


class Encoder(nn.Module):
    """minimodel's Encoder: core + rank-1 readout, ELU + 1 + 1e-12."""

    def __init__(self, NN, n_conv, n_conv_mid, kernel_size, minimodel, Ly, Lx):
        super().__init__()
        act = F.relu if minimodel else F.elu
        self.layer0 = Layer0(n_conv, kernel_size[0], act)
        self.layer1 = SeparableLayer(n_conv, n_conv_mid, kernel_size[1], not minimodel, act)
        wc = 0.2 if minimodel else 0.01
        self.Wy = nn.Parameter(0.01 * torch.randn(NN, 1, Ly // 2))
        self.Wx = nn.Parameter(0.01 * torch.randn(NN, 1, Lx // 2))
        self.Wc = nn.Parameter(wc * torch.randn(NN, 1, n_conv_mid))
        self.bias = nn.Parameter(torch.zeros(NN))

    def forward(self, x):
        f = self.layer1(self.layer0(x))
        # minimodel's memory-safe order: (Wc ⊗ Wy) then one GEMM, then Wx.
        B, C, Ly, Lx = f.shape
        N = self.Wc.shape[0]
        cy = (self.Wc.view(N, C, 1) * self.Wy.view(N, 1, Ly)).reshape(N, C * Ly)
        g = (cy @ f.permute(1, 2, 0, 3).reshape(C * Ly, B * Lx)).view(N, B, Lx)
        out = (g * self.Wx.view(N, 1, Lx)).sum(-1).t() + self.bias
        return F.elu(out) + 1 + 1e-12


def optimizer_for(model, minimodel):
    core = [p for n, p in model.named_parameters() if n.startswith("layer") and p.requires_grad]
    return torch.optim.AdamW([{"params": core, "weight_decay": 0.1},
                              {"params": [model.Wy, model.Wx], "weight_decay": 1.0},
                              {"params": [model.Wc], "weight_decay": 0.2 if minimodel else 0.1},
                              {"params": [model.bias], "weight_decay": 0.0}], lr=1e-3)


def train_epoch(model, opt, imgs, spks, hs, batch=100):
    model.train()
    perm = np.random.permutation(len(imgs))
    for s in range(0, len(imgs), batch):
        idx = torch.from_numpy(perm[s:s + batch])
        x, y = imgs[idx], spks[idx]
        pred = model(x)
        loss = (pred - y * torch.log(pred)).sum(0)
        if hs:
            w = model.Wc.view(model.Wc.shape[0], -1)
            loss = loss + hs * w.abs().sum(1) ** 2 / (w ** 2).sum(1)
        loss = loss.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.Wy.clamp_(0)
            model.Wx.clamp_(0)


def infer(model, imgs, batch=100):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(imgs[s:s + batch]) for s in range(0, len(imgs), batch)])


def to_format(model, channels_last):
    return model.to(memory_format=torch.channels_last) if channels_last else model


def main():
    channels_last = channels_last_requested()
    d, threads, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    np.random.seed(0)
    imgs = torch.from_numpy(np.load(d + "/images.npy")).unsqueeze(1)
    if channels_last:
        imgs = imgs.contiguous(memory_format=torch.channels_last)
    spks = torch.from_numpy(np.load(d + "/responses.npy"))
    H, W = imgs.shape[2], imgs.shape[3]
    out = {}
    full = to_format(Encoder(spks.shape[1], 16, 320, [25, 9], False, H, W), channels_last)
    opt = optimizer_for(full, False)
    train_epoch(full, opt, imgs[:100], spks[:100], 0)  # warm-up
    measure(out, "full_epoch", lambda: train_epoch(full, opt, imgs, spks, 0), repeats)
    infer(full, imgs[:100])
    measure(out, "full_inference", lambda: infer(full, imgs), repeats)

    mini = to_format(Encoder(1, 16, 64, [25, 9], True, H, W), channels_last)
    mini.layer0.conv.weight.data.copy_(full.layer0.conv.weight.data)
    mini.layer0.conv.weight.requires_grad = False
    opt = optimizer_for(mini, True)
    train_epoch(mini, opt, imgs[:100], spks[:100, :1], 0.03)
    measure(out, "mini_epoch", lambda: train_epoch(mini, opt, imgs, spks[:, :1], 0.03), repeats)
    infer(mini, imgs[:100])
    measure(out, "mini_inference", lambda: infer(mini, imgs), repeats)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
