/**
 * Every `currentAction` a managed instance can show, and whether it means "this VM stops serving":
 * the watcher drains for exactly those. Each entry carries the Compute API's own sentence for it
 * (ManagedInstance.currentAction of instanceGroupManagers.listManagedInstances,
 * https://cloud.google.com/compute/docs/reference/rest/v1/instanceGroupManagers/listManagedInstances;
 * the same text is in the generated client references, e.g. Google.Cloud.Compute.V1
 * ManagedInstance.Types.CurrentAction). A drain is one-way (the server stays drained until the VM
 * goes, app/server/shutdown.ts), so an action that keeps the VM running must never start one.
 */

export interface ActionMeaning {
  /** True when the MIG is about to stop, restart, suspend, delete or detach this VM. */
  drains: boolean;
  /** The documentation sentence the verdict rests on. */
  doc: string;
}

/** The documented values (the enum, its "additional supported values" and the client libraries' wire constants). */
export const CURRENT_ACTIONS = {
  NONE: {
    drains: false,
    doc: 'NONE The instance is running, and the managed instance group does not have any scheduled actions for this instance.',
  },
  CREATING: {
    drains: false,
    doc: 'CREATING The managed instance group is creating this instance. If the group fails to create this instance, it will try again until it is successful.',
  },
  CREATING_WITHOUT_RETRIES: {
    drains: false,
    doc: 'CREATING_WITHOUT_RETRIES The managed instance group is attempting to create this instance only once.',
  },
  VERIFYING: {
    drains: false,
    doc: 'VERIFYING The managed instance group has created the instance and it is in the process of being verified.',
  },
  // The fix of issue 22 point 5: a refresh keeps the VM running, so it must not drain it.
  REFRESHING: {
    drains: false,
    doc: 'REFRESHING The managed instance group is applying configuration changes to the instance without stopping it. For example, the group can update the target pool list for an instance without stopping that instance.',
  },
  // Wire constants of the client libraries (Google.Cloud.Compute.V1 ComputeEnumConstants.ManagedInstance.CurrentAction
  // "Starting", "Resuming"); startInstances/resumeInstances: "You must separately verify the status of the STARTING action
  // with the listmanagedinstances method". A VM that is (re)starting is coming into service, not leaving it.
  STARTING: {
    drains: false,
    doc: 'startInstances: "Flags the specified instances in the managed instance group to be started." (status of the STARTING action)',
  },
  RESUMING: {
    drains: false,
    doc: 'resumeInstances: "Flags the specified instances in the managed instance group to be resumed." (status of the RESUMING action)',
  },
  RECREATING: { drains: true, doc: 'RECREATING The managed instance group is recreating this instance.' },
  DELETING: { drains: true, doc: 'DELETING The managed instance group is permanently deleting this instance.' },
  ABANDONING: {
    drains: true,
    doc: 'ABANDONING The managed instance group is abandoning this instance. The instance will be removed from the instance group and from any target pools that are associated with this group.',
  },
  // RESTART as an update action: "RESTART: Stop the instance and start it again." (InstanceGroupManagersApplyUpdatesRequest.minimalAction).
  RESTARTING: {
    drains: true,
    doc: 'RESTARTING The managed instance group is restarting the instance. (RESTART: "Stop the instance and start it again.")',
  },
  // "Additional supported values which may be not listed in the enum directly due to technical reasons: STOPPING SUSPENDING";
  // stopInstances: "Flags the specified instances in the managed instance group to be immediately stopped ... You must
  // separately verify the status of the STOPPING action with the listmanagedinstances method."
  STOPPING: {
    drains: true,
    doc: 'stopInstances: "Flags the specified instances in the managed instance group to be immediately stopped." (status of the STOPPING action)',
  },
  SUSPENDING: {
    drains: true,
    doc: 'suspendInstances: "Flags the specified instances in the managed instance group to be immediately suspended." (status of the SUSPENDING action)',
  },
} as const satisfies Record<string, ActionMeaning>;

export type CurrentAction = keyof typeof CURRENT_ACTIONS;
export type DrainAction = { [K in CurrentAction]: (typeof CURRENT_ACTIONS)[K]['drains'] extends true ? K : never }[CurrentAction];

/** currentAction values after which this VM stops serving (or is no longer in the group). */
export const DRAIN_ACTIONS = (Object.keys(CURRENT_ACTIONS) as CurrentAction[]).filter((a) => CURRENT_ACTIONS[a].drains) as DrainAction[];

/**
 * What the watcher does with a currentAction: 'drain', 'keep' (documented, VM stays), or 'unknown'
 * (not documented when this was written: logged loudly, not drained, because a wrong drain takes a
 * VM out of service for good; the shutdown script and SIGTERM still drain a VM that then stops).
 */
export function classifyAction(action: string): 'drain' | 'keep' | 'unknown' {
  if (!Object.hasOwn(CURRENT_ACTIONS, action)) return 'unknown';
  return CURRENT_ACTIONS[action as CurrentAction].drains ? 'drain' : 'keep';
}
