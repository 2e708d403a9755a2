// The in-toto statement model lives in signing (image signatures are statements too); provenance
// re-exports it so its callers keep one place to import statements from.
export * from '../signing/in-toto.ts';
