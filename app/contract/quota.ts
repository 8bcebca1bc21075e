/**
 * What the lifecycle watchers cost in Compute API rate quota (issue 22 point 6). Every server VM
 * starts one listManagedInstances call per `gce.watcherPollIntervalMs` (one page: the group's
 * listManagedInstancesResults default, PAGELESS, returns every instance in one answer), and the
 * project's quota is shared with everything else that reads Compute (gcloud, the console, Pulumi,
 * the rollout gates): "When you use the gcloud CLI or the Google Cloud console, you are also making
 * requests to the API and these requests count towards your rate quota."
 *
 * The default figure: the Compute rate quota page (https://cloud.google.com/compute/api-quota, "Rate
 * quotas for global metrics") lists Read requests (*.get) and List requests (*.list) at "1500
 * requests/minute" per project. Which group the regional listManagedInstances method counts against
 * (and whether a regional group has its own figure) was not readable in the stored copy of the page:
 * sluice takes the 1,500/min per-project figure for the whole fleet, the conservative reading, and
 * `sluice:computeReadQuotaPerMin` overrides it for a project whose quota was raised.
 */
import type { Timeouts } from './timeouts';

/** Requests per minute per project (cloud.google.com/compute/api-quota, the default read/list figure). */
export const COMPUTE_READ_QUOTA_PER_MIN = 1_500;
/** The watchers may use at most this share of the quota; the rest is for operators, Pulumi and the gates. */
export const WATCHER_QUOTA_SHARE = 0.5;

/** listManagedInstances calls per minute of a fleet of `vms` servers. */
export function watcherCallsPerMinute(t: Timeouts, vms: number): number {
  return (vms * 60_000) / t.gce.watcherPollIntervalMs;
}

/** The fleet size at which the watchers alone reach `quotaPerMin` (125 VMs with the defaults). */
export function watcherFleetAtQuota(t: Timeouts, quotaPerMin: number = COMPUTE_READ_QUOTA_PER_MIN): number {
  return Math.floor((quotaPerMin * t.gce.watcherPollIntervalMs) / 60_000);
}

/** The largest fleet the stack accepts: the watchers' share of the quota. */
export function watcherFleetBudget(t: Timeouts, quotaPerMin: number = COMPUTE_READ_QUOTA_PER_MIN): number {
  return Math.floor(watcherFleetAtQuota(t, quotaPerMin) * WATCHER_QUOTA_SHARE);
}
