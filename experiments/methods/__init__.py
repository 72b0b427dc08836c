"""The methods this package registers itself, beside the branches' own (``baselines.methods``,
``cnn.methods``): the reference floors every comparison needs, majority class and stratified
guess (``reference``), and the late fusion of a CNN and a landmark pipeline (``fusion``).
They implement ``experiments.core.method.Method`` and are imported by its registry (the entry
points ``fer_compare.methods`` in pyproject.toml).
"""
