#!/usr/bin/env python3
"""callgrind_per_job.py - instructions per small job in the service and the producer of libwsmesh.

Usage: callgrind_per_job.py BENCH_ADAPTER_EXE WSHUB_EXE [N_SMALL N_LARGE] [--args]

Starts a wshub (memory store) on loopback, then for N in (N_SMALL, N_LARGE) (default 2,000 and
22,000): fills queue `small` with N jobs without payload (args {"i":0}) by `bench-adapter
produce` under callgrind, then drains it with `bench-adapter serve` (no-op handler, prefetch
256) under callgrind. The marginal cost (Ir(N_LARGE) - Ir(N_SMALL)) / (N_LARGE - N_SMALL)
takes out start-up, connection set-up and exit. --args: the handler reads args.i (`serve ...
args`), so the job's args are parsed as well. Instruction counts do not depend on the load
of the machine, unlike wall-clock time. Prints a table and one JSON line.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_bench import start_hub  # noqa: E402


def callgrind_ir(cmd, out):
    subprocess.run(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out] + cmd,
                   check=True, capture_output=True, timeout=1200)
    with open(out) as f:
        for line in f:
            if line.startswith('totals:') or line.startswith('summary:'):
                return int(line.split()[1])
    raise SystemExit('no totals in ' + out)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, wshub = sys.argv[1], sys.argv[2]
    read_args = '--args' in sys.argv
    argv = [a for a in sys.argv if a != '--args']
    ns = (int(argv[3]), int(argv[4])) if len(argv) >= 5 else (2000, 22000)
    d = tempfile.mkdtemp(prefix='wsm-callgrind-')
    hub, url = start_hub(wshub, d)
    ir = {}
    try:
        for n in ns:
            p = callgrind_ir([exe, 'produce', url, 'small', str(n), '0'],
                             os.path.join(d, 'produce.%d' % n))
            s = callgrind_ir([exe, 'serve', url, 'small', str(n)] + (['args'] if read_args else []),
                             os.path.join(d, 'serve.%d' % n))
            ir[n] = (p, s)
    finally:
        hub.terminate()
        hub.wait(timeout=30)
    dn = ns[1] - ns[0]
    prod = (ir[ns[1]][0] - ir[ns[0]][0]) / dn
    serv = (ir[ns[1]][1] - ir[ns[0]][1]) / dn
    print('%-10s %16s' % ('side', 'instr/job'))
    print('%-10s %16.0f' % ('service', serv))
    print('%-10s %16.0f' % ('producer', prod))
    print(json.dumps({'bench': 'adapter_callgrind', 'n': list(ns), 'handler_reads_args': read_args, 'service_instr_per_job': serv,
                      'producer_instr_per_job': prod, 'callgrind_dir': d}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
