"""Data files shipped with the package (tables with their sources in their header comments).

- ``lccs_pft_crosswalk.csv``: LCCS land-cover class -> percentages of the 14 ESA CCI PFTs (Poulter et al. 2015).
- ``pft_groups.csv``: the 14 PFTs -> BL / NL / GS / other (water is not land).
- ``fluxnet2015_fullset_columns.txt``: the columns of the FLUXNET2015 FULLSET aggregated files, in file order.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
