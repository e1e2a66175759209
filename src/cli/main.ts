import { Command, CommanderError } from "commander";
import { commandModules } from "./commands/index.ts";
import { CliError } from "./errors.ts";

/** Entry point of the `lance-e5` CLI: each subcommand lives in src/cli/commands/<name>.ts. */
const program = new Command()
  .name("lance-e5")
  .description("E5-mistral style instruction-tuned embeddings for LanceDB")
  .version("0.1.0")
  .exitOverride()
  .showHelpAfterError();

for (const register of commandModules) register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander has printed the problem (bad flag value, unknown option, missing argument); its exit code is 1
    // for all of them, but lance-e5's contract is 2 for usage errors. --help and --version keep their 0.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`lance-e5: ${message}\n`);
    if (process.env.LANCE_E5_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  }
}
