// in-toto Statements (v1, and v0.1 which `cosign attest` still writes) as DSSE payloads: what
// they say, and whether they are about a given digest. In signing, not provenance: cosign v3's
// image signatures are statements too, and provenance builds on signing, never the reverse.
export const STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface Subject {
  name?: string;
  digest: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface Statement<P = unknown> {
  _type: string;
  subject: Subject[];
  predicateType: string;
  predicate: P;
}

/** An in-toto Statement v1 about OCI digests (`sha256:<hex>`), serialised once so its signature covers these bytes. */
export function buildStatement(subjects: { name?: string; digest: string }[], predicateType: string, predicate: unknown): Buffer {
  const statement: Statement = {
    _type: STATEMENT_V1,
    subject: subjects.map(({ name, digest }) => {
      const [algorithm, hex] = digest.split(':');
      return { ...(name !== undefined && { name }), digest: { [algorithm!]: hex! } };
    }),
    predicateType,
    predicate,
  };
  return Buffer.from(JSON.stringify(statement));
}

export function parseStatement(payloadType: string, payload: Buffer): { statement: Statement } | { error: string } {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return { error: `payload type is ${payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}` };
  let doc: Partial<Statement>;
  try {
    doc = JSON.parse(payload.toString('utf8')) as Partial<Statement>;
  } catch {
    return { error: 'payload is not JSON' };
  }
  if (doc._type !== STATEMENT_V1 && doc._type !== STATEMENT_V01) return { error: `not an in-toto statement (_type ${String(doc._type)})` };
  if (!Array.isArray(doc.subject) || typeof doc.predicateType !== 'string') return { error: 'statement has no subject or predicateType' };
  return { statement: doc as Statement };
}

/** Whether one of the statement's subjects is this digest (`sha256:<hex>`). */
export function statementCovers(statement: Statement, digest: string): boolean {
  const [algorithm, hex] = digest.split(':');
  return statement.subject.some((s) => s.digest?.[algorithm!]?.toLowerCase() === hex);
}
