import { Option } from "commander";
import { DEFAULT_DB } from "../defaults.ts";

/**
 * `--db` for commands that work on the main table: the flag, else $LANCE_E5_DB (what the Docker image and the
 * server set), else ./data/lancedb — so `ingest`, `search` and `serve` agree on where the data is.
 */
export function dbOption(description = "LanceDB database directory or URI"): Option {
  return new Option("--db <dir>", description).default(DEFAULT_DB).env("LANCE_E5_DB");
}
