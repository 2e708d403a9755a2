// The registry client, usable on its own: `new RegistryClient(options)` for operations and
// `new ImageCopier(client)` for digest-preserving copies.
export { RegistryClient, type Manifest, type ManifestHead, type RegistryClientOptions, type RequestOptions, type TagList } from './client.ts';
export { Connections, type ConnectionOptions } from './connections.ts';
export { Inventory, type AttachmentMark, type InventoryOptions, type TagFact } from './inventory.ts';
export { loadInventory, saveInventory } from './inventory-file.ts';
export { ImageCopier, type CopyOptions, type CopyRequest, type CopyResult } from './copy.ts';
export { anonymous, parseDockerConfig, StaticCredentials, type Credential, type CredentialStore } from './credentials.ts';
export { DigestMismatchError, sha256 } from './digest.ts';
export { describeError, RegistryError, type RegistryErrorReason } from './errors.ts';
export { HostLimiter, Limiters, defaultRateLimit, type RateLimitOptions } from './limiter.ts';
export { isIndex, MediaType, parseManifest, type Descriptor } from './media-types.ts';
export { formatReference, parseReference, parseRepository, digestPattern, tagPattern, type Reference, type Repository } from '../api/reference.ts';
export { RegistryStats } from './stats.ts';
export { defaultRetry, defaultTimeouts, type RetryOptions, type Timeouts, type TransportOptions, type WaitEvent } from './transport.ts';
export { forEachLimit, forEachLimitBy } from './concurrency.ts';
