// A "process" for jobs.test.ts: runs kind 'proc' jobs from a SQLite file until none is left,
// appending "<job id> <pid>" to a file for each execution. Usage: jobs.fixture.ts <db> <out>
import { appendFileSync } from 'node:fs';
import { openMetadata } from '../metadata/open.ts';
import { Jobs } from './service.ts';

const [db, out] = process.argv.slice(2);
const store = await openMetadata(`sqlite:${db}`);
const jobs = new Jobs(store, { pollMs: 10, concurrency: 3, flushMs: 50, stopPollMs: 50, renewMs: 200, leaseMs: 5000 });
jobs.register({
  kind: 'proc',
  async run(ctx) {
    appendFileSync(out, `${ctx.job.id} ${process.pid}\n`);
    await new Promise((r) => setTimeout(r, 2 + Math.random() * 5));
    return { pid: process.pid };
  },
});
jobs.start();
for (;;) {
  await new Promise((r) => setTimeout(r, 100));
  const pending = await jobs.list({ kind: 'proc', status: 'pending', offset: 0, limit: 1 });
  const running = await jobs.list({ kind: 'proc', status: 'running', offset: 0, limit: 1 });
  if (pending.total === 0 && running.total === 0) break;
}
await jobs.close();
await store.close();
