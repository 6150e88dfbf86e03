"""Two Birds: is the posterior calibrated? Simulation-based calibration with and without noise.

For a ``pyro-cvae twobirds fit`` folder: truths x* from the prior, y = F(x*) + ε with
ε ~ N(0, σ²) for σ = 0 (the challenge), 0.02 and 0.05, and S posterior samples per condition
from the default sampler told the true σ. Printed per row: the SBC p-value of the four endpoint
ranks (uniform when the posterior is right; target > 0.01) and the share of true endpoints
inside the 50% and 90% central intervals (targets 48-52% and 88-92%, noisy rows; for σ = 0
the posterior is a few atoms and interval coverage is not defined by its nominal level). The
sampler told a noise ten times smaller than the real one (over-confident) must fail. The older
``refine-importance`` sharpener (the CVAE's share per mode) is shown for comparison: endpoint
ranks pool the modes, so SBC catches wrong mode shares only when they are large (it failed
for one trained model, p = 0.0003, and passed for another, p = 0.09); ``mode_tv`` in
``bench/twobirds.py`` is the direct test of mode shares. Interval coverage
from S samples is biased low by about 1/S (the sample quantiles sit inside the true ones), so
the noisy rows use S = 499.

    python bench/twobirds_calibration.py --checkpoint runs/twobirds [--conditions 300] [--seed 2025]
"""

import argparse
import time

import pyro

from pyro_cvae.train.run import Run
from pyro_cvae.twobirds import draw
from pyro_cvae.twobirds.calibration import noisy_calibration
from pyro_cvae.twobirds.train import functions_of

#: (label, true σ, σ the sampler is told, sharpener, samples per condition)
ROWS = [
    ("noise-free", 0.0, 0.0, "laplace", 99),
    ("σ = 0.02", 0.02, 0.02, "laplace", 499),
    ("σ = 0.05", 0.05, 0.05, "laplace", 499),
    ("σ = 0.05, told 0.005 (over-confident: must fail)", 0.05, 0.005, "laplace", 99),
    ("noise-free, refine-importance (the old sharpener)", 0.0, 0.0, "refine-importance", 99),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--conditions", type=int, default=300, help="simulated conditions per row (>= 200)")
    parser.add_argument("--seed", type=int, default=2025, help="the simulations' seed (2025: the reported one)")
    parser.add_argument("--rows", default=",".join(str(i) for i in range(len(ROWS))))
    args = parser.parse_args(argv)
    run = Run.load(args.checkpoint)
    model, functions = run.model, functions_of(run)
    print(f"functions: {functions}; {args.conditions} simulated conditions per row, seed {args.seed}")
    print("| measurements | samples | SBC p-value | 50% covered | 90% covered | seconds |")
    print("|---|---|---|---|---|---|")
    for index in (int(i) for i in args.rows.split(",")):
        label, sigma, told, sharpen, samples = ROWS[index]
        pyro.set_rng_seed(0)
        start = time.perf_counter()
        result = noisy_calibration(
            lambda y, num, sharpen=sharpen, told=told: draw(
                model, y, num, sharpen=sharpen, functions=functions, noise_scale=told
            ),
            functions,
            sigma,
            num_conditions=args.conditions,
            num_samples=samples,
            seed=args.seed,
        )
        coverage = result["coverage"]
        print(
            f"| {label} | {samples} | {result['sbc_p_value']:.3g} | {coverage[0.5]:.3f} | {coverage[0.9]:.3f} | "
            f"{time.perf_counter() - start:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
