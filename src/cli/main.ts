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
    process.exitCode = error.exitCode;
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`lance-e5: ${message}\n`);
    if (process.env.LANCE_E5_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  }
}
