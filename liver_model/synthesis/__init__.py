"""More tumour examples than the data hold: synthetic lesions and copy-pasted real ones.

UI-free. ``encoding`` reads HU back from the three-window slices and re-encodes edited HU,
``placement`` fits and blends a lesion patch, ``lesions`` draws synthetic lesions (Hu et al.,
CVPR 2023), ``carvemix`` pastes real ones, ``batch`` makes extra training examples for a fold and
``examples`` a few before/after pairs for the Teaching page.

A trainer adds examples to its training fold only (never validation or test patients)::

    from liver_model.synthesis.batch import augment_with_synthetic_tumours

    extra = augment_with_synthetic_tumours(images[train], livers[train], tumours[train],
                                           np.random.default_rng(seed), n_synthetic=200,
                                           n_copy_paste=200, patients=patient_ids[train])
    images = np.concatenate([images[train], extra.images])  # and livers, tumours alike
"""
