#!/usr/bin/env node
// Signals and closed output are handled from the very first line (a Ctrl-C during start-up ends fap
// cleanly); the commands load after.
import { finalExitCode, installInterrupts } from '../dist/src/cli/interrupt.js';

installInterrupts();
const { main } = await import('../dist/src/cli/main.js');
const code = await main(process.argv);
process.exitCode = finalExitCode(code);
