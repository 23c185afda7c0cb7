"""Domain similarity of the coarse and fine fields before transfer: 1-D Wasserstein distances.

Per variable and season, the distance W1 between the distribution of the coarse field's values and the fine
field's values over the training times (scipy ``wasserstein_distance``, in the fine store's units), and the
same divided by the fine values' standard deviation (comparable across variables). Xiang et al. report
such distances between their source and target domains before transferring the encoder.
"""

from __future__ import annotations

from terraflux.spatial.downscale_data import seasons

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance


def domain_distances(coarse, fine, times, names, split, part: str = "train") -> pd.DataFrame:
    """W1 per variable and season (and ``all``) over the times of split ``part``.

    ``coarse`` [variable, time, cy, cx], ``fine`` [variable, time, y, x] (NaN ignored), ``times`` [time],
    ``names`` [variable], ``split`` [time]. Columns: variable, season, wasserstein, wasserstein_scaled,
    n_coarse, n_fine.
    """
    sel = np.asarray(split) == part
    season = seasons(np.asarray(times)[sel])
    rows = []
    for k, name in enumerate(names):
        c_all, f_all = np.asarray(coarse[k])[sel], np.asarray(fine[k])[sel]
        for label in ["all", *sorted(set(season.tolist()))]:
            pick = np.ones(sel.sum(), bool) if label == "all" else season == label
            c, f = c_all[pick].ravel(), f_all[pick].ravel()
            c, f = c[np.isfinite(c)], f[np.isfinite(f)]
            w = float(wasserstein_distance(c, f)) if c.size and f.size else float("nan")
            scale = float(f.std()) if f.size else float("nan")
            rows.append(
                {
                    "variable": str(name),
                    "season": label,
                    "wasserstein": w,
                    "wasserstein_scaled": w / scale if scale > 0 else float("nan"),
                    "n_coarse": int(c.size),
                    "n_fine": int(f.size),
                }
            )
    return pd.DataFrame(rows)
