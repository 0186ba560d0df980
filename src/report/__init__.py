"""Results of many runs as tables and plots (the library of scripts/report.py).

`runs` reads the results.json files of runs and groups them, `tables` writes the markdown
tables, `plots` the PNG figures.
"""
