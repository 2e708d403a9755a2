// Formats shared by the PromotionManifest schema, the CRD and the kpromo manifest reader, so a
// manifest that passes `hoist validate` is one the API server accepts, and the reverse.
// Written for both ECMAScript and RE2 (the API server's `pattern` and CEL `matches`).

/** An image digest as kpromo writes it: sha256 only, lowercase hex. */
export const DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$';

/** An OCI tag, as the distribution spec defines it. */
export const TAG_PATTERN = '^\\w[\\w.-]{0,127}$';

/** A TCP port, 1-65535, without leading zeros. */
const PORT = '([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';

/** A registry host (with optional port 1-65535) and optional path prefix, e.g. `gcr.io/k8s-staging-bom`. */
export const REGISTRY_NAME_PATTERN =
  `^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:${PORT})?(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$`;

/** A repository path below a registry, e.g. `bom` or `sig-storage/csi-attacher`. */
export const IMAGE_NAME_PATTERN = '^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$';

/** A Go duration as Flux and controller-runtime accept it, e.g. `10m`, `1h30m`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';

/** A metav1.Condition reason. */
export const CONDITION_REASON_PATTERN = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';

export const digestRegExp = new RegExp(DIGEST_PATTERN);
export const tagRegExp = new RegExp(TAG_PATTERN);
export const registryNameRegExp = new RegExp(REGISTRY_NAME_PATTERN);
export const imageNameRegExp = new RegExp(IMAGE_NAME_PATTERN);
