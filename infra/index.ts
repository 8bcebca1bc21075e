/**
 * Pulumi entry point (Pulumi.yaml `main: infra/index.ts`). The nodejs runtime requires this module
 * and, because the export is a function, calls it and uses what it returns as the stack outputs
 * (@pulumi/pulumi cmd/run: "If the exported value was itself a Function, then just execute it").
 * Exporting a function keeps module loading free of side effects, so `npm run plan` and the tests
 * can render the program several times under mocks.
 */
import { readStackConfig } from './config';
import type { GkeStackOutputs } from './gke';
import { sluiceStack, StackOutputs } from './program';

export = (): StackOutputs | GkeStackOutputs => sluiceStack(readStackConfig());
