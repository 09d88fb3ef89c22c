"""Forward simulation: object patches under the probe, and their far-field amplitudes."""

import numpy as np


def get_image_patches(objectGuess, xcoords, ycoords, N):
    """Cut one ``(N, N)`` patch of the object centred on each scan position."""
    half = N // 2
    patches = []
    for x, y in zip(xcoords, ycoords):
        cx, cy = int(round(x)), int(round(y))
        patches.append(objectGuess[cy - half:cy + half, cx - half:cx + half])
    return np.stack(patches)


def illuminate_and_diffract(patches, probeGuess):
    """Far-field amplitudes ``|FFT2(probe * patch)| / N`` as float32 ``(n, N, N)``."""
    n = patches.shape[-1]
    exit_waves = patches * probeGuess[None]
    far_field = np.fft.fftshift(np.fft.fft2(exit_waves), axes=(-2, -1))
    return (np.abs(far_field) / n).astype(np.float32)
