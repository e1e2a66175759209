import type { Command } from "commander";

/** Every subcommand module registers itself on the program. Add one line per command. */
export const commandModules: Array<(program: Command) => void> = [];
