"""More tumour examples than the data hold: synthetic lesions and copy-pasted real ones.

UI-free. ``encoding`` reads HU back from the three-window slices and re-encodes edited HU,
``placement`` fits and blends a lesion patch, ``lesions`` draws synthetic lesions (Hu et al.,
CVPR 2023), ``carvemix`` pastes real ones, ``batch`` makes extra training examples for a fold and
``examples`` a few before/after pairs for the Teaching page.
"""
