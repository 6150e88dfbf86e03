"""Sampling: draws from a fitted model with ``pyro.infer.Predictive`` (``predictive``), draws
streamed into NetCDF files (``draw_file``), and the ELBO's terms on data (``evaluate``).
"""
