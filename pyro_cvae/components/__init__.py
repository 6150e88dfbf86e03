"""What a model is made of: priors p(z | y), guides q(z | x, y), likelihoods p(x | z, y), the
decoder and encoder networks (MLP and convolutional), flows, the closed-form KLs, forward models
and penalties. Each kind has a registry (``PRIORS``, ``GUIDES``, ...) so a config names it.

Components never import training (``pyro_cvae.train``): a prior or a guide is a module that
returns a distribution, and any loop can fit it.
"""
