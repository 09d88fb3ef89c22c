"""Scan data: positions, diffraction patterns, probe and object, in one container."""

import numpy as np

from ptycho import params


class RawData:
    """One scan: ``diff3d`` holds one diffraction amplitude pattern per position."""

    def __init__(self, xcoords, ycoords, diff3d, probeGuess, scan_index=None, objectGuess=None):
        self.xcoords = np.asarray(xcoords)
        self.ycoords = np.asarray(ycoords)
        self.diff3d = diff3d
        self.probeGuess = probeGuess
        self.scan_index = np.zeros(len(self.xcoords), dtype=int) if scan_index is None else scan_index
        self.objectGuess = objectGuess

    def __len__(self):
        return len(self.xcoords)

    @staticmethod
    def from_simulation(xcoords, ycoords, probeGuess, objectGuess, scan_index=None):
        """Simulate the diffraction of ``objectGuess`` under ``probeGuess`` at each position.

        Only ``gridsize == 1`` is supported (one pattern per sample).
        """
        from ptycho.diffsim import get_image_patches, illuminate_and_diffract

        if params.cfg.get('gridsize', 1) != 1:
            raise NotImplementedError("from_simulation supports gridsize=1 only")
        N = probeGuess.shape[0]
        patches = get_image_patches(objectGuess, xcoords, ycoords, N)
        diff3d = illuminate_and_diffract(patches, probeGuess)
        return RawData(xcoords, ycoords, diff3d, probeGuess, scan_index, objectGuess)
