"""The interactive page: ``python -m igan.app --ckpt A.ckpt [B.ckpt ...]`` (or ``igan app``).

A Gradio page on localhost with four tabs (Generate, Interpolate, Translate, Kernels) and the
named API endpoints ``/generate``, ``/interpolate`` and ``/translate`` for ``gradio_client``.
The work is plain functions (:mod:`igan.app.actions`) on loaded checkpoints
(:mod:`igan.app.models`); :mod:`igan.app.page` lays them out, :mod:`igan.app.cli` starts it.
Gradio is imported only by the page and the CLI (the optional extra ``igan[app]``).
"""
