"""Project pages, split by use: pages.py (list, project, settings) and imports.py (data import)."""
