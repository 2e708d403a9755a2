// What the reconciler remembers of each manifest's last run: in memory only, so a restarted
// controller runs everything once. It decides when the next run is due, which Secrets wake a
// manifest, and feeds the hoist_manifests gauge.

export type ManifestCondition = 'Ready' | 'Stalled' | 'Reconciling';

export interface RunRecord {
  uid: string | undefined;
  generation: number;
  requestedAt: string | undefined;
  /** Epoch ms; Infinity: only a change (spec, Secret, requestedAt) starts the next run. */
  nextRunAt: number;
  /** A Secret it uses changed since. */
  stale: boolean;
  /** Secrets the spec names, for the Secret watch's index. */
  secrets: readonly string[];
  condition: ManifestCondition;
  /** startedAt of this process's last run of the key: its own progress record is not an interrupted run's. */
  lastRun?: string;
  /** resourceVersion of the object after this process last wrote (or found current) its status. */
  statusVersion?: string;
  /** Suspended: the generation and pending requestedAt already acknowledged on the status. */
  suspended?: { generation: number; requestedAt: string | undefined };
}

/** Why a run starts now. */
export type Trigger = 'first' | 'spec' | 'requestedAt' | 'secret' | 'interval';

interface Watched {
  metadata: { uid?: string | undefined; generation?: number | undefined; annotations?: Record<string, string> | undefined };
  status?: { lastHandledReconcileAt?: string | undefined } | undefined;
}

/**
 * The one "due" rule of both kinds: a run is due when the object is new to this process, its
 * spec changed, a requestedAt annotation is not yet handled, a Secret it uses changed, or the
 * interval passed; otherwise `waitMs` says how long until it is.
 */
export function triggerOf(memory: RunRecord | undefined, obj: Watched, requestedAtKey: string, now: number): { trigger: Trigger; onDemand: boolean } | { waitMs: number } {
  const requestedAt = obj.metadata.annotations?.[requestedAtKey];
  const handled = memory ? memory.requestedAt : obj.status?.lastHandledReconcileAt;
  const onDemand = requestedAt !== undefined && requestedAt !== handled;
  const trigger = !memory ? 'first' : memory.uid !== obj.metadata.uid || memory.generation !== (obj.metadata.generation ?? 0) ? 'spec'
    : onDemand ? 'requestedAt' : memory.stale ? 'secret' : now >= memory.nextRunAt ? 'interval' : undefined;
  return trigger ? { trigger, onDemand } : { waitMs: memory!.nextRunAt - now };
}

/** The requestedAt annotation's value when the status does not yet say it was handled. */
export function pendingRequest(obj: Watched, requestedAtKey: string): string | undefined {
  const requestedAt = obj.metadata.annotations?.[requestedAtKey];
  return requestedAt !== undefined && requestedAt !== obj.status?.lastHandledReconcileAt ? requestedAt : undefined;
}

/**
 * What a suspended key is remembered as: the generation and pending request acknowledged (so the
 * next event with the same ones does nothing), the interval forgotten (resuming changes the
 * generation, which makes a run due at once).
 */
export function suspendedRecord(memory: RunRecord | undefined, uid: string | undefined, generation: number, pending: string | undefined): RunRecord {
  return { ...(memory ?? { uid, generation, requestedAt: undefined, nextRunAt: Number.POSITIVE_INFINITY, stale: false, secrets: [], condition: 'Ready' }), suspended: { generation, requestedAt: pending } };
}

/** Whether this suspension was already acknowledged on the status. */
export const suspensionKnown = (memory: RunRecord | undefined, generation: number, pending: string | undefined): boolean =>
  memory?.suspended?.generation === generation && memory.suspended.requestedAt === pending;

/** The Normal Event a suspended key records once. */
export const suspendedMessage = (pending: string | undefined): string => (pending
  ? `reconcile requested at ${pending} is kept until spec.suspend is false; nothing runs while suspended`
  : 'spec.suspend is true: nothing runs until it is false; Ready keeps the last run\'s result');

export class RunMemory {
  readonly #records = new Map<string, RunRecord>();
  readonly #onCounts: (counts: Record<ManifestCondition, number>) => void;

  /** `onCounts` receives how many manifests are Ready, Stalled and Reconciling after each change. */
  constructor(onCounts: (counts: Record<ManifestCondition, number>) => void = () => {}) {
    this.#onCounts = onCounts;
  }

  get(key: string): RunRecord | undefined {
    return this.#records.get(key);
  }

  set(key: string, record: RunRecord): void {
    this.#records.set(key, record);
    this.#count();
  }

  forget(key: string): void {
    if (this.#records.delete(key)) this.#count();
  }

  /** A Secret the manifest uses changed: its next reconcile runs even if not yet due. */
  markStale(key: string): void {
    const record = this.#records.get(key);
    if (record) record.stale = true;
  }

  /** The next reconcile runs whatever the interval (after an API error mid-run). */
  dueNow(key: string): void {
    const record = this.#records.get(key);
    if (record) record.nextRunAt = 0;
  }

  /** Keys (namespace/name) of manifests in `namespace` that name Secret `name`. */
  usersOfSecret(namespace: string, name: string): string[] {
    const keys: string[] = [];
    for (const [key, record] of this.#records) {
      if (key.slice(0, key.indexOf('/')) === namespace && record.secrets.includes(name)) keys.push(key);
    }
    return keys;
  }

  #count(): void {
    const counts = { Ready: 0, Stalled: 0, Reconciling: 0 };
    for (const record of this.#records.values()) counts[record.condition] += 1;
    this.#onCounts(counts);
  }
}
