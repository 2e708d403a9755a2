// Status writes on the status subresource. Each write reads the object, computes the new status
// from what is stored now, and sends a merge patch that carries the resourceVersion it read: if
// anything changed the object meanwhile the API server answers 409 and the write starts over
// from a fresh read, so neither our update nor the other writer's is lost.
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi } from '@kubernetes/client-node';
import { group, names, version } from '../api/promotion-manifest.ts';
import type { Logger } from '../observability/logger.ts';
import type { Status } from './conditions.ts';
import { apiMessage, isConflict, isNotFound, type ObjectMeta } from './kube.ts';

export interface StoredManifest {
  metadata: ObjectMeta;
  spec?: unknown;
  status?: Status;
}

export interface StatusHooks {
  /** Called between the read and the patch of every attempt; tests use it to race a writer. */
  beforeStatusPatch?(namespace: string, name: string, attempt: number, status: Status): Promise<void> | void;
}

export interface StatusWriteResult {
  written: boolean;
  conflicts: number;
  status?: Status;
  /** The object's resourceVersion after the write, or as compute saw it when nothing was written. */
  resourceVersion?: string;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * The merge patch (RFC 7386) that turns the stored status into `next`. A merge patch leaves
 * absent fields alone, at every depth: a field the new status drops (the progress record of a
 * finished run, `lastPromoted.interrupted` after a clean run, an inventory no longer known) is
 * sent as null, which removes it; so is a field set to undefined. Arrays are replaced whole.
 */
export function withRemovals(stored: Status | undefined, next: Status): Record<string, unknown> {
  return mergePatchOf(stored, next) as Record<string, unknown>;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function mergePatchOf(stored: unknown, next: unknown): unknown {
  if (!isObject(next)) return next;
  const patch: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(next)) {
    if (value === undefined) continue;
    patch[key] = isObject(stored) && isObject(stored[key]) ? mergePatchOf(stored[key], value) : value;
  }
  if (isObject(stored)) for (const key of Object.keys(stored)) if (next[key] === undefined) patch[key] = null;
  return patch;
}

export class StatusWriter {
  readonly #custom: CustomObjectsApi;
  readonly #logger: Logger;
  readonly #hooks: StatusHooks;
  readonly #maxAttempts: number;

  constructor(custom: CustomObjectsApi, logger: Logger, hooks: StatusHooks = {}, maxAttempts = 8) {
    this.#custom = custom;
    this.#logger = logger;
    this.#hooks = hooks;
    this.#maxAttempts = maxAttempts;
  }

  /**
   * Writes compute(stored) as the status. compute returns undefined to write nothing (e.g. the
   * object was replaced by another with a different uid, or nothing changed). A deleted object is
   * not an error. `cached`, the object as the watch cache has it, stands in for the first read
   * (as controller-runtime reads from its cache): the patch carries its resourceVersion, so a
   * stale copy costs a 409 and a fresh read, never a lost write.
   */
  async update(namespace: string, name: string, compute: (stored: StoredManifest) => Status | undefined, cached?: StoredManifest): Promise<StatusWriteResult> {
    let conflicts = 0;
    for (let attempt = 1; ; attempt++) {
      let stored: StoredManifest;
      try {
        stored = attempt === 1 && cached ? cached : (await this.#custom.getNamespacedCustomObjectStatus({ group, version, plural: names.plural, namespace, name })) as StoredManifest;
      } catch (error) {
        if (isNotFound(error)) return { written: false, conflicts };
        throw error;
      }
      const status = compute(stored);
      if (!status) return { written: false, conflicts, ...(stored.metadata.resourceVersion && { resourceVersion: stored.metadata.resourceVersion }) };
      await this.#hooks.beforeStatusPatch?.(namespace, name, attempt, status);
      try {
        const written = await this.#custom.patchNamespacedCustomObjectStatus({
          group, version, plural: names.plural, namespace, name,
          body: { metadata: { resourceVersion: stored.metadata.resourceVersion }, status: withRemovals(stored.status, status) },
        }, mergePatch) as Partial<StoredManifest> | undefined;
        if (conflicts > 0) this.#logger.debug({ namespace, name, conflicts }, 'status written after conflicts');
        const resourceVersion = written?.metadata?.resourceVersion;
        return { written: true, conflicts, status, ...(resourceVersion && { resourceVersion }) };
      } catch (error) {
        if (isNotFound(error)) return { written: false, conflicts };
        if (!isConflict(error) || attempt >= this.#maxAttempts) throw error;
        conflicts += 1;
        this.#logger.debug({ namespace, name, attempt, err: apiMessage(error) }, 'status write conflicted; re-reading');
      }
    }
  }
}
