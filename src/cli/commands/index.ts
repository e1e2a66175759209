import type { Command } from "commander";
import { registerEmbedderOptions } from "../embedder-options.ts";
import { registerBitext } from "./bitext.ts";
import { registerEmbed } from "./embed.ts";
import { registerEval } from "./eval.ts";
import { registerEvalReport } from "./eval-report.ts";
import { registerIngest } from "./ingest.ts";
import { registerPasskey } from "./passkey.ts";
import { registerSearch } from "./search.ts";
import { registerServe } from "./serve.ts";
import { registerSts } from "./sts.ts";
import { registerSynth } from "./synth.ts";
import { registerTuneFusion } from "./tune-fusion.ts";

/** Every subcommand module registers itself on the program. Add one line per command. */
export const commandModules: Array<(program: Command) => void> = [
  registerEmbed,
  registerEval,
  registerBitext,
  registerSts,
  registerEvalReport,
  registerSynth,
  registerIngest,
  registerPasskey,
  registerSearch,
  registerServe,
  registerTuneFusion,
  // Last: adds the --embedder-* flags to the embedding commands registered above.
  registerEmbedderOptions,
];
