// A worker process for the wshub integration tests, killed with SIGKILL mid-job by the tests.
// usage: node worker_proc.mjs URL QUEUE MODE [N]
//   hang         take one job, print {"job": id, "attempt": n}, never answer
//   half-reader  take one job, emit outputs "frames" seq 0..N/2-1 (key "rec"), waiting for each
//                ok, print {"emitted": N/2}, never answer
import { Client } from './hubutil.mjs';

const [url, queue, mode, nStr] = process.argv.slice(2);
const n = Number(nStr || 10);
const c = await Client.connect(url, { name: `proc-${mode}`, kind: 'worker' });
await c.ok({ op: 'consume', queues: [queue], prefetch: 1 });
const job = await c.next((m) => m.header.op === 'job', 30000);
if (mode === 'half-reader') {
  for (let seq = 0; seq < n / 2; seq++) {
    const r = await c.ok({ op: 'emit', job_id: job.header.job_id, output: 'frames', seq, key: 'rec', args: { seq } }, { payload: Buffer.from(`frame-${seq}`) });
    if (r.status !== 'queued') throw new Error(`emit ${seq}: ${r.status}`);
  }
  process.stdout.write(JSON.stringify({ emitted: n / 2, job: job.header.job_id }) + '\n');
} else {
  process.stdout.write(JSON.stringify({ job: job.header.job_id, attempt: job.header.attempt }) + '\n');
}
setInterval(() => {}, 1000);
