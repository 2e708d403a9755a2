// The progress line (issue 17.10) with mocked time: it is redrawn while nothing happens, says
// how many requests were made and retried and which host is being waited on, and while copying
// shows the rate and the time left. The same on a real terminal: test/integration/promote-cli-tty.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgress, shortDuration } from '../../src/cli/progress.ts';
import type { EdgeOutcome, PipelineEvent } from '../../src/pipeline/index.ts';
import { mockTime } from '../support/timers.ts';

function terminal(tty: boolean) {
  const writes: string[] = [];
  return {
    stream: { isTTY: tty, columns: 300, write: (s: string) => { writes.push(s); return true; } } as unknown as NodeJS.WritableStream,
    writes,
    /** The live line as last drawn. */
    line: () => (writes.filter((w) => w.startsWith('\r\x1b[K') && w.length > 4).at(-1) ?? '').slice(4),
  };
}

const stats = { requests: 0, retries: 0, count() { return this.requests; } };

const edge = { dst: { host: 'prod.example', name: 'app' }, tags: ['v1'], digest: `sha256:${'a'.repeat(64)}` };
const finished = (done: number, total: number): PipelineEvent => ({ type: 'edgeFinished', done, total, edge: { edge, state: 'promoted' } as unknown as EdgeOutcome });

test('shortDuration prints durations as kubectl does', () => {
  assert.deepEqual([0, 9.6, 75, 3600, 5400].map(shortDuration), ['0s', '10s', '1m15s', '1h00m', '1h30m']);
});

test('on a terminal the line keeps moving during Plan: requests, retries, the host waited on', (t) => {
  mockTime(t);
  const term = terminal(true);
  stats.requests = 0;
  stats.retries = 0;
  const progress = createProgress(term.stream, { stats });
  progress.onEvent({ type: 'phaseStarted', phase: 'Plan' });
  assert.equal(term.line(), 'Plan  0 requests  0s');
  stats.requests = 40;
  t.mock.timers.tick(250);
  assert.equal(term.line(), 'Plan  40 requests  0s', 'redrawn by the ticker, with no event');
  stats.retries = 3;
  progress.onWait({ host: 'staging.example', ms: 12_000, seconds: 12, reason: 'RateLimited', askedByRegistry: true } as never);
  assert.equal(term.line(), 'Plan  40 requests  3 retried  0s  waiting 12s on staging.example (rate limited, Retry-After)');
  for (let i = 0; i < 20; i++) t.mock.timers.tick(250);
  assert.equal(term.line(), 'Plan  40 requests  3 retried  5s  waiting 7s on staging.example (rate limited, Retry-After)', 'the wait counts down');
  for (let i = 0; i < 40; i++) t.mock.timers.tick(250);
  assert.equal(term.line(), 'Plan  40 requests  3 retried  15s', 'the wait is over');
  const before = term.writes.length;
  progress.finish();
  assert.equal(term.writes.at(-1), '\r\x1b[K', 'the line is cleared for the summary');
  t.mock.timers.tick(10_000);
  assert.equal(term.writes.length, before + 1, 'nothing is drawn after finish');
});

test('during Promote the line shows edges, bytes, rate and the time left', (t) => {
  mockTime(t);
  const term = terminal(true);
  stats.requests = 100;
  stats.retries = 0;
  const progress = createProgress(term.stream, { stats });
  progress.onEvent({ type: 'planned', edges: 10, toPromote: 4 });
  progress.onEvent({ type: 'phaseStarted', phase: 'Promote' });
  t.mock.timers.tick(2000);
  progress.onEvent({ type: 'bytes', bytes: 8_000_000 });
  progress.onEvent(finished(1, 4));
  t.mock.timers.tick(250);
  // 1 edge in 2.25 s: 3 more take about 7 s; 8 MB in 2.25 s is 3.6 MB/s.
  assert.equal(term.line(), 'Promote  1/4 edges  8.0 MB  3.6 MB/s  ETA 7s  100 requests  2s');
  progress.onEvent(finished(4, 4));
  t.mock.timers.tick(250);
  assert.doesNotMatch(term.line(), /ETA/);
  progress.finish();
});

test('without a terminal a status line every half minute says the run is alive; quiet prints nothing', (t) => {
  mockTime(t);
  const log = terminal(false);
  stats.requests = 7;
  stats.retries = 2;
  const progress = createProgress(log.stream, { stats });
  progress.onEvent({ type: 'phaseStarted', phase: 'Plan' });
  t.mock.timers.tick(25_000);
  assert.deepEqual(log.writes, [], 'no line before half a minute of silence');
  t.mock.timers.tick(5_000);
  assert.deepEqual(log.writes, ['Plan  7 requests  2 retried  30s\n']);
  progress.onWait({ host: 'staging.example', ms: 20_000, seconds: 20, reason: 'ServerError', askedByRegistry: false } as never);
  assert.equal(log.writes.at(-1), 'waiting 20s: staging.example server errors\n');
  progress.finish();
  t.mock.timers.tick(120_000);
  assert.equal(log.writes.length, 2);

  const silent = terminal(true);
  const quiet = createProgress(silent.stream, { stats, quiet: true });
  quiet.onEvent({ type: 'phaseStarted', phase: 'Plan' });
  t.mock.timers.tick(60_000);
  quiet.finish();
  assert.deepEqual(silent.writes, []);
});
