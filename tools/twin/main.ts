import { formatReport, runTwin } from "./replay";
import { twinUnavailable } from "./netns";
import { stackDirOf } from "./stack";

/**
 * `npm run twin -- <output folder>`: runs the twin on a synthesized tree and prints what it found.
 * Exit 0 when every probe and check holds, 1 when one does not, 2 when the twin cannot run here.
 */
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
  process.exit(1);
});
