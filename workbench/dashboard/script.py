"""The script `workbench dashboard` hands to ``streamlit run``: the installed twin of the checkout's
dashboard.py. Streamlit executes it on every rerun; importing it would draw the page, so nothing does.
"""

from workbench.dashboard.app import main

main()
