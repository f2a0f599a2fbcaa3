"""The validation report's charts (scripts/report.py renders them into its page).

Each takes the table it draws, as the report read it from the database, and
returns a plotly figure: the same-category rate per category, the threshold
sweep, and the hold-out comparison of the similarity measures.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

PASS_COLOUR = "#2a9d8f"
FAIL_COLOUR = "#e76f51"
UNTESTED_COLOUR = "#adb5bd"
BUILD_COLOUR = "#264653"
BASELINE_COLOUR = "#adb5bd"


def category_chart(categories: pd.DataFrame, overall: dict[str, Any]) -> go.Figure:
    """Per category: the same-category rate, coloured by the min_category_rate test."""
    threshold = float(overall["min_category_rate"])
    min_products = int(overall["min_category_products"])
    tested = categories["product_count"] >= min_products
    rate = categories["same_category_rate"].fillna(0.0)
    colours = [
        UNTESTED_COLOUR if not is_tested else PASS_COLOUR if value >= threshold else FAIL_COLOUR
        for is_tested, value in zip(tested, rate, strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            x=categories["category"],
            y=rate,
            marker_color=colours,
            customdata=categories[
                [
                    "product_count",
                    "same_category_count",
                    "products_without_recommendations",
                    "same_category_lift",
                ]
            ].fillna(0),
            hovertemplate=(
                "<b>%{x}</b><br>same-category rate %{y:.1%}"
                " (%{customdata[3]:.1f} times chance)<br>"
                "%{customdata[1]} of %{customdata[0]} products<br>"
                "%{customdata[2]} without recommendations<extra></extra>"
            ),
            text=[f"{value:.0%}" for value in rate],
            textposition="outside",
            name="same-category rate",
        )
    )
    if threshold > 0:
        figure.add_hline(
            y=threshold,
            line_dash="dash",
            line_color=FAIL_COLOUR,
            annotation_text=f"min_category_rate {threshold:g}",
            annotation_position="top left",
            annotation_bgcolor="white",
        )
    figure.update_layout(
        title="Share of products whose best recommendation is in the same category",
        yaxis={"title": "same-category rate", "tickformat": ".0%", "range": [0, 1.1]},
        xaxis={"title": f"category (grey: fewer than {min_products} products, not tested)"},
        template="plotly_white",
        height=460,
        margin={"t": 60, "b": 120},
    )
    return figure


def sweep_chart(sweep: pd.DataFrame, overall: dict[str, Any]) -> go.Figure:
    """The threshold sweep: rates and coverage against min_pair_count."""
    figure = go.Figure()
    lines = {
        "micro_same_category_rate": "same-category rate (all products)",
        "macro_same_category_rate": "same-category rate (mean of categories)",
        "coverage": "coverage (products with a recommendation)",
    }
    for column, label in lines.items():
        figure.add_trace(
            go.Scatter(
                x=sweep["min_pair_count"],
                y=sweep[column],
                mode="lines+markers",
                name=label,
                hovertemplate=f"min_pair_count %{{x}}<br>{label}: %{{y:.1%}}<extra></extra>",
            )
        )
    threshold = float(overall["min_same_category_rate"])
    if threshold > 0:
        figure.add_hline(
            y=threshold,
            line_dash="dash",
            line_color=FAIL_COLOUR,
            annotation_text=f"min_same_category_rate {threshold:g}",
            annotation_position="bottom left",
        )
    current = sweep.loc[sweep["is_current_min_pair_count"], "min_pair_count"]
    if not current.empty:
        figure.add_vline(
            x=int(current.iloc[0]),
            line_dash="dot",
            line_color="#555",
            annotation_text="this build",
            annotation_position="top right",
        )
    figure.update_layout(
        title="Threshold sweep: what a higher min_pair_count buys and costs",
        xaxis={"title": "min_pair_count (log scale)", "type": "log"},
        yaxis={"title": "share", "tickformat": ".0%", "range": [0, 1.05]},
        template="plotly_white",
        height=460,
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 60, "b": 120},
    )
    return figure


def evaluation_label(record: dict[str, Any]) -> str:
    """A measure config as the page names it: "cosine (similarity_shrinkage=20)"."""
    parameters = record["parameters"]
    return record["measure"] + (f" ({parameters})" if parameters else "")


def evaluation_chart(evaluation: pd.DataFrame) -> go.Figure:
    """Each measure config as a point: hit@k on held-out orders against same-category@1.

    Up and to the right is better on both; the marker's size is its catalogue
    coverage, so a measure that hits by recommending a few best-sellers to
    everyone (popularity) shows as a small point.
    """
    figure = go.Figure()
    k = int(evaluation["k"].iloc[0]) if len(evaluation) else 0
    groups = {
        "baseline": evaluation["measure"] == "popularity",
        "this build's measure": evaluation["is_build_measure"].fillna(False).astype(bool),
    }
    groups["other measures"] = ~(groups["baseline"] | groups["this build's measure"])
    colours = {
        "baseline": BASELINE_COLOUR,
        "this build's measure": BUILD_COLOUR,
        "other measures": PASS_COLOUR,
    }
    for name, rows in groups.items():
        frame = evaluation[rows]
        if frame.empty:
            continue
        figure.add_trace(
            go.Scatter(
                x=frame["hit_rate"],
                y=frame["same_category_rate"],
                mode="markers+text",
                name=name,
                # The config's number (the table below names it): long names would overlap.
                text=[str(config_id) for config_id in frame["config_id"]],
                textposition="top center" if name == "baseline" else "middle center",
                textfont={"color": "#222" if name == "baseline" else "white"},
                marker={
                    "size": 10 + 30 * frame["catalogue_coverage"].fillna(0.0),
                    "color": colours[name],
                    "opacity": 0.8,
                },
                customdata=pd.concat(
                    [
                        frame[
                            ["long_tail_hit_rate", "recall", "catalogue_coverage", "seed_coverage"]
                        ].fillna(0),
                        pd.Series(
                            [evaluation_label(r) for r in frame.to_dict("records")],
                            index=frame.index,
                            name="label",
                        ),
                    ],
                    axis=1,
                ),
                hovertemplate=(
                    "<b>%{text}. %{customdata[4]}</b><br>"
                    f"hit@{k} %{{x:.3f}}, same-category@1 %{{y:.3f}}<br>"
                    f"tail hit@{k} %{{customdata[0]:.3f}}, recall@{k} %{{customdata[1]:.3f}}<br>"
                    "catalogue %{customdata[2]:.1%}, seeds covered %{customdata[3]:.1%}"
                    "<extra></extra>"
                ),
            )
        )
    figure.update_layout(
        title=f"Measures on held-out orders: hit@{k} against same-category@1"
        " (numbers: the table below; size: catalogue coverage)",
        xaxis={"title": f"hit@{k} (held-out orders)", "tickformat": ".0%", "rangemode": "tozero"},
        yaxis={"title": "same-category@1", "tickformat": ".0%", "rangemode": "tozero"},
        template="plotly_white",
        height=520,
        legend={"orientation": "h", "y": -0.2},
        margin={"t": 60, "b": 100},
    )
    return figure


def evaluation_rows(evaluation: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The comparison table's rows, in config order (popularity first)."""
    if evaluation is None:
        return []
    return [
        {**record, "label": evaluation_label(record)} for record in evaluation.to_dict("records")
    ]
