"""The DERE comparison table in the paper's form (Xu et al., KDD 2026): rows DERE step 4, DERE step 6 and each
backbone x variant (Baseline, KGML); for each row the held-out site scores (RMSE, MAE, R2, NSE, bias of GPP,
RECO, NEE; overall, per network, per IGBP class) as the stages scored them: pooled over the folds of the sites
(each site once, by the model that held it out), with the mean and standard deviation over folds; and the
paper's ordering of NEE RMSE averaged over folds.
"""

from __future__ import annotations

STEPS = (("step6", "DERE step 6"), ("step4", "DERE step 4"))
VARIANT_LABELS = {"baseline": "Baseline", "kgml": "KGML"}
METRICS = ("rmse", "mae", "r2", "nse", "bias")


def row_label(backbone: str, variant: str) -> str:
    """'<Variant> (<backbone>)', e.g. 'KGML (fedformer)'."""
    return f"{VARIANT_LABELS[variant]} ({backbone})"


def comparison_rows(steps: dict[str, dict], compare: dict[tuple[str, str], dict]) -> list[dict]:
    """One row per model: ``steps`` maps step4/step6 to their metrics JSON, ``compare`` (backbone, variant) to the
    comparison model's. A row: model label, backbone (None for DERE), variant, and ``scores`` (the stage's
    ``scores``: {"all": {flux: metrics}, "network": {...}, "igbp": {...}}, pooled over folds), ``fold_spread`` and
    ``seed_spread`` ({flux: {metric: {"mean", "std"}}} over folds, over training seeds)."""
    rows = [{"model": label, "backbone": None, "variant": key, **_scores(steps[key])} for key, label in STEPS]
    for (backbone, variant), metrics in compare.items():
        row = {"model": row_label(backbone, variant), "backbone": backbone, "variant": variant}
        rows.append({**row, **_scores(metrics)})
    return rows


def _scores(metrics: dict) -> dict:
    return {key: metrics[key] for key in ("scores", "fold_spread", "seed_spread")}


def paper_ordering(rows: list[dict], flux: str = "NEE", metric: str = "rmse") -> dict:
    """Whether DERE step 6 <= step 4 < KGML < Baseline holds for ``flux`` ``metric`` (overall, mean over folds),
    per backbone that has both variants: {backbone: {"step6<=step4", "step4<kgml", "kgml<baseline", "holds"}}."""
    value = {(r["backbone"], r["variant"]): r["fold_spread"][flux][metric]["mean"] for r in rows}
    step6, step4 = value[(None, "step6")], value[(None, "step4")]
    out = {}
    for backbone in sorted({b for b, _ in value if b is not None}):
        if (backbone, "kgml") not in value or (backbone, "baseline") not in value:
            continue
        kgml, baseline = value[(backbone, "kgml")], value[(backbone, "baseline")]
        checks = {"step6<=step4": step6 <= step4, "step4<kgml": step4 < kgml, "kgml<baseline": kgml < baseline}
        out[backbone] = {**checks, "holds": all(checks.values())}
    return out


def flat_table(rows: list[dict]) -> list[dict]:
    """Long records: model, backbone, variant, group ('all', 'network', 'igbp'), group_value, flux, metrics (pooled
    over folds); overall rows also ``<metric>_fold_mean``, ``<metric>_fold_std`` and ``<metric>_seed_std``."""
    records = []
    for r in rows:
        scores = r["scores"]
        blocks = [("all", "all", scores["all"])] + [
            (group, value, per_flux) for group in scores if group != "all" for value, per_flux in scores[group].items()
        ]
        for group, value, per_flux in blocks:
            for flux, m in per_flux.items():
                records.append(
                    {
                        "model": r["model"],
                        "backbone": r["backbone"],
                        "variant": r["variant"],
                        "group": group,
                        "group_value": value,
                        "flux": flux,
                        **{k: m.get(k) for k in (*METRICS, "n")},
                        **(_spread(r, flux) if group == "all" else {}),
                    }
                )
    return records


def _spread(row: dict, flux: str) -> dict:
    folds, seeds = row["fold_spread"][flux], row["seed_spread"][flux]
    return {
        **{f"{k}_fold_{stat}": folds[k][stat] for k in METRICS for stat in ("mean", "std")},
        **{f"{k}_seed_std": seeds[k]["std"] for k in METRICS},
    }
