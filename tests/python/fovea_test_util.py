"""Helpers of the Python module's tests."""
import numpy as np
import torch


def npy(path):
    return torch.from_numpy(np.load(path))


def relative_error(out, ref):
    out, ref = out.detach().double(), ref.detach().double()
    return ((out - ref).norm() / ref.norm()).item()
