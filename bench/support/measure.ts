// Measuring child processes and the proxies in front of the registries: wall time and peak RSS
// from /usr/bin/time, requests from the fault proxies' logs.
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { tool } from '../../test/support/testbed.ts';

export interface Timed { code: number; wallS: number; rssKiB: number; stderr: string }

/**
 * Runs `command args` under `/usr/bin/time -f '%M %e'`, stdout to `stdoutFile`, asynchronously
 * (the proxies answering the child live in this process).
 */
export function timed(command: string, args: string[], stdoutFile: string, env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  const out = openSync(stdoutFile, 'w');
  return new Promise<Timed>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M %e', command, ...args], { stdio: ['ignore', out, 'pipe'], env });
    const chunks: Buffer[] = [];
    child.stderr?.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', (error) => { closeSync(out); reject(error); });
    child.once('close', (code) => {
      closeSync(out);
      const stderr = Buffer.concat(chunks).toString('utf8');
      const last = stderr.trimEnd().split('\n').at(-1) ?? '';
      const match = /^(\d+) ([\d.]+)$/.exec(last.trim());
      if (!match) return reject(new Error(`no /usr/bin/time line in the stderr of ${command} ${args.join(' ')}:\n${stderr.slice(-2000)}`));
      resolve({ code: code ?? -1, rssKiB: Number(match[1]), wallS: Number(match[2]), stderr: stderr.slice(0, stderr.length - last.length) });
    });
  });
}

export interface HostCounts { host: string; requests: number; admitted: number; throttled: number; writes: number; byMethod: Record<string, number> }

const writeMethods = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

/** Requests a fault proxy or a static registry logged (method; fault 'quota' for a 429 past the quota). */
export function countsOf(proxy: { host: string; requests: readonly { method: string; fault?: string }[] }): HostCounts {
  const c: HostCounts = { host: proxy.host, requests: 0, admitted: 0, throttled: 0, writes: 0, byMethod: {} };
  for (const r of proxy.requests) {
    c.requests += 1;
    c.byMethod[r.method] = (c.byMethod[r.method] ?? 0) + 1;
    if (r.fault === 'quota') c.throttled += 1;
    else {
      c.admitted += 1;
      if (writeMethods.has(r.method)) c.writes += 1;
    }
  }
  return c;
}

export interface Totals { requests: number; admitted: number; throttled: number; writes: number; byMethod: Record<string, number>; busiest: HostCounts | undefined }

export function total(hosts: HostCounts[]): Totals {
  const t: Totals = { requests: 0, admitted: 0, throttled: 0, writes: 0, byMethod: {}, busiest: undefined };
  for (const h of hosts) {
    t.requests += h.requests;
    t.admitted += h.admitted;
    t.throttled += h.throttled;
    t.writes += h.writes;
    for (const [m, n] of Object.entries(h.byMethod)) t.byMethod[m] = (t.byMethod[m] ?? 0) + n;
    if (!t.busiest || h.admitted > t.busiest.admitted) t.busiest = h;
  }
  return t;
}

export const methods = (byMethod: Record<string, number>) =>
  Object.entries(byMethod).sort(([a], [b]) => a.localeCompare(b)).map(([m, n]) => `${m} ${n}`).join(', ');

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Runs `tasks` with at most `limit` at once; resolves when all are done, rejects on the first failure. */
export async function limited<T>(items: T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The first line a tool prints of its version, for the machine facts a benchmark starts with. */
export async function toolVersion(name: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await promisify(execFile)(tool(name), args);
    return (stdout || stderr).trim().split('\n')[0] ?? '?';
  } catch (error) {
    return `unknown (${(error as Error).message.split('\n')[0]})`;
  }
}
