"""The chapter's outputs, written from finished run folders (``make table``, ``report``): the
comparison table (``table``), the paired significance tests between methods (``significance``),
the source documents' claims beside the measurements (``claims`` and its data, ``claims.toml``),
the figures (``figures``), the CNN-versus-landmark agreement of each late fusion
(``complementarity``) and ``results/README.md`` with the answer (``report``). They only read
runs; none trains or times anything.
"""
