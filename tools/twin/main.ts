import { formatReport, runTwin } from "./replay";
import { twinUnavailable } from "./netns";
import { stackDirOf, TwinReadError } from "./stack";

/**
 * `npm run twin -- <output folder>`: runs the twin on a synthesized tree and prints what it found.
 * Exit 0 when every probe and check holds, 1 when one does not, 2 when the twin cannot run here or
 * cannot read the tree. A hang-up, interrupt or termination tears the lab down before exiting
 * (the namespaces' `exit` handler); a run killed outright is cleaned up by the next one.
 */
const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
for (const [sig, n] of Object.entries(SIGNALS)) process.on(sig, () => process.exit(128 + n));

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const verbose = args.includes("--verbose");
  const out = args.find((a) => !a.startsWith("--")) ?? "cdktf.out";
  const why = twinUnavailable();
  if (why) {
    process.stderr.write(`twin: ${why}\n`);
    process.exit(2);
  }
  const report = await runTwin(stackDirOf(out), { log: verbose ? (l) => process.stderr.write(`${l}\n`) : undefined });
  process.stdout.write(`${formatReport(report)}\n`);
  process.exit(report.ok ? 0 : 1);
}

main().catch((e: Error) => {
  process.stderr.write(`twin: ${e.message}\n`);
  process.exit(e instanceof TwinReadError ? 2 : 1);
});
