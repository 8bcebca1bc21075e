/** The GCE lifecycle watcher (see watcher.ts); imported by app/server/main.ts when SLUICE_GCE_WATCHER=on. */
export { DRAIN_ACTIONS, DEFAULT_COMPUTE_URL, DEFAULT_METADATA_URL, LifecycleWatcher, endpointsFromEnv } from './watcher';
export type { DrainAction, LifecycleEvent, LifecycleWatcherOptions, WatcherHealth, WatcherLogger } from './watcher';
export { GceClient, GceHttpError, parseCreatedBy } from './gce';
export type { ListManagedInstancesResponse, ManagedInstance, MigRef } from './gce';
export { CURRENT_ACTIONS, classifyAction } from './actions';
export { failureOf, POLL_FAILURES, quotaRetryAt } from './failures';
export type { PollFailure } from './failures';
