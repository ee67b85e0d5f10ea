"""Stimulus utilities with openretina's names and signatures (``openretina.utils``):
:func:`save_stimulus_to_mp4_video` and :func:`plot_stimulus_composition`.

The video is written by the library's MP4 writer (the one behind ``fovea mei``)
and the composition's numbers (the SVD of each colour channel into a temporal
trace and a spatial map, the low-passed trace's spectrum and weighted mean
frequency) are the library's; :func:`plot_stimulus_composition` draws them on
the matplotlib axes you give it.
"""
import os

import numpy as np
import torch

from . import _fovea
from .models import _as_tensor

__all__ = ["save_stimulus_to_mp4_video", "plot_stimulus_composition", "stimulus_composition", "decompose_kernel"]

FRAME_RATE_MODEL = 30.0  # Hz: openretina's frame rate of the retina models


def _stimulus(stimulus, ndim, what="stimulus"):
    x = _as_tensor(stimulus, what)
    if x.dim() != ndim:
        raise ValueError(f"{what} must have {ndim} dimensions (channels, time, height, width), "
                         f"its shape is {tuple(x.shape)}")
    return x.detach().to("cpu", torch.float32)


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    return float(value)


def _int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return int(value)


def save_stimulus_to_mp4_video(stimulus, filepath, fps=5, start_at_frame=0, upscale=1):
    """Writes a stimulus (channels, time, height, width) as an MP4 video (openretina's
    ``save_stimulus_to_mp4_video``).

    The whole stimulus is min–max scaled to 0..255; 1 channel is grey, 2 channels (green,
    UV) go to the green and red planes, 3 channels to the three planes. ``fps``: frames per
    second; ``start_at_frame``: the first frame written; ``upscale`` (fovea's): each pixel
    becomes an upscale × upscale block, so that an 18 × 16 stimulus is visible (1 = the
    reference's size). The codec is H.264 when available, else MPEG-4 ('mp4v'); the file
    is written atomically.

    Returns {"codec", "width", "height", "frames"} of what was written. fovea.Error for a
    stimulus the writer cannot take (more than 3 channels, no frames, non-finite values)."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"filepath must be a str or os.PathLike, not {type(filepath).__name__}")
    filepath = os.fspath(filepath)
    x = _stimulus(stimulus, 4)
    start = _int(start_at_frame, "start_at_frame")
    if not 0 <= start < x.shape[1]:
        raise ValueError(f"start_at_frame {start} is outside the stimulus's {x.shape[1]} frames")
    fps = _number(fps, "fps")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    upscale = _int(upscale, "upscale")
    if upscale < 1:
        raise ValueError(f"upscale must be >= 1, got {upscale}")
    return dict(_fovea._write_stimulus_video(x[:, start:].contiguous(), filepath, fps, upscale))


def decompose_kernel(space_time_kernel, scaling_factor=1.0):
    """openretina's ``decompose_kernel``: the rank-1 SVD of a (time, height, width) kernel.
    Returns (temporal (T,), spatial (H, W), second singular value) as NumPy arrays and a
    float; the spatial map spans [-1, 1] and its centre is positive."""
    temporal, spatial, s1 = _fovea._decompose_kernel(_stimulus(space_time_kernel, 3, "space_time_kernel"),
                                                     _number(scaling_factor, "scaling_factor"))
    return temporal.numpy(), spatial.numpy(), s1


def stimulus_composition(stimulus, lowpass_cutoff=10.0, frame_rate=FRAME_RATE_MODEL):
    """The numbers :func:`plot_stimulus_composition` draws, per colour channel of a
    stimulus (channels, time, height, width): a list of dicts with ``name``, ``color``,
    ``temporal`` (T,), ``time_s`` (T,), ``spatial`` (H, W), ``frequencies``,
    ``amplitudes`` (the low-passed trace's amplitude spectrum) and
    ``weighted_frequency`` (Hz), all NumPy. fovea.Error for a stimulus too short for
    the low-pass filter (18 frames or fewer)."""
    x = _stimulus(stimulus, 4)
    cutoff = _number(lowpass_cutoff, "lowpass_cutoff")
    rate = _number(frame_rate, "frame_rate")
    out = []
    n = x.shape[0]
    for c, channel in enumerate(_fovea._stimulus_composition(x, cutoff, rate)):
        name, color = _fovea._channel_style(c, n)
        entry = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in channel.items()}
        entry.update(name=name, color=color)
        out.append(entry)
    return out


def plot_stimulus_composition(stimulus, temporal_trace_ax, freq_ax, spatial_ax, lowpass_cutoff=10.0,
                              highlight_x_list=None):
    """Draws a stimulus (channels, time, height, width) decomposed as openretina's
    ``plot_stimulus_composition`` does, on the matplotlib axes given:

    - ``temporal_trace_ax``: each channel's temporal trace against time (s, at 30 Hz);
      ``highlight_x_list`` [(first, last frame), ...] shades windows;
    - ``freq_ax`` (may be None): each trace's amplitude spectrum after the order-5
      Butterworth low-pass at ``lowpass_cutoff`` Hz, the weighted mean frequencies in
      the title;
    - ``spatial_ax``: the channels' spatial maps side by side (RdBu_r, symmetric) with
      a 50 µm scale bar.

    The numbers come from :func:`stimulus_composition` (the library's). Returns None.
    fovea.Error for a stimulus too short for the filter; IndexError for a highlight
    outside the stimulus's frames."""
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    for what, ax in (("temporal_trace_ax", temporal_trace_ax), ("spatial_ax", spatial_ax), ("freq_ax", freq_ax)):
        if ax is None and what == "freq_ax":
            continue
        if not (hasattr(ax, "plot") and hasattr(ax, "imshow")):
            raise TypeError(f"{what} must be a matplotlib Axes, not {type(ax).__name__}")
    x = _stimulus(stimulus, 4)
    channels = stimulus_composition(x, lowpass_cutoff)
    names = "/".join(c["name"] for c in channels)
    time_s = channels[0]["time_s"]

    spatial = np.concatenate([c["spatial"] for c in channels], axis=1)
    abs_max = float(np.abs(spatial).max()) or 1.0
    spatial_ax.imshow(spatial, cmap="RdBu_r", norm=Normalize(vmin=-abs_max, vmax=abs_max))
    spatial_ax.set_title(f"Spatial Component ({names})")
    bar_width = 4 if x.shape[-1] > 20 else 1
    spatial_ax.add_patch(Rectangle(xy=(6, 15), width=bar_width, height=1, color="k", transform=spatial_ax.transData))
    spatial_ax.annotate(text="50 µm", xy=(6, 14))
    spatial_ax.axis("off")

    trace_max = 0.0
    for c in channels:
        trace_max = max(trace_max, float(np.abs(c["temporal"]).max()))
        temporal_trace_ax.plot(time_s, c["temporal"], color=c["color"], label=c["name"])
        if freq_ax is not None:
            freq_ax.plot(c["frequencies"], c["amplitudes"], color=c["color"], label=c["name"])
    temporal_trace_ax.set_ylim(-trace_max, trace_max + 1)
    temporal_trace_ax.set_title("Temporal Trace of the Stimulus")
    temporal_trace_ax.set_xlabel("Time [s]")
    if freq_ax is not None:
        freq_ax.set_xlim(0.0, float(lowpass_cutoff) + 1)
        freq_ax.set_xlabel("Frequency [Hz]")
        freqs = "/".join(f"{c['weighted_frequency']:.1f}" for c in channels)
        freq_ax.set_title(f"Weighted Frequency: {freqs} Hz ({names})")
    if highlight_x_list is not None:
        for first, last in highlight_x_list:
            first, last = _int(first, "highlight start"), _int(last, "highlight end")
            if not (0 <= first <= last < len(time_s)):
                raise IndexError(f"highlight ({first}, {last}) is outside the stimulus's {len(time_s)} frames")
            temporal_trace_ax.fill_betweenx(temporal_trace_ax.get_ylim(), time_s[first], time_s[last],
                                            color="k", alpha=0.1)
