/**
 * The timeouts contract: every timer in sluice (server, client SDK, load balancer, GCE lifecycle,
 * shutdown script, container stop) is derived from ONE value of this type, and `validate()` checks
 * that the layers fit together. The postmortem's three defenses only work if they nest:
 *
 *   heartbeats (seconds)  <  LB idle timeout (tens of seconds)
 *   drain window          <  RST deadline  <  LB connection draining  <=  the VM's shutdown path
 *
 * This module is plain data and functions: no Pulumi, no I/O, so the server, the client and the
 * Pulumi program all import it without cycles. Every field declares its unit in UNITS (the field
 * names say it too, but the rules read UNITS in ./units, never a name). The GKE rules live in ./gke,
 * the rule shapes in ./rule.
 *
 * This file is the contract's public face: import from here. Behind it, one file per role:
 *   ./types     the shape (Timeouts, LbKind, Violation, TimeoutsContractError)
 *   ./defaults  the default contract and the fixed GCP values it is checked against
 *   ./bounds    every derived bound, one function each
 *   ./rules     the rules and validate()
 *   ./resolve   defaults + overrides, merged and validated
 */
export * from './types';
export * from './defaults';
export * from './bounds';
export * from './rules';
export * from './resolve';
