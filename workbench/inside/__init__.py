"""Inside the networks: six views of what transfer learning changed, built from a comparison's saved weights.

Each view is an engine function here (one module each) with one plot builder in
`workbench.inside.plots`; the CLI, the dashboard and the notebook widgets all use both.
"""

# Names only, so that `workbench --help` does not import torch's exporters or scikit-learn.
VIEW_NAMES = ("movement", "filters", "features", "gradcam", "mistakes", "photo")
EXPORT_FORMATS = ("onnx", "pt2")
