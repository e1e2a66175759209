import { Option } from "commander";
import {
  resolveStorageOptions,
  STORAGE_OPTIONS_ENV,
  StorageOptionError,
  type StorageOptions,
} from "../lancedb/storage-options.ts";
import { CliError } from "./errors.ts";

/** Commander's camelCase key for `--storage-option`: every command with `--db` carries it. */
export interface StorageOptionFlags {
  storageOption?: string[];
}

/**
 * `--storage-option key=value`, repeatable, for `--db s3://…` / `gs://…` / `az://…`. Collected raw: the pairs are
 * checked by storageOptionsOf so that bad syntax is a usage error (exit 2), not commander's exit 1.
 */
export function storageOptionFlag(): Option {
  return new Option(
    "--storage-option <key=value>",
    `object-store option for an s3:// gs:// az:// --db, repeatable (e.g. aws_endpoint=http://host:9000, ` +
      `allow_http=true, region=…); also $${STORAGE_OPTIONS_ENV}; credentials also from AWS_*/GOOGLE_*/AZURE_* env`,
  ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
}

/** The storage options of a command: $LANCE_E5_STORAGE_OPTIONS, then the flags. Bad syntax → CliError exit 2. */
export function storageOptionsOf(flags: StorageOptionFlags): StorageOptions {
  try {
    return resolveStorageOptions(flags.storageOption ?? []);
  } catch (error) {
    if (error instanceof StorageOptionError) throw new CliError(error.message, 2);
    throw error;
  }
}
