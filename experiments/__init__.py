"""The experiment harness around both branches. ``cli`` (``python -m experiments``) is the
command line, ``method`` the interface every method implements and the registry; the
sub-packages group the rest: ``core`` (what every run goes through), ``methods`` (the methods
registered here: reference floors, late fusion), ``reports`` (the chapter's tables, figures and
answer) and ``tools`` (trained models: load, ship, predict, evaluate, time).
"""
