"""The Streamlit entry of a checkout: `streamlit run dashboard.py [-- --runs-dir PATH]`.

The app itself lives in the package (`workbench/dashboard/app.py`), so an installed workbench serves
the same page with `workbench dashboard`.
"""

from workbench.dashboard.app import main

main()
