// Progress of a pipeline run on stderr: one live line redrawn in place on a terminal, plain
// log lines otherwise (CI logs, pipes), as kubectl and Helm behave.
//
// The line never freezes: a ticker redraws it while nothing else happens, and it says what is
// going on — requests made and retried (the registry client's counters), the host being waited
// on (a pause the registry asked for, or one after failures), and while copying the rate and an
// estimate of the time left. Without a terminal, a line every half minute says the same, so a
// long Plan in a CI log is not mistaken for a hang.
import { formatReference } from '../api/reference.ts';
import type { PipelineEvent } from '../pipeline/index.ts';
import type { WaitEvent } from '../registry/index.ts';

export interface Progress {
  onEvent(event: PipelineEvent): void;
  /** A registry (or one repository of it) is paused: say so, so a long wait is not mistaken for a hang. */
  onWait(event: WaitEvent): void;
  /** Stops the ticker and clears the live line before the summary is printed. */
  finish(): void;
}

/** What the registry client has done so far (its RegistryStats). */
export interface RequestCounters {
  count(): number;
  readonly retries: number;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** The run's registry client counters: requests and retries on the line. */
  stats?: RequestCounters;
  /** Redraw interval on a terminal (default 250 ms). */
  tickMs?: number;
  /** Interval of the status line without a terminal (default 30 s). */
  heartbeatMs?: number;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const count = (n: number) => n.toLocaleString('en-US');

/** 75 -> "1m15s", as kubectl prints durations. */
export function shortDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const waitReason = (e: WaitEvent) => (e.reason === 'RateLimited' ? 'rate limited' : e.reason === 'ServerError' ? 'server errors' : 'connection failures');

export function createProgress(stream: NodeJS.WritableStream, options: ProgressOptions = {}): Progress {
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  const quiet = options.quiet === true;
  const started = Date.now();
  let phase = '';
  let phaseStarted = started;
  let done = 0;
  let total = 0;
  let bytes = 0;
  let phaseBytes = 0;
  let drawnAt = 0;
  let drawn = false;
  let waiting: { event: WaitEvent; until: number } | undefined;
  let lastLogAt = started;
  const loggedWaitAt = new Map<string, number>();

  /** The state of the run in a few words, the same on a terminal and in a log. */
  const status = (now: number): string => {
    const parts = [phase || 'Starting'];
    const copying = phase === 'Promote';
    if (total > 0 && copying) parts.push(`${count(done)}/${count(total)} edges`);
    if (copying || bytes > 0) parts.push(mb(bytes));
    const phaseSeconds = (now - phaseStarted) / 1000;
    if (copying && phaseSeconds >= 1 && phaseBytes > 0) parts.push(`${mb(phaseBytes / phaseSeconds)}/s`);
    if (copying && done > 0 && done < total) parts.push(`ETA ${shortDuration((phaseSeconds / done) * (total - done))}`);
    if (options.stats) {
      parts.push(`${count(options.stats.count())} requests`);
      if (options.stats.retries > 0) parts.push(`${count(options.stats.retries)} retried`);
    }
    parts.push(shortDuration((now - started) / 1000));
    if (waiting && now >= waiting.until) waiting = undefined;
    if (waiting) {
      const e = waiting.event;
      parts.push(`waiting ${shortDuration((waiting.until - now) / 1000)} on ${e.host}${e.repository ? `/${e.repository}` : ''} (${waitReason(e)}${e.askedByRegistry ? ', Retry-After' : ''})`);
    }
    return parts.join('  ');
  };

  const draw = (force = false) => {
    if (!tty || quiet) return;
    const now = Date.now();
    if (!force && now - drawnAt < 100) return;
    drawnAt = now;
    // Cut to the terminal's width: a wrapped line cannot be redrawn in place.
    const columns = (stream as { columns?: number }).columns ?? 0;
    const line = status(now);
    stream.write(`\r\x1b[K${columns > 1 && line.length >= columns ? `${line.slice(0, columns - 2)}…` : line}`);
    drawn = true;
  };
  const log = (line: string) => {
    if (quiet) return;
    if (tty && drawn) stream.write('\r\x1b[K');
    stream.write(`${line}\n`);
    lastLogAt = Date.now();
    draw(true);
  };

  const ticker = quiet ? undefined : setInterval(() => {
    if (tty) {
      draw(true);
    } else if (Date.now() - lastLogAt >= (options.heartbeatMs ?? 30_000)) {
      log(status(Date.now()));
    }
  }, tty ? (options.tickMs ?? 250) : Math.min(options.heartbeatMs ?? 30_000, 5_000));
  // The ticker never keeps the process alive: the run's own work does.
  ticker?.unref();

  return {
    onWait(event) {
      if (quiet) return;
      const now = Date.now();
      const until = now + event.ms;
      if (!waiting || until >= waiting.until) waiting = { event, until };
      if (tty) {
        draw(true);
        return;
      }
      // Plain logs: long pauses, and otherwise one line per host every half minute.
      if (event.seconds < 5 && now - (loggedWaitAt.get(event.host) ?? -Infinity) < 30_000) return;
      loggedWaitAt.set(event.host, now);
      log(`waiting ${event.seconds}s: ${event.host}${event.repository ? `/${event.repository}` : ''} ${waitReason(event)}${event.askedByRegistry ? ' (Retry-After)' : ''}`);
    },
    onEvent(event) {
      switch (event.type) {
        case 'phaseStarted':
          phase = event.phase;
          phaseStarted = Date.now();
          phaseBytes = 0;
          draw(true);
          break;
        case 'phaseFinished':
          log(`${event.phase.name.padEnd(10)} ${event.phase.result.toLowerCase()} in ${(event.phase.durationMs / 1000).toFixed(1)}s: ${event.phase.message}`);
          break;
        case 'planned':
          total = event.toPromote;
          break;
        case 'edgeFinished': {
          done = event.done;
          if (event.total > 0) total = event.total;
          const { edge, state, detail } = event.edge;
          const ref = formatReference({ ...edge.dst, tag: edge.tags.join(',') || undefined, digest: edge.digest.slice(0, 19) });
          if (tty) {
            if (state !== 'promoted') log(`${state}: ${ref}: ${detail ?? ''}`);
            else draw();
          } else {
            log(`${state} ${ref}${detail ? `: ${detail}` : ''}`);
          }
          break;
        }
        case 'bytes':
          bytes += event.bytes;
          phaseBytes += event.bytes;
          draw();
          break;
        default:
          // Events a newer pipeline adds are not this display's business.
          break;
      }
    },
    finish() {
      if (ticker) clearInterval(ticker);
      if (tty && drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
