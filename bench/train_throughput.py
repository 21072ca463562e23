#!/usr/bin/env python3
"""Training throughput side by side: Enhance (`enhance train`) vs PyTorch on the same model and batch.

Model: MSRResNet (SRResNet-16 without batch norm, BasicSR's layout): 64 features, 16 residual blocks, x4.
Step: forward, L1 loss, backward, Adam (lr 2e-4, betas 0.9/0.99) on a batch of 16 LR patches 24x24 (HR 96x96).
PyTorch (Debian python3-torch, run with /usr/bin/python3) uses random tensors, so it pays nothing for data;
Enhance reads its batches from its background loader (T91 patches, prefetched on another thread).
Both use --threads threads. Runs alternate engine by engine, --rounds times; medians are reported.

    python3 bench/train_throughput.py [--enhance .build-release/release/enhance] [--data DIR] [--steps 20]
                                      [--no-pytorch]   # Enhance only (machines without python3-torch)
    python3 bench/train_throughput.py --baseline OLD_ENHANCE [--enhance NEW_ENHANCE] [--rounds 2]
        # two builds of Enhance, alternating: wall ms/step and CPU ms/step ((CPU of a 20-step run - CPU of a 5-step run)
        # / 15, user + system of the process), which stays comparable while other work shares the machine
"""
import argparse, json, os, re, resource, statistics, subprocess, sys, tempfile, time

TORCH_CODE = r'''
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
threads, steps, warm = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
class Block(nn.Module):
    def __init__(s, nf):
        super().__init__(); s.conv1 = nn.Conv2d(nf, nf, 3, 1, 1); s.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
    def forward(s, x): return x + s.conv2(F.relu(s.conv1(x)))
class MSRResNet(nn.Module):
    def __init__(s, nf=64, nb=16):
        super().__init__()
        s.conv_first = nn.Conv2d(3, nf, 3, 1, 1); s.body = nn.Sequential(*[Block(nf) for _ in range(nb)])
        s.upconv1 = nn.Conv2d(nf, nf * 4, 3, 1, 1); s.upconv2 = nn.Conv2d(nf, nf * 4, 3, 1, 1)
        s.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1); s.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
    def forward(s, x):
        f = F.leaky_relu(s.conv_first(x), 0.1); f = s.body(f)
        f = F.leaky_relu(F.pixel_shuffle(s.upconv1(f), 2), 0.1); f = F.leaky_relu(F.pixel_shuffle(s.upconv2(f), 2), 0.1)
        out = s.conv_last(F.leaky_relu(s.conv_hr(f), 0.1))
        return out + F.interpolate(x, scale_factor=4, mode='bilinear', align_corners=False)
net = MSRResNet()
opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99))
lr, hr = torch.rand(16, 3, 24, 24), torch.rand(16, 3, 96, 96)
def step():
    opt.zero_grad(); loss = F.l1_loss(net(lr), hr); loss.backward(); opt.step()
for _ in range(warm): step()
t = time.perf_counter()
for _ in range(steps): step()
print((time.perf_counter() - t) / steps * 1000)
'''


def torch_ms(python, threads, steps):
    out = subprocess.run([python, '-c', TORCH_CODE, str(threads), str(steps), '2'], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def enhance_ms(binary, data, threads, steps):
    with tempfile.TemporaryDirectory() as out:
        r = subprocess.run([binary, 'train', '--data', data, '-o', out, '--steps', str(steps + 5), '--log-every', '5',
                            '--validate-every', '100000', '--checkpoint-every', '100000', '--hold-out', '0',
                            '--threads', str(threads)], capture_output=True, text=True, check=True)
        # train.jsonl has the full-precision rate of each logged window (stdout rounds it to two decimals).
        rates = [json.loads(line)['stepsPerSecond'] for line in open(os.path.join(out, 'train.jsonl')) if line.strip()]
        # The first window includes start-up and primitive creation; the rest are steady steps.
        return 1000 / statistics.median(rates[1:])


def enhance_cpu_ms(binary, data, threads):
    def cpu(steps):
        with tempfile.TemporaryDirectory() as out:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([binary, 'train', '--data', data, '-o', out, '--steps', str(steps), '--log-every', '5',
                            '--validate-every', '100000', '--checkpoint-every', '100000', '--hold-out', '0',
                            '--threads', str(threads)], capture_output=True, check=True,
                           env=dict(os.environ, OMP_WAIT_POLICY='passive'))
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (cpu(20) - cpu(5)) / 15 * 1000


def compare(a):
    results = {'baseline': {'wall': [], 'cpu': []}, 'enhance': {'wall': [], 'cpu': []}}
    for r in range(a.rounds):
        for name, binary in [('baseline', a.baseline), ('enhance', a.enhance)]:
            load = os.getloadavg()[0]
            wall, cpu = enhance_ms(binary, a.data, a.threads, a.steps), enhance_cpu_ms(binary, a.data, a.threads)
            results[name]['wall'].append(wall)
            results[name]['cpu'].append(cpu)
            print(f"round {r + 1} {name}: {wall:.0f} ms/step wall, {cpu:.0f} CPU-ms/step (load {load:.2f})", flush=True)
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in results.items()}
    print(f"\n| build | wall ms/step (median) | CPU ms/step (median) |\n|---|---:|---:|")
    for n in results:
        print(f"| {n} ({a.baseline if n == 'baseline' else a.enhance}) | {med[n]['wall']:.0f} | {med[n]['cpu']:.0f} |")
    print(f"\nenhance / baseline: wall {med['enhance']['wall'] / med['baseline']['wall']:.3f}, "
          f"CPU {med['enhance']['cpu'] / med['baseline']['cpu']:.3f}")
    if a.json:
        json.dump(results, open(a.json, 'w'))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--enhance', default='.build-release/release/enhance')
    ap.add_argument('--data', default=os.path.join(os.path.dirname(__file__), '../../shared/sr-trainsets/T91'))
    ap.add_argument('--python', default='/usr/bin/python3')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--no-pytorch', action='store_true', help='time Enhance only')
    ap.add_argument('--baseline', help='another enhance binary to compare with, alternating (no PyTorch)')
    ap.add_argument('--json')
    a = ap.parse_args()
    if a.baseline:
        return compare(a)
    load = os.getloadavg()[0]
    results = {'enhance': [], 'pytorch': []}
    for r in range(a.rounds):
        results['enhance'].append(enhance_ms(a.enhance, a.data, a.threads, a.steps))
        if a.no_pytorch:
            print(f"round {r + 1}: Enhance {results['enhance'][-1]:.0f} ms/step", flush=True)
            continue
        results['pytorch'].append(torch_ms(a.python, a.threads, a.steps))
        print(f"round {r + 1}: Enhance {results['enhance'][-1]:.0f} ms/step, PyTorch {results['pytorch'][-1]:.0f} ms/step",
              flush=True)
    if a.no_pytorch:
        e = statistics.median(results['enhance'])
        print(f"\nEnhance: {e:.0f} ms/step (median of {results['enhance']}), {16000 / e:.1f} patches/s; "
              f"MSRResNet 64x16 x4, batch 16 of 24x24 -> 96x96, L1 + Adam, {a.threads} threads, {a.steps} timed steps; "
              f"load average before: {load:.2f}")
        if a.json:
            json.dump({'ms_per_step': {'enhance': results['enhance']}}, open(a.json, 'w'))
        return
    e, t = statistics.median(results['enhance']), statistics.median(results['pytorch'])
    print(f"\n| engine | ms/step (median) | patches/s | vs PyTorch |\n|---|---:|---:|---:|")
    print(f"| Enhance | {e:.0f} | {16000 / e:.1f} | {t / e:.2f}x |")
    print(f"| PyTorch {__import__('subprocess').run([a.python, '-c', 'import torch; print(torch.__version__)'], capture_output=True, text=True).stdout.strip()} | {t:.0f} | {16000 / t:.1f} | 1.00x |")
    print(f"\nMSRResNet 64x16 x4, batch 16 of 24x24 -> 96x96, L1 + Adam, {a.threads} threads, "
          f"{a.steps} timed steps x {a.rounds} rounds; load average before: {load:.2f}")
    if a.json:
        json.dump({'ms_per_step': {'enhance': results['enhance'], 'pytorch': results['pytorch']}}, open(a.json, 'w'))


if __name__ == '__main__':
    main()
