"""Transfer Workbench: fine-tune a pre-trained CNN and train it from scratch, side by side.

The public face. Notebooks and user scripts import from here (and panels from `workbench.widgets`);
everything else may move between modules without breaking them. Names load on first use (PEP 562),
so ``import workbench`` costs nothing and ``workbench --help`` never imports torch.

    from workbench import ComparisonConfig, RunConfig, RunStore, run_comparison, plots
    comparison = run_comparison(ComparisonConfig(RunConfig(epochs=5)), RunStore("runs"))
    plots.learning_curves(comparison.transfer, comparison.scratch).show()

A regular package (not a namespace one), so a folder that happens to be called ``workbench`` in
the current directory cannot mix its files into this one.
"""

from __future__ import annotations

import importlib

# name -> "module" (the module itself) or "module:attribute"
_PUBLIC = {
    # what a person asks for
    "RunConfig": "workbench.spec.config:RunConfig",
    "ComparisonConfig": "workbench.spec.config:ComparisonConfig",
    "OPTIONS": "workbench.spec.options:OPTIONS",
    "WorkbenchError": "workbench.core.errors:WorkbenchError",
    # backbones and data
    "list_backbones": "workbench.models.backbones:list_backbones",
    "get_backbone": "workbench.models.backbones:get_backbone",
    "classify": "workbench.models.imagenet:classify",
    "load_data": "workbench.data.loading:load_data",
    "list_datasets": "workbench.data.loading:list_datasets",
    "DatasetShelf": "workbench.data.gathered.shelf:DatasetShelf",
    "check_gathered": "workbench.data.gathered.checks:check_gathered",
    # training and the store
    "train_run": "workbench.training.train:train_run",
    "RunStore": "workbench.store.runs:RunStore",
    "runs_dir": "workbench.core.settings:runs_dir",
    # many runs
    "Comparison": "workbench.experiments.comparisons:Comparison",
    "run_comparison": "workbench.experiments.runner:run_comparison",
    "train_seeds": "workbench.experiments.comparisons:train_seeds",
    "load_comparison": "workbench.experiments.comparisons:load_comparison",
    "run_comparisons": "workbench.experiments.runner:run_comparisons",
    "sweep_grid": "workbench.experiments.sweeps:sweep_grid",
    "run_sweep": "workbench.experiments.sweeps:run_sweep",
    # predict, then run
    "Prediction": "workbench.store.predictions:Prediction",
    "outcome": "workbench.experiments.predictions:outcome",
    # what a person sees: plot builders and tables
    "plots": "workbench.present.plots",
    "sweep_plots": "workbench.present.sweep_plots",
    "prediction_plots": "workbench.present.prediction_plots",
    "comparison_table": "workbench.present.report:comparison_table",
    "with_spread": "workbench.present.report:with_spread",
    # inside the networks
    "load_networks": "workbench.inside.networks:load_networks",
    "play_networks": "workbench.inside.play:play_networks",
    "movement": "workbench.inside.movement",
    "filters": "workbench.inside.filters",
    "features": "workbench.inside.features",
    "gradcam": "workbench.inside.gradcam",
    "mistakes": "workbench.inside.mistakes",
    "inside_plots": "workbench.inside.plots",
    "cell_gallery": "workbench.inside.views:cell_gallery",
    "export_model": "workbench.inside.export:export_model",
    # classic results
    "STUDIES": "workbench.studies.catalogue:STUDIES",
    "run_study": "workbench.studies.core:run_study",
    "study_text": "workbench.studies.report:study_text",
    "study_figure": "workbench.studies.plots:study_figure",
}
__all__ = sorted(_PUBLIC)


def lazy_exports(table: dict[str, str], namespace: dict, package: str):
    """A module ``__getattr__`` that imports each name of ``table`` on first use and keeps it in ``namespace``."""

    def __getattr__(name: str):
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = table[name].partition(":")
        loaded = importlib.import_module(module)
        namespace[name] = value = getattr(loaded, attribute) if attribute else loaded
        return value

    return __getattr__


__getattr__ = lazy_exports(_PUBLIC, globals(), __name__)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
