// Progress of a pipeline run on stderr: one live line redrawn in place on a terminal, plain
// log lines otherwise (CI logs, pipes), as kubectl and Helm behave.
import { formatReference } from '../api/reference.ts';
import type { PipelineEvent } from '../pipeline/index.ts';
import type { WaitEvent } from '../registry/index.ts';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export interface Progress {
  onEvent(event: PipelineEvent): void;
  /** A registry (or one repository of it) is paused: say so, so a long wait is not mistaken for a hang. */
  onWait(event: WaitEvent): void;
  /** Clears the live line before the summary is printed. */
  finish(): void;
}

export function createProgress(stream: NodeJS.WritableStream, options: { quiet?: boolean } = {}): Progress {
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  let phase = '';
  let done = 0;
  let total = 0;
  let bytes = 0;
  let drawnAt = 0;
  let drawn = false;
  let waiting: { text: string; until: number } | undefined;
  const loggedWaitAt = new Map<string, number>();
  const started = performance.now();

  const draw = (force = false) => {
    const now = performance.now();
    if (!force && now - drawnAt < 100) return;
    drawnAt = now;
    const seconds = ((now - started) / 1000).toFixed(0);
    const edges = total > 0 ? `  ${done}/${total} edges` : '';
    if (waiting && now >= waiting.until) waiting = undefined;
    const wait = waiting ? `  ${waiting.text}` : '';
    stream.write(`\r\x1b[K${phase}${edges}  ${mb(bytes)}  ${seconds}s${wait}`);
    drawn = true;
  };
  const log = (line: string) => {
    if (options.quiet) return;
    if (tty && drawn) stream.write('\r\x1b[K');
    stream.write(`${line}\n`);
    if (tty) draw(true);
  };

  return {
    onWait(event) {
      if (options.quiet) return;
      const where = `${event.host}${event.repository ? `/${event.repository}` : ''}`;
      const why = event.reason === 'RateLimited' ? 'rate limited' : event.reason === 'ServerError' ? 'server errors' : 'connection failures';
      const text = `waiting ${event.seconds}s: ${where} ${why}${event.askedByRegistry ? ' (Retry-After)' : ''}`;
      if (tty) {
        waiting = { text, until: performance.now() + event.ms };
        draw(true);
        return;
      }
      // Plain logs: long pauses, and otherwise one line per host every half minute.
      const now = performance.now();
      if (event.seconds < 5 && now - (loggedWaitAt.get(event.host) ?? -Infinity) < 30_000) return;
      loggedWaitAt.set(event.host, now);
      log(text);
    },
    onEvent(event) {
      switch (event.type) {
        case 'phaseStarted':
          phase = event.phase;
          if (tty && !options.quiet) draw(true);
          break;
        case 'phaseFinished':
          log(`${event.phase.name.padEnd(10)} ${event.phase.result.toLowerCase()} in ${(event.phase.durationMs / 1000).toFixed(1)}s: ${event.phase.message}`);
          break;
        case 'planned':
          total = event.toPromote;
          break;
        case 'edgeFinished': {
          done = event.done;
          const { edge, state, detail } = event.edge;
          const ref = formatReference({ ...edge.dst, tag: edge.tags.join(',') || undefined, digest: edge.digest.slice(0, 19) });
          if (tty) {
            if (state !== 'promoted') log(`${state}: ${ref}: ${detail ?? ''}`);
            else if (!options.quiet) draw();
          } else {
            log(`${state} ${ref}${detail ? `: ${detail}` : ''}`);
          }
          break;
        }
        case 'bytes':
          bytes += event.bytes;
          if (tty && !options.quiet) draw();
          break;
      }
    },
    finish() {
      if (tty && drawn) stream.write('\r\x1b[K');
    },
  };
}
