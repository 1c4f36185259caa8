#!/usr/bin/env python3
"""run_hub_bench.py - wshub throughput, latency and CPU per job on loopback.

Usage: run_hub_bench.py HUB_BENCH_EXE WSHUB_EXE [--quick]

For 1/4/16 workers x prefetch 1/16/128 (hub-bench work: libwsmesh service, no-op handler), one
producer (hub-bench produce) enqueues N small jobs as fast as it can (pipelined); measured:
jobs/s from the first enqueue to the last handled job, enqueue->handler latency p50/p99 (these
include the time a job waited in the queue behind the burst), and the hub's CPU per job (from
/proc/PID/stat of the wshub process over the case) next to the load generators' CPU per job
(getrusage of the producer and workers: on this 2-core machine they share the cores with the hub). A paced case (10,000 jobs/s, 4 workers,
prefetch 16) gives the latency of an unsaturated hub. Memory store. Prints a table and one JSON
line. Baseline for the ratio: the hub's CPU budget of 5 us/job (the issue's target).
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request


def proc_cpu(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def start_hub(wshub, d):
    cfg = {'listen': {'address': '127.0.0.1', 'port': 0}, 'store': {'type': 'memory'},
           'queues': {'bench': {'max_length': 5000000}},
           'retention': {'result_ttl': 5, 'registry_cap': 1000},
           'limits': {'idle_timeout': 600, 'heartbeat': 30},
           'logging': {'level': 'warn'}}
    path = os.path.join(d, 'mesh.json')
    with open(path, 'w') as f:
        json.dump(cfg, f)
    p = subprocess.Popen([wshub, '--config', path, '--port', '0'], stderr=subprocess.PIPE,
                         text=True)
    line = ''
    deadline = time.time() + 10
    while time.time() < deadline:
        line = p.stderr.readline()
        m = re.search(r'listening on ws://127\.0\.0\.1:(\d+)/ws', line)
        if m:
            return p, int(m.group(1))
    p.kill()
    raise SystemExit('wshub did not start: ' + line)


def consumers(port):
    t = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=5).read().decode()
    m = re.search(r'^wsmesh_queue_consumers\{queue="bench"\} (\d+)$', t, re.M)
    return int(m.group(1)) if m else 0


def pct(sorted_vals, q):
    if not sorted_vals:
        return float('nan')
    i = min(len(sorted_vals) - 1, int(q * len(sorted_vals)))
    return sorted_vals[i]


def run_case(bench, hub, port, d, workers, prefetch, n, rate=0):
    url = 'ws://127.0.0.1:%d/ws' % port
    per = n // workers
    n = per * workers
    procs = []
    for i in range(workers):
        lat = os.path.join(d, 'lat-%d.bin' % i)
        procs.append((subprocess.Popen([bench, 'work', url, 'bench', str(per), str(prefetch), lat],
                                       stdout=subprocess.PIPE, text=True), lat))
    deadline = time.time() + 20
    while consumers(port) < workers:
        if time.time() > deadline:
            raise SystemExit('workers did not connect')
        time.sleep(0.02)
    cpu0 = proc_cpu(hub.pid)
    prod = subprocess.run([bench, 'produce', url, 'bench', str(n), str(rate)],
                          stdout=subprocess.PIPE, text=True, timeout=900)
    pj = json.loads(prod.stdout.strip().splitlines()[-1])
    last = 0
    lats = []
    client_cpu = pj['cpu_s']
    for p, lat in procs:
        out, _ = p.communicate(timeout=900)
        wj = json.loads(out.strip().splitlines()[-1])
        last = max(last, wj['last_us'])
        client_cpu += wj['cpu_s']
        with open(lat, 'rb') as f:
            b = f.read()
        lats.extend(int.from_bytes(b[k:k + 8], 'little', signed=True) for k in range(0, len(b), 8))
    cpu1 = proc_cpu(hub.pid)
    wall = (last - pj['start_us']) / 1e6
    lats.sort()
    return {'workers': workers, 'prefetch': prefetch, 'jobs': n, 'rate': rate,
            'failed': pj['failed'], 'wall_s': round(wall, 4),
            'jobs_per_s': round(n / wall) if wall > 0 else None,
            'p50_us': pct(lats, 0.50), 'p99_us': pct(lats, 0.99),
            'hub_cpu_us_per_job': round((cpu1 - cpu0) * 1e6 / n, 2),
            'clients_cpu_us_per_job': round(client_cpu * 1e6 / n, 2)}


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    bench, wshub = sys.argv[1], sys.argv[2]
    quick = '--quick' in sys.argv
    scale = 0.1 if quick else 1.0
    results = []
    with tempfile.TemporaryDirectory() as d:
        hub, port = start_hub(wshub, d)
        try:
            for w in (1, 4, 16):
                for pf in (1, 16, 128):
                    n = {1: 20000, 16: 100000, 128: 200000}[pf]
                    results.append(run_case(bench, hub, port, d, w, pf, int(n * scale)))
            results.append(run_case(bench, hub, port, d, 4, 16, int(20000 * scale), rate=10000))
        finally:
            hub.terminate()
            hub.wait(timeout=30)
    print('%-8s %-8s %-8s %-8s %-10s %-10s %-10s %-11s %-11s' %
          ('workers', 'prefetch', 'rate', 'jobs', 'jobs/s', 'p50 us', 'p99 us', 'hub us/job',
           'clients us/job'))
    for r in results:
        print('%-8d %-8d %-8s %-8d %-10s %-10s %-10s %-11s %-11s' %
              (r['workers'], r['prefetch'], r['rate'] or 'max', r['jobs'], r['jobs_per_s'],
               r['p50_us'], r['p99_us'], r['hub_cpu_us_per_job'], r['clients_cpu_us_per_job']))
    target = next((r for r in results if r['workers'] == 4 and r['prefetch'] == 128), None)
    summary = {'bench': 'hub', 'cases': results,
               'target_jobs_per_s': 100000, 'target_hub_us_per_job': 5.0}
    if target:
        summary['ratio_jobs_per_s_vs_target'] = round(target['jobs_per_s'] / 100000, 3)
        summary['ratio_hub_cpu_vs_budget'] = round(target['hub_cpu_us_per_job'] / 5.0, 3)
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
