"""Predict, then run: the prediction under Launch, the prediction beside the result, the class's predictions.

The engine keeps and compares them (`workbench.store.predictions`, `workbench.experiments.predictions`); the charts
are `workbench.present.prediction_plots`, as in the notebook panel. What a student typed (a reason, a name) is shown
as text (`plain`), never as Markdown.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from workbench.core.errors import ConfigError
from workbench.dashboard.text import plain
from workbench.experiments.comparisons import Comparison
from workbench.experiments.predictions import class_outcomes, outcome, surprises
from workbench.present.prediction_plots import predicted_vs_measured, prediction_beside_result
from workbench.store.predictions import FIRST, MAX_WHY, Prediction, Predictions
from workbench.store.runs import now_iso

KEYS = ("predict_first", "predict_by", "predict_transfer", "predict_scratch", "predict_why")
FIRST_LABELS = {"transfer": "transfer", "scratch": "scratch", "neither": "neither (a tie, or no one gets there)"}


def prediction_form(required: bool, target: float, open_: bool) -> None:
    """Under Launch: which network reaches the target first and by how much, each one's final test accuracy, why.
    Left empty, nothing is recorded (unless the teacher requires a prediction: then Launch asks for it)."""
    title = "your prediction" + (" (required before Launch)" if required else " (optional)")
    with st.sidebar.expander(title, expanded=open_ or required):
        st.radio(f"first to {100 * target:.0f} % validation accuracy", FIRST, index=None, key="predict_first",
                 format_func=FIRST_LABELS.get, horizontal=True)
        st.number_input("by how many epochs sooner", 0, 500, value=None, step=1, key="predict_by",
                        placeholder="e.g. 3", disabled=st.session_state.get("predict_first") == "neither")
        left, right = st.columns(2)
        left.number_input("transfer's test accuracy (%)", 0, 100, value=None, step=5, key="predict_transfer",
                          placeholder="0-100")
        right.number_input("scratch's test accuracy (%)", 0, 100, value=None, step=5, key="predict_scratch",
                           placeholder="0-100")
        st.text_input("why (optional)", key="predict_why", max_chars=MAX_WHY, placeholder="because…")


def form_prediction(required: bool, name: str) -> Prediction | None:
    """The prediction the form holds, None if it is empty; a one-line `ConfigError` if it is half made, or empty
    where the teacher requires one."""
    state = st.session_state
    first, by, transfer, scratch = (state.get(k) for k in KEYS[:4])
    if first is None and by is None and transfer is None and scratch is None and not state.get("predict_why"):
        if required:
            raise ConfigError("your teacher asks for a prediction first: fill in 'your prediction' under Launch")
        return None
    missing = [label for label, value in (("which network is first", first), ("transfer's accuracy", transfer),
                                          ("scratch's accuracy", scratch)) if value is None]
    if first in ("transfer", "scratch") and by is None:
        missing.append("by how many epochs")
    if missing:
        raise ConfigError(f"finish your prediction under Launch: {', '.join(missing)}")
    return Prediction(first, 0 if first == "neither" else int(by), transfer / 100, scratch / 100,
                      (state.get("predict_why") or "").strip(), name.strip()).checked()


def record_prediction(root, prediction: Prediction | None, comparison_id: str) -> None:
    if prediction is not None:
        Predictions(root).save(replace(prediction, comparison_id=comparison_id, made=now_iso()))


def prediction_beside(root, comparison: Comparison) -> None:
    """Under a finished comparison's headline: what its page predicted, beside what happened."""
    prediction = Predictions(root).get(comparison.comparison_id)
    if prediction is None:
        return
    result = outcome(prediction, comparison)
    if result is None:
        st.caption("your prediction is saved; it shows beside the result when both runs have finished")
        return
    with st.expander("your prediction beside the result", expanded=True):
        chart, table = st.columns([3, 2])
        pairs = {f"{role}'s test accuracy": (getattr(prediction, f"{role}_acc"), result.measured_acc(role))
                 for role in ("transfer", "scratch")}
        chart.plotly_chart(prediction_beside_result(pairs), key=f"prediction-{comparison.comparison_id}",
                           config={"displayModeBar": False})
        table.table(pd.DataFrame([(plain(w), plain(p), plain(m)) for w, p, m in result.rows()],
                                 columns=["", "you said", "measured"]).set_index(""))
        if prediction.why:
            table.caption(f"why: {plain(prediction.why)}")
        table.markdown("**right about who is first**" if result.first_right else
                       "**a surprise: who was first is not what you expected.** Why might that be?")


def class_predictions(root, comparisons: dict[str, Comparison], owners: dict[str, dict]) -> None:
    """The class board's predicted-vs-measured chart (each student's latest prediction, both networks) and the
    biggest surprises."""
    outcomes = class_outcomes(Predictions(root).all(), comparisons)
    if not outcomes:
        st.caption("no predictions with a finished result yet: predictions are made under Launch")
        return
    latest = {}
    for result in outcomes:  # oldest first: each student's last prediction stays
        who = owners.get(result.prediction.comparison_id) or {}
        latest[who.get("owner") or result.prediction.comparison_id] = result
    points = [{"who": o.prediction.name or "(no name)", "role": role,
               "predicted": getattr(o.prediction, f"{role}_acc"), "measured": o.measured_acc(role)}
              for o in latest.values() for role in ("transfer", "scratch")]
    st.subheader("predicted against measured")
    right = sum(o.first_right for o in latest.values())
    st.caption(f"{len(latest)} students' latest predictions; on the dashed line a prediction was exactly right. "
               f"{right} of {len(latest)} named the network that reached the target first.")
    st.plotly_chart(predicted_vs_measured(points), key="board-predictions")
    st.markdown("**the biggest surprises**")
    rows = [{"who": o.prediction.name or "(no name)", **{w: f"{p} → {m}" for w, p, m in o.rows()},
             "why": o.prediction.why} for o in surprises(list(latest.values()))]
    st.dataframe(pd.DataFrame(rows), hide_index=True)  # a dataframe shows text as text
