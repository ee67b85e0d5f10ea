#!/usr/bin/python3
"""PyTorch baseline for bench_minimodels: fitting minimodels one after another,
as minimodel's pipeline does: per neuron, a 16-64 model whose first conv is
copied from the full model and frozen, trained with model_trainer.train's
step (v1_baseline.train_epoch), validated after each epoch (best state kept),
then its test predictions.

Reads the data and the full model's first conv that bench_minimodels wrote,
times the whole fit and prints one JSON object of seconds.
usage: minimodels_baseline.py DIR THREADS EPOCHS [--channels-last]
"""
import copy
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline_measure import channels_last_requested, measure  # noqa: E402
import v1_baseline  # noqa: E402


def variance_explained(pred, y):
    return (1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)).mean().item()


def fit_one(neuron, first_conv, imgs, spks, itrain, ival, test_imgs, epochs, channels_last):
    H, W = imgs.shape[2], imgs.shape[3]
    model = v1_baseline.to_format(v1_baseline.Encoder(1, 16, 64, [25, 9], True, H, W), channels_last)
    model.layer0.conv.weight.data.copy_(first_conv)
    model.layer0.conv.weight.requires_grad = False
    opt = v1_baseline.optimizer_for(model, True)
    y = spks[:, neuron:neuron + 1]
    best, best_state = -np.inf, None
    for epoch in range(epochs):
        np.random.seed(epoch)
        v1_baseline.train_epoch(model, opt, imgs[itrain], y[itrain], 0.03)
        score = variance_explained(v1_baseline.infer(model, imgs[ival]), y[ival])
        if score > best:
            best, best_state = score, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return v1_baseline.infer(model, test_imgs)


def main():
    channels_last = channels_last_requested()
    d, threads, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    imgs = torch.from_numpy(np.load(d + "/images.npy")).unsqueeze(1)
    spks = torch.from_numpy(np.load(d + "/responses.npy"))
    test_imgs = torch.from_numpy(np.load(d + "/test_images.npy")).unsqueeze(1)
    if channels_last:
        imgs = imgs.contiguous(memory_format=torch.channels_last)
        test_imgs = test_imgs.contiguous(memory_format=torch.channels_last)
    first_conv = torch.from_numpy(np.load(d + "/first_conv.npy"))
    itrain = torch.from_numpy(np.load(d + "/itrain.npy"))
    ival = torch.from_numpy(np.load(d + "/ival.npy"))
    neurons = int(np.load(d + "/neurons.npy"))
    out = {}
    measure(out, "fit", lambda: [fit_one(n, first_conv, imgs, spks, itrain, ival, test_imgs, epochs, channels_last)
                                 for n in range(neurons)], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
