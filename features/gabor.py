"""Gabor filter bank: magnitude responses pooled over a grid of cells.

Kernels come from ``skimage.filters.gabor_kernel`` (several frequencies x 8 orientations);
the convolution is done for a whole chunk of images at once in the Fourier domain, on the
image padded by reflection so that large kernels do not wrap around.
"""

from __future__ import annotations

import numpy as np
from scipy import fft
from skimage.filters import gabor_kernel

from features.base import ImageFeatures

# wavelengths 4, 5.7, 8, 11.3 and 16 pixels
DEFAULT_FREQUENCIES = (0.25, 0.177, 0.125, 0.088, 0.0625)


class GaborFeatures(ImageFeatures):
    """Mean Gabor magnitude in each cell of a ``grid`` x ``grid`` partition, per filter."""

    family = "gabor"

    def __init__(self, frequencies: tuple[float, ...] = DEFAULT_FREQUENCIES,
                 n_orientations: int = 8, grid: int = 6, pad: int = 16,
                 n_jobs: int = -1, chunk_size: int = 256, cache: bool = True,
                 progress: bool | None = None):
        self.frequencies = frequencies
        self.n_orientations = n_orientations
        self.grid = grid
        self.pad = pad
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache = cache
        self.progress = progress

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_spectra", None)  # recomputed on demand; keeps saved models and workers small
        return state

    def kernels(self) -> list[np.ndarray]:
        return [
            gabor_kernel(f, theta=np.pi * k / self.n_orientations)
            for f in self.frequencies for k in range(self.n_orientations)
        ]

    def _kernel_spectra(self, size: int) -> np.ndarray:
        """Fourier transforms of the kernels at the padded image size (kept after first use)."""
        key = (size, tuple(self.frequencies), self.n_orientations)
        cached = getattr(self, "_spectra", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        spectra = np.empty((len(self.frequencies) * self.n_orientations, size, size), np.complex64)
        for i, kernel in enumerate(self.kernels()):
            kh, kw = kernel.shape
            if kh > size:  # keep the centre of kernels larger than the padded image
                cut = (kh - size) // 2
                kernel = kernel[cut:cut + size, cut:cut + size]
                kh, kw = kernel.shape
            placed = np.zeros((size, size), np.complex64)
            placed[:kh, :kw] = kernel
            placed = np.roll(placed, (-(kh // 2), -(kw // 2)), axis=(0, 1))  # centre at (0, 0)
            spectra[i] = fft.fft2(placed)
        self._spectra = (key, spectra)
        return spectra

    def _extract(self, images: np.ndarray):
        n, h, w = images.shape
        if h % self.grid or w % self.grid:
            raise ValueError(f"image size {h}x{w} is not divisible by grid {self.grid}")
        p = self.pad
        padded = np.pad(images.astype(np.float32) / 255.0, ((0, 0), (p, p), (p, p)), mode="reflect")
        spectra = self._kernel_spectra(padded.shape[1])
        image_spectra = fft.fft2(padded).astype(np.complex64)
        out = np.empty((n, len(spectra), self.grid, self.grid), np.float32)
        ch, cw = h // self.grid, w // self.grid
        for k, spectrum in enumerate(spectra):
            response = np.abs(fft.ifft2(image_spectra * spectrum))[:, p:p + h, p:p + w]
            out[:, k] = response.reshape(n, self.grid, ch, self.grid, cw).mean(axis=(2, 4))
        return out.reshape(n, -1), {}
