"""The CUDA path, end to end, for a machine with a GPU (CI has none; run it where one is lent).

1. ``fit`` trains the main job's dual-encoder CVAE on the GPU (``device="auto"``) and on the
   CPU, the same epochs: epochs per second on each and the ratio.
2. Every diagnostic, given the CPU tensors a user holds, runs on the model ``fit`` left on the
   GPU (the device helper), and ArviZ gets its InferenceData.
3. Exact resume on CUDA: an interrupted run resumed from its checkpoint against an
   uninterrupted one (the CUDA generator state is in the checkpoint).

    python bench/cuda_check.py [--epochs 20]
"""

import argparse
import json
import tempfile
import time

import torch

import pyro_cvae as pc


def timed_fit(device: str, epochs: int, data, val) -> float:
    model = pc.build("dual-encoder", x_shape=(64,), y_shape=(10,), latent_dim=8, likelihood="continuous-bernoulli")
    pc.fit(model, data, val_data=val, epochs=1, batch_size=64, device=device, progress=False)  # warm-up
    start = time.perf_counter()
    pc.fit(model, data, val_data=val, epochs=epochs, batch_size=64, device=device, progress=False)
    if device == "cuda":
        torch.cuda.synchronize()
    return epochs / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("no GPU visible: this check needs CUDA")
    x, y, _ = pc.data.load_digits_data()
    train, test = pc.data.split_indices(len(x), test_size=300)
    data, val = (x[train], y[train]), (x[test], y[test])
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}

    gpu_rate, cpu_rate = timed_fit("cuda", args.epochs, data, val), timed_fit("cpu", args.epochs, data, val)
    report["epochs_per_second"] = {
        "cuda": round(gpu_rate, 2),
        "cpu": round(cpu_rate, 2),
        "cuda_over_cpu": round(gpu_rate / cpu_rate, 2),
    }

    model = pc.build("dual-encoder", x_shape=(64,), y_shape=(10,), latent_dim=8, likelihood="continuous-bernoulli")
    pc.fit(model, data, epochs=args.epochs, batch_size=64, progress=False)  # device="auto": the GPU
    assert model.device.type == "cuda"
    xt, yt = val  # CPU tensors, as a user holds them
    d = pc.diagnostics
    idata = d.to_inference_data(model, xt[:50], yt[:50], num_samples=20)
    results = {
        "device": str(model.device),
        "test_elbo": pc.elbo_terms(model, xt, yt)["elbo"],
        "test_iwae_k100": float(d.iwae_log_likelihood(model, xt, yt, num_samples=100).mean()),
        "active_units": d.latent_usage(model, xt, yt)["active_units"],
        "sbc_p_value": d.rank_uniformity(d.sbc_ranks(model, yt, num_samples=49), 49)["p_value"],
        "coverage_90": d.posterior_coverage(model, yt, num_samples=100)[0.9],
        "samples_shape": list(pc.sample(model, torch.eye(10), num_samples=8).shape),
        "reconstruct_shape": list(pc.reconstruct(model, xt[:4], yt[:4], num_samples=3).shape),
        "inference_data_groups": sorted(idata.groups()),
    }
    report["diagnostics_on_cuda_with_cpu_inputs"] = results

    with tempfile.TemporaryDirectory() as whole, tempfile.TemporaryDirectory() as parts:
        settings = dict(batch_size=64, progress=False, seed=3, patience=50)
        a = pc.build("dual-encoder", x_shape=(64,), y_shape=(10,), latent_dim=8)
        pc.fit(a, data, val_data=val, epochs=6, checkpoint_dir=whole, **settings)
        b = pc.build("dual-encoder", x_shape=(64,), y_shape=(10,), latent_dim=8)
        pc.fit(b, data, val_data=val, epochs=3, checkpoint_dir=parts, **settings)
        b = pc.build("dual-encoder", x_shape=(64,), y_shape=(10,), latent_dim=8)
        pc.fit(b, data, val_data=val, epochs=6, checkpoint_dir=parts, resume=True, **settings)
        gap = max(float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters()))
        report["resume_on_cuda_max_parameter_difference"] = gap
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
