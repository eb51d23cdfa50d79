"""report.html: the page a reconstruction ends with (page.py), its plots (plots.py)."""
