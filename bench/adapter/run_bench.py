#!/usr/bin/env python3
"""run_bench.py - libwsmesh throughput on loopback against a wshub (memory store).

Usage: run_bench.py BENCH_ADAPTER_EXE WSHUB_EXE [--quick] [--read-args]

For each case a service (bench-adapter serve: no-op handler, prefetch 256) consumes N jobs that
a producer (bench-adapter produce: pipelined enqueue) submits; reported: jobs/s and MB/s seen
by the service (first to last job), service CPU per job, and as ratios against baselines of the
same run: raw loopback TCP MB/s (bench-adapter rawtcp) for payload throughput, and the hub's
own CPU per job for the adapter's CPU per job. Each case runs twice: streaming (producer and
service at the same time) and draining (queue filled first, then the service runs flat out).
--read-args: the service's handler reads args.i (so the job's args are parsed; libwsmesh parses
them only when a handler asks). Prints a table and one JSON line.
"""
import json
import os
import subprocess
import sys
import tempfile
import time


def hub_cpu(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def start_hub(wshub, d):
    cfg = {'listen': {'address': '127.0.0.1', 'port': 0}, 'store': {'type': 'memory'},
           'queues': {'small': {'max_length': 2000000}, 'bulk': {'max_length': 100000}},
           'logging': {'level': 'warn'}}
    path = os.path.join(d, 'mesh.json')
    with open(path, 'w') as f:
        json.dump(cfg, f)
    err = open(os.path.join(d, 'hub.err'), 'wb')
    p = subprocess.Popen([wshub, '--config', path, '--port', '0'], stderr=err, stdout=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        with open(os.path.join(d, 'hub.err')) as f:
            for line in f:
                if 'listening on ' in line:
                    return p, line.split('listening on ', 1)[1].strip()
        time.sleep(0.05)
    p.kill()
    raise SystemExit('hub did not start')


READ_ARGS = []


def run_case(exe, url, hub, queue, n, nbytes, prefill):
    # prefill: the queue is filled first and the service then drains it, so that the service
    # runs flat out (its CPU per job is then its processing cost, not per-wakeup overhead);
    # otherwise producer and service run at the same time (the pipeline situation)
    cpu0 = hub_cpu(hub.pid)
    prod = None
    if prefill:
        prod = subprocess.run([exe, 'produce', url, queue, str(n), str(nbytes)], capture_output=True,
                              timeout=600)
    serve = subprocess.Popen([exe, 'serve', url, queue, str(n)] + READ_ARGS, stdout=subprocess.PIPE)
    if not prefill:
        time.sleep(0.3)
        prod = subprocess.run([exe, 'produce', url, queue, str(n), str(nbytes)], capture_output=True,
                              timeout=600)
    out, _ = serve.communicate(timeout=600)
    s = json.loads(out)
    pr = json.loads(prod.stdout)
    wall = max(s['wall_s'], 1e-9)
    return {
        'jobs': s['jobs'], 'payload_bytes': nbytes,
        'jobs_per_s': s['jobs'] / wall,
        'mb_per_s': s['bytes'] / 1e6 / wall,
        'service_cpu_us_per_job': s['cpu_s'] / max(s['jobs'], 1) * 1e6,
        'producer_cpu_us_per_job': pr['cpu_s'] / max(pr['jobs'], 1) * 1e6,
        'hub_cpu_us_per_job': (hub_cpu(hub.pid) - cpu0) / max(s['jobs'], 1) * 1e6,
    }


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, wshub = sys.argv[1], sys.argv[2]
    quick = '--quick' in sys.argv
    if '--read-args' in sys.argv:
        READ_ARGS.append('args')
    d = tempfile.mkdtemp(prefix='wsm-bench-adapter-')
    raw = json.loads(subprocess.run([exe, 'rawtcp', '512' if not quick else '128'],
                                    capture_output=True, check=True).stdout)
    hub, url = start_hub(wshub, d)
    try:
        small = run_case(exe, url, hub, 'small', 20000 if quick else 200000, 0, False)
        bulk = run_case(exe, url, hub, 'bulk', 300 if quick else 3000, 100 * 1024, False)
        small_d = run_case(exe, url, hub, 'small', 20000 if quick else 100000, 0, True)
        bulk_d = run_case(exe, url, hub, 'bulk', 300 if quick else 2000, 100 * 1024, True)
    finally:
        hub.terminate()
        hub.wait(timeout=30)
    print('%-22s %10s %10s %14s %14s %14s' % ('case', 'jobs/s', 'MB/s', 'svc CPU us/job',
                                              'prod CPU us/job', 'hub CPU us/job'))
    for name, r in (('small, streaming', small), ('100 KB, streaming', bulk),
                    ('small, drain queue', small_d), ('100 KB, drain queue', bulk_d)):
        print('%-22s %10.0f %10.1f %14.2f %14.2f %14.2f' % (
            name[:22], r['jobs_per_s'], r['mb_per_s'], r['service_cpu_us_per_job'],
            r['producer_cpu_us_per_job'], r['hub_cpu_us_per_job']))
    print('baseline raw loopback TCP: %.0f MB/s' % raw['mb_s'])
    result = {
        'bench': 'adapter', 'small': small, 'bulk_100k': bulk, 'small_drain': small_d,
        'bulk_100k_drain': bulk_d, 'raw_tcp_mb_s': raw['mb_s'], 'handler_reads_args': bool(READ_ARGS),
        'ratios': {
            'bulk_mb_s_vs_raw_tcp': bulk['mb_per_s'] / raw['mb_s'],
            'bulk_drain_mb_s_vs_raw_tcp': bulk_d['mb_per_s'] / raw['mb_s'],
            'small_service_cpu_vs_hub_cpu': small['service_cpu_us_per_job'] / max(small['hub_cpu_us_per_job'], 1e-9),
        },
    }
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
