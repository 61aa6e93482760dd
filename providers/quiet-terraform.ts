import { existsSync } from "node:fs";

// @cdktf/commons runs `terraform version` when it is loaded; a missing CLI config file makes terraform
// print a warning. Import this module before anything that loads @cdktf/*.
const cliConfig = process.env.TF_CLI_CONFIG_FILE;
if (!cliConfig || !existsSync(cliConfig)) process.env.TF_CLI_CONFIG_FILE = "/dev/null";
export {};
