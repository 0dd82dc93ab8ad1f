"""Quality scoring: every image measured against the brand and its brief (docs/quality.md).

Deterministic checks (palette, contrast, copy, form, near-duplicates) make a
scorecard (``scorecard.score_asset_image``); AI judges add a rubric vote
(``judges``); the gate decides pass or review (``gate``), and a session with
``--regenerate N`` remakes a failing image with the reasons fed back
(``session``). Import the submodules you need: this package imports nothing
itself, so the projector and the console do not load scikit-image or OCR.
"""
