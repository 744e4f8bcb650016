#!/usr/bin/env python3
"""PyTorch (eager, Python) reference of pipe's `train` stage, for throughput comparison.

The same model (the default two-branch variant: CNN frame encoder + transformer
aggregator, tubelet-transformer local branch, cross-attention fusion), the same sizes
(read from the same params file's [model] and [train]), the same batch size, the same data
(the model input directory `build_model_input` wrote), the same optimiser, schedule,
clipping and augmentation, on the same number of CPU threads, or on the same GPU in the
same precision. It prints samples/s per epoch, measured like pipe's train log: forward +
backward + step over the training split, validation excluded.

On CUDA the whole training split is moved to the GPU once (u8) and batches are gathered
there, and the loss is summed on the device and read once per epoch: the strongest eager
baseline, with no host-to-device copies or host syncs in the step. `--precision bf16` runs
forward and loss under `torch.autocast(dtype=torch.bfloat16)` (pipe's bf16 runs matmuls and
convolutions in bfloat16, norms and softmax in fp32, as autocast does). `--compile` wraps the
model in `torch.compile` (its first epoch pays the compilation).

    python torch_reference.py PARAMS_TOML MODEL_INPUT_DIR [--epochs N] [--threads N]
        [--device cpu|cuda] [--precision fp32|bf16] [--compile] [--json OUT.json]
"""

import argparse
import ast
import json
import math
import os
import struct
import sys
import time
import tomllib

import torch
import torch.nn as nn
import torch.nn.functional as F



def read_npy(path):
    """A u8 .npy file as a tensor (no numpy needed)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file")
    major = data[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", data[8:10]), 10
    else:
        (hlen,), start = struct.unpack("<I", data[8:12]), 12
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    if header["descr"] not in ("|u1", "<u1", "u1") or header["fortran_order"]:
        raise ValueError(f"{path}: expected C-ordered uint8, got {header}")
    body = bytearray(data[start + hlen:])
    return torch.frombuffer(body, dtype=torch.uint8).view(*header["shape"])


def load_split(root, index, split, frames):
    items = [i for i in index["items"] if i["split"] == split]
    p = index["crop"]["patch_size"]
    x = torch.zeros(len(items), frames, 3, p, p, dtype=torch.uint8)
    lengths = []
    for k, item in enumerate(items):
        s = read_npy(os.path.join(root, item["file"]))
        n = min(s.shape[0], frames)
        x[k, :n] = s[:n]
        lengths.append(n)
    labels = torch.tensor([float(i["label"]) for i in items])
    return x, torch.tensor(lengths, dtype=torch.int64), labels


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.q, self.kv, self.out, self.heads = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d), heads

    def forward(self, query, context, mask, dropout):
        b, lq, d = query.shape
        lk, dh = context.shape[1], d // self.heads
        q = self.q(query).view(b, lq, self.heads, dh).transpose(1, 2)
        k, v = self.kv(context).chunk(2, -1)
        k = k.view(b, lk, self.heads, dh).transpose(1, 2)
        v = v.view(b, lk, self.heads, dh).transpose(1, 2)
        m = None if mask is None else mask.view(b, 1, 1, lk)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=m, dropout_p=dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, lq, d))


class Mlp(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x, dropout):
        return self.fc2(F.dropout(F.gelu(self.fc1(x)), dropout, self.training))


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ratio):
        super().__init__()
        self.ln1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.ln2, self.mlp = nn.LayerNorm(d), Mlp(d, d * ratio)

    def forward(self, x, mask, dropout):
        h = self.ln1(x)
        x = x + F.dropout(self.attn(h, h, mask, dropout), dropout, self.training)
        return x + F.dropout(self.mlp(self.ln2(x), dropout), dropout, self.training)


class Encoder(nn.Module):
    def __init__(self, layers, d, heads, ratio):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(d, heads, ratio) for _ in range(layers)])
        self.norm = nn.LayerNorm(d)

    def forward(self, x, mask, dropout):
        for layer in self.layers:
            x = layer(x, mask, dropout)
        return self.norm(x)


def embedding(*dims):
    return nn.Parameter(torch.randn(*dims) * 0.02)


class FrameCNN(nn.Module):
    def __init__(self, patch, d):
        super().__init__()
        base, size, cin, i = max(d // 4, 8), patch, 3, 0
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        while size > 7 and i < 6:
            cout = min(base << min(i, 2), max(d, base))
            self.convs.append(nn.Conv2d(cin, cout, 3, 2, 1))
            self.norms.append(nn.GroupNorm(min(max(cout // 8, 1), 8), cout))
            cin, size, i = cout, (size + 1) // 2, i + 1
        self.proj = nn.Linear(cin, d)

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = F.gelu(norm(conv(x)))
        return self.proj(x.mean(dim=(2, 3)))


class Tubelets(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, tf, ts, self.grid = c["dim"], c["tubelet_frames"], c["tubelet_size"], c["grid"]
        self.window, self.stride = c["window"], c["stride"]
        self.windows = 1 if c["frames"] < self.window else (c["frames"] - self.window) // self.stride + 1
        cell = c["patch_size"] // self.grid
        tokens = (self.window // tf) * (cell // ts) ** 2
        self.embed = nn.Conv3d(3, d, (tf, ts, ts), (tf, ts, ts))
        self.cls, self.pos = embedding(1, 1, d), embedding(1, tokens + 1, d)
        self.encoder = Encoder(c["tube_layers"], d, c["heads"], c["mlp_ratio"])
        self.cell_pos, self.window_pos = embedding(self.grid ** 2, 1, d), embedding(1, self.windows, d)

    def forward(self, x, lengths, dropout):
        b, t, ch, p, _ = x.shape
        g, c = self.grid, p // self.grid
        cells = x.view(b, t, ch, g, c, g, c).permute(0, 3, 5, 1, 2, 4, 6).reshape(b, g * g, t, ch, c, c)
        if t < self.window:
            cells = F.pad(cells, (0, 0, 0, 0, 0, 0, 0, self.window - t))
        tubes = cells.unfold(2, self.window, self.stride).permute(0, 1, 2, 3, 6, 4, 5)
        tubes = tubes.reshape(b * g * g * self.windows, ch, self.window, c, c)
        n, d = tubes.shape[0], self.cls.shape[2]
        tok = self.embed(tubes).flatten(2).transpose(1, 2)
        tok = torch.cat([self.cls.expand(n, 1, d), tok], 1) + self.pos
        vecs = self.encoder(tok, None, dropout)[:, 0]
        vecs = vecs.view(b, g * g, self.windows, d) + self.cell_pos.unsqueeze(0) + self.window_pos.unsqueeze(0)
        starts = torch.arange(self.windows, device=x.device) * self.stride
        real = ((starts.unsqueeze(0) + self.window) <= lengths.unsqueeze(1)) | (starts == 0).unsqueeze(0)
        mask = real.unsqueeze(1).expand(b, g * g, self.windows).reshape(b, -1)
        return vecs.reshape(b, -1, d), mask


class SmokeNet(nn.Module):
    """The default variant of pipe's model family (see stages/src/model)."""

    def __init__(self, c):
        super().__init__()
        d, self.c = c["dim"], c
        self.frame_encoder = FrameCNN(c["patch_size"], d)
        self.agg_cls, self.agg_pos = embedding(1, 1, d), embedding(1, c["frames"] + 1, d)
        self.aggregator = Encoder(c["aggregator_layers"], d, c["heads"], c["mlp_ratio"])
        self.tubelets = Tubelets(c)
        self.self_attn = Encoder(c["fusion_layers"], d, c["heads"], c["mlp_ratio"]) if c["fusion_layers"] else None
        self.ln_q, self.cross = nn.LayerNorm(d), Attention(d, c["heads"])
        self.ln_out, self.mlp = nn.LayerNorm(d), Mlp(d, d * c["mlp_ratio"])
        self.head_norm, self.head = nn.LayerNorm(d), nn.Linear(d, 1)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1), persistent=False)

    def forward(self, frames, lengths):
        b, t, _, p, _ = frames.shape
        drop = self.c["dropout"]
        mask = torch.arange(t, device=frames.device).unsqueeze(0) < lengths.unsqueeze(1)
        x = (frames.float() / 255.0 - self.mean) / self.std
        x = x * mask.float().view(b, t, 1, 1, 1)
        v = self.frame_encoder(x.view(b * t, 3, p, p)).view(b, t, -1)
        d = v.shape[2]
        tok = torch.cat([self.agg_cls.expand(b, 1, d), v], 1) + self.agg_pos
        keep = torch.cat([torch.ones_like(mask[:, :1]), mask], 1)
        g = self.aggregator(tok, keep, drop)[:, 0]
        tubes, tmask = self.tubelets(x, lengths, drop)
        kv = self.self_attn(tubes, tmask, drop) if self.self_attn is not None else tubes
        q = g.unsqueeze(1)
        y = q + self.cross(self.ln_q(q), kv, tmask, drop)
        y = (y + self.mlp(self.ln_out(y), drop)).squeeze(1)
        return self.head(F.dropout(self.head_norm(y), drop, self.training)).squeeze(-1)


def lr_at(t, step, steps_per_epoch):
    total, warm = max(t["epochs"] * steps_per_epoch, 1), t["warmup_epochs"] * steps_per_epoch
    if step < warm:
        return t["lr"] * (step + 1) / warm
    progress = min((step - warm) / max(total - warm, 1), 1.0)
    return t["min_lr"] + (t["lr"] - t["min_lr"]) * 0.5 * (1 + math.cos(math.pi * progress))


MODEL_DEFAULTS = dict(dim=64, heads=4, mlp_ratio=2, dropout=0.1, aggregator="transformer", aggregator_layers=1,
                      grid=2, window=4, stride=2, tube_layers=1, tubelet_frames=2, tubelet_size=8,
                      fusion="cross_attention", fusion_layers=1, global_branch=True, local_branch=True)
TRAIN_DEFAULTS = dict(seed=0, epochs=40, batch_size=16, lr=1e-3, min_lr=1e-5, weight_decay=0.05,
                      warmup_epochs=1, grad_clip=1.0, augment=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("params")
    ap.add_argument("model_input")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("PIPE_CPUS", "0")) or None)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default=None,
                    help="default: train.precision of the params file")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--compile-backend", default="inductor",
                    help="torch.compile's backend (default inductor, which generates kernels; "
                         "aot_eager traces the same graphs without code generation, for a quick check)")
    ap.add_argument("--json", help="also write the per-epoch rates to this JSON file")
    args = ap.parse_args()
    with open(args.params, "rb") as f:
        params = tomllib.load(f)
    c = {**MODEL_DEFAULTS, **params.get("model", {})}
    t = {**TRAIN_DEFAULTS, **params.get("train", {})}
    if args.epochs:
        t["epochs"] = args.epochs
    if c["aggregator"] != "transformer" or c["fusion"] != "cross_attention" or not (c["global_branch"] and c["local_branch"]):
        sys.exit("torch_reference.py mirrors the default variant only (transformer + cross_attention, both branches)")
    if c.get("pretrained"):
        sys.exit("torch_reference.py has no pretrained encoder")
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(os.path.join(args.model_input, "index.json")) as f:
        index = json.load(f)
    c["frames"], c["patch_size"] = index["max_frames"], index["crop"]["patch_size"]
    device = torch.device(args.device)
    precision = args.precision or t.get("precision", "fp32")
    x, lengths, labels = load_split(args.model_input, index, "train", c["frames"])
    x, lengths, labels = x.to(device), lengths.to(device), labels.to(device)
    torch.manual_seed(t["seed"])
    model = SmokeNet(c).to(device)
    params_n = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
    step_model = torch.compile(model, backend=args.compile_backend) if args.compile else model

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    n, bs = x.shape[0], t["batch_size"]
    steps = (n + bs - 1) // bs
    gen = torch.Generator().manual_seed(t["seed"])
    mode = f"torch.compile ({args.compile_backend})" if args.compile else "eager"
    print(f"torch {torch.__version__} {mode} on {device} ({precision}), {torch.get_num_threads()} threads: "
          f"{n} train sequences, {c['frames']} frames of {c['patch_size']}px, {params_n / 1e6:.3f}M params, batch {bs}")
    rates, seconds_all, step = [], [], 0
    for epoch in range(1, t["epochs"] + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        flips = (torch.rand(n, generator=gen) < 0.5).to(device)
        sync()
        started, total = time.perf_counter(), torch.zeros((), device=device)
        for k in range(steps):
            idx = order[k * bs:(k + 1) * bs]
            xb = x.index_select(0, idx)
            if t["augment"]:
                f = flips[k * bs:(k + 1) * bs].view(-1, 1, 1, 1, 1)
                xb = torch.where(f, xb.flip(-1), xb)
            for group in opt.param_groups:
                group["lr"] = lr_at(t, step, steps)
            with autocast():
                logits = step_model(xb, lengths[idx])
                loss = F.binary_cross_entropy_with_logits(logits.float(), labels[idx])
            opt.zero_grad()
            loss.backward()
            if t["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
            opt.step()
            total += loss.detach() * idx.numel()
            step += 1
        total = total.item()
        sync()
        seconds = time.perf_counter() - started
        rates.append(n / seconds)
        seconds_all.append(seconds)
        print(f"epoch {epoch:>3}/{t['epochs']}: train_loss {total / n:.4f}  {seconds:.2f}s ({n / seconds:.1f} samples/s)")
    steady = rates[1:] or rates
    name = "torch_compile" if args.compile else "torch_eager"
    print(f"RESULT {name} samples_per_s {sum(steady) / len(steady):.1f} (mean of epochs 2..{len(rates)})")
    if args.json:
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        with open(args.json, "w") as f:
            json.dump({"mode": mode, "device": str(device), "precision": precision, "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "batch_size": bs,
                       "compile_backend": args.compile_backend if args.compile else None, "train_sequences": n,
                       "params": params_n, "epoch_samples_per_s": rates, "epoch_seconds": seconds_all,
                       "peak_allocated_mb": peak}, f, indent=1)


if __name__ == "__main__":
    main()
