/**
 * Preload for the doc test (`NODE_OPTIONS=--require=<this file>`): a CLI built on commander parses
 * its arguments with its own definitions (unknown options, bad values and missing arguments fail as
 * they would for a user), then prints what it parsed as one JSON line and exits 0 instead of running.
 * Processes that never load commander (npm, sh, tsx's launcher) are untouched.
 */
'use strict';
const Module = require('node:module');

const load = Module._load;
let patched = false;
Module._load = function (request, ...rest) {
  const exported = load.call(this, request, ...rest);
  if (request === 'commander' && !patched) {
    patched = true;
    const C = exported.Command.prototype;
    const report = (cmd) => {
      process.stdout.write(`${JSON.stringify({ parseOnly: cmd.name(), opts: cmd.opts(), args: cmd.args })}\n`);
      process.exit(0);
    };
    const action = C.action;
    C.action = function () {
      return action.call(this, function () {
        report(this);
      });
    };
    const parse = C.parse;
    C.parse = function (...a) {
      parse.apply(this, a);
      report(this);
      return this;
    };
    const parseAsync = C.parseAsync;
    C.parseAsync = async function (...a) {
      await parseAsync.apply(this, a);
      report(this);
      return this;
    };
  }
  return exported;
};
