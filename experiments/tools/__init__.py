"""What works on trained models rather than training them: finding, loading and shipping a
trained model by method name (``models``), pointing one at a user's photos and videos
(``predict``), the face detector and contrast normalisation ``predict`` uses, measured
(``detectors``), scoring one on another labelled data set (``evaluate``), and the separate
measurements on trained models: inference latency on a quiet machine (``latency``) and the
test-time flip's worth (``flip``).
"""
