"""Offline reports over finished runs: reading runs, the comparison table and figures, studies, summaries."""
